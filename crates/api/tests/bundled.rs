//! Built in the repository, the default features embed the models: `build.rs` finds them in
//! `models/` (a crate from crates.io has none and loads them with `model_dir`).

#[test]
#[cfg(all(feature = "bundled-v4", feature = "bundled-v6"))]
fn repository_build_embeds_both_model_sets() {
    if std::env::var_os("WENZI_MODELS_DIR").is_some() {
        return; // built from a folder given at build time: not the repository's layout
    }
    assert_eq!(wenzi::ModelSource::default(), wenzi::ModelSource::Bundled);
    for set in [wenzi::ModelSet::V4, wenzi::ModelSet::V6] {
        // No folder named: the engine can only come from the embedded copies.
        let engine = wenzi::Engine::builder().models(set).build();
        assert!(engine.is_ok(), "{set:?}: {:?}", engine.err());
    }
}
