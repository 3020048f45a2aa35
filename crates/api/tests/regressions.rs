//! Replays the fuzz regression inputs of the `recognize` and `preprocess` targets
//! (`fixtures/regressions/{recognize,preprocess}/`) without the fuzzer: every input that
//! ever crashed, hung or blew the memory limit, plus a few interesting corpus entries.
//! Each must finish with `Ok` or a documented `Err`, never a panic. See docs/robustness.md.

mod cases;

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use wenzi::{Engine, Limits};

fn inputs(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/regressions")
        .join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file() && p.extension().is_none_or(|x| x != "md"))
        .collect();
    files.sort();
    assert!(
        !files.is_empty(),
        "no regression inputs in {}",
        dir.display()
    );
    files
        .into_iter()
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap();
            (p, bytes)
        })
        .collect()
}

/// The engine of the `recognize` fuzz target (keep in sync with fuzz/fuzz_targets/recognize.rs).
fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        Engine::builder()
            .classify_orientation(false)
            .threads(Some(1))
            .limits(Limits {
                max_pixels: 2_000_000,
                max_lines: 200,
            })
            .build()
            .expect("engine")
    })
}

#[test]
fn recognize_regressions_never_panic() {
    for (path, bytes) in inputs("recognize") {
        let t = Instant::now();
        let result = engine().recognize(&bytes);
        let name = path.file_name().unwrap().to_string_lossy();
        // Errors must render (no panicking Display) and be one of the documented kinds.
        if let Err(e) = &result {
            assert!(!e.to_string().is_empty(), "{name}");
        }
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "{name} took {:?}",
            t.elapsed()
        );
    }
}

#[test]
fn preprocess_regressions_never_panic() {
    for (_path, bytes) in inputs("preprocess") {
        cases::preprocess::run(&bytes);
    }
}
