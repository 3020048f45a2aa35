//! Fuzz cases shared with `fuzz/fuzz_targets/` (included there with `#[path]`).
pub mod preprocess;
pub mod recognize;
