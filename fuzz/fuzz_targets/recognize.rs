//! Arbitrary bytes as an encoded image into a full `Engine` (DB detector, small limits). The
//! case itself lives with its regression replay.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../crates/api/tests/cases/recognize.rs"]
mod case;

fuzz_target!(|data: &[u8]| case::run(data));
