//! Finds the model files the `bundled-*` features embed.
//!
//! In the repository they are in `models/` at the workspace root; a crate built from crates.io
//! has no models (they are too large for it), so it looks in `WENZI_MODELS_DIR` if set. When a
//! feature's files are found, `cfg(wenzi_bundled_v4)` / `cfg(wenzi_bundled_v6)` turn on and
//! `WENZI_BUNDLED_MODELS_DIR` names the folder for `include_bytes!`; when they are not, the
//! build goes on without them (with a warning) and engines load models with
//! `EngineBuilder::model_dir`.

use std::path::PathBuf;

const V4: &[&str] = &[
    "ch_PP-OCRv4_det_infer.onnx",
    "ch_PP-OCRv4_rec_infer.onnx",
    "ch_ppocr_mobile_v2.0_cls_infer.onnx",
];
const V6: &[&str] = &[
    "PP-OCRv6_det_small.onnx",
    "PP-OCRv6_rec_small.onnx",
    "ch_ppocr_mobile_v2.0_cls_infer.onnx",
];

fn main() {
    println!("cargo::rustc-check-cfg=cfg(wenzi_bundled_v4)");
    println!("cargo::rustc-check-cfg=cfg(wenzi_bundled_v6)");
    println!("cargo::rerun-if-env-changed=WENZI_MODELS_DIR");
    println!("cargo::rerun-if-changed=build.rs");

    let dir = match std::env::var_os("WENZI_MODELS_DIR") {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap()).join("../../models"),
    };
    let wanted = [
        (
            "v4",
            std::env::var_os("CARGO_FEATURE_BUNDLED_V4").is_some(),
            V4,
        ),
        (
            "v6",
            std::env::var_os("CARGO_FEATURE_BUNDLED_V6").is_some(),
            V6,
        ),
    ];
    let mut any = false;
    for (set, enabled, files) in wanted {
        if !enabled {
            continue;
        }
        let missing: Vec<&str> = files
            .iter()
            .copied()
            .filter(|f| !dir.join(f).is_file())
            .collect();
        for f in files {
            println!("cargo::rerun-if-changed={}", dir.join(f).display());
        }
        if missing.is_empty() {
            println!("cargo::rustc-cfg=wenzi_bundled_{set}");
            any = true;
        } else {
            println!(
                "cargo::warning=wenzi: feature bundled-{set} is on but {} missing from {}: the \
                 {set} models are not embedded; set WENZI_MODELS_DIR to a folder holding them, \
                 or load them at run time with EngineBuilder::model_dir",
                missing.join(", "),
                dir.display()
            );
        }
    }
    if any {
        let abs = dir.canonicalize().unwrap_or(dir);
        println!(
            "cargo::rustc-env=WENZI_BUNDLED_MODELS_DIR={}",
            abs.display()
        );
    }
}
