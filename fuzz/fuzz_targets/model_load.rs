//! Arbitrary bytes into the ONNX loader. Loading must fail cleanly or succeed; never panic,
//! hang or allocate without bound.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = wenzi_nn::Model::load(data);
});
