//! Arbitrary bytes into the ONNX loader, and a run of whatever loads. Must fail cleanly or
//! succeed; never panic, hang or allocate without bound. The case itself lives with its
//! regression replay.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../crates/nn/tests/cases/model_load.rs"]
mod case;

fuzz_target!(|data: &[u8]| case::run(data));
