//! The `recognize` fuzz case: shared by `fuzz/fuzz_targets/recognize.rs` and the regression
//! replay in `crates/api/tests/regressions.rs`, so both use exactly the same engine.
//!
//! Input: any bytes, as an encoded image, into a full `Engine` (DB detector, no orientation
//! model, 1 thread, small limits). It must return `Ok` or an `Err` that renders.

use std::sync::OnceLock;

use wenzi::{Engine, Limits};

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

pub fn run(data: &[u8]) {
    // Errors are fine (their Display must not panic and must say something); panics, hangs
    // and OOMs are not.
    if let Err(e) = engine().recognize(data) {
        assert!(!e.to_string().is_empty());
    }
}
