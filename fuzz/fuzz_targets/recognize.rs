//! Arbitrary bytes as an encoded image into a full `Engine` (DB detector, small limits).
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
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

fuzz_target!(|data: &[u8]| {
    // Errors are fine; panics, hangs and OOMs are not.
    let _ = engine().recognize(data);
});
