//! Replays the fuzz regression inputs of the `recognize` and `preprocess` targets
//! (`fixtures/regressions/{recognize,preprocess}/`) without the fuzzer: every input that
//! ever crashed, hung or blew the memory limit, plus a few interesting corpus entries.
//! Each must finish with `Ok` or a documented `Err`, never a panic. See docs/robustness.md.

mod cases;

#[path = "../../../fixtures/regressions/inputs.rs"]
mod inputs;

use std::time::{Duration, Instant};

use inputs::regression_inputs;

#[test]
fn recognize_regressions_never_panic() {
    for (name, bytes) in regression_inputs("recognize") {
        let t = Instant::now();
        cases::recognize::run(&bytes);
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "{name} took {:?}",
            t.elapsed()
        );
    }
}

#[test]
fn preprocess_regressions_never_panic() {
    for (_name, bytes) in regression_inputs("preprocess") {
        cases::preprocess::run(&bytes);
    }
}
