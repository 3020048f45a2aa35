//! Arbitrary small grayscale images through binarization, deskew, classic detection,
//! reading-order sorting and cropping. The case itself lives with its regression replay.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../crates/api/tests/cases/preprocess.rs"]
mod case;

fuzz_target!(|data: &[u8]| case::run(data));
