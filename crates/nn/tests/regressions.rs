//! Replays the `model_load` fuzz regression inputs (`fixtures/regressions/model_load/`)
//! without the fuzzer: every input that ever crashed, hung or blew the memory limit, plus
//! a few interesting corpus entries. Loading must return `Ok` or `Err`, never panic.

mod common;

#[path = "cases/model_load.rs"]
mod case;

#[path = "../../../fixtures/regressions/inputs.rs"]
mod inputs;

use std::time::{Duration, Instant};

#[test]
fn model_load_regressions_never_panic() {
    for (name, bytes) in inputs::regression_inputs("model_load") {
        let t = Instant::now();
        case::run(&bytes); // load, and run what loads

        assert!(
            t.elapsed() < Duration::from_secs(10),
            "{name} took {:?}",
            t.elapsed()
        );
    }
}

/// Fuzz finding (model_load, 193 bytes): a `Div` node with a single input inside a
/// layer-norm-like pattern made the optimizer index its missing second input. Node arity
/// is now checked when parsing, so the model is refused with an error.
#[test]
fn div_with_one_input_is_an_error_not_a_panic() {
    let path = common::repo_root()
        .join("fixtures/regressions/model_load/crash-fuse-layer-norm-div-1-input");
    let err = wenzi_nn::Model::load(&std::fs::read(path).unwrap()).unwrap_err();
    assert!(err.to_string().contains("needs 2 inputs"), "{err}");
}

/// Fuzz finding (model_load, 229 bytes, long run of 2026-11-26): an initializer with a zero
/// dimension next to dimensions whose product overflows `usize` holds zero elements, so it
/// passed the element cap, and ndarray then refused the shape with a panic. The cap now
/// bounds the product of the nonzero dimensions too.
#[test]
fn zero_size_initializer_with_overflowing_dims_is_an_error_not_a_panic() {
    let path = common::repo_root()
        .join("fixtures/regressions/model_load/crash-zero-size-initializer-overflowing-dims");
    let err = wenzi_nn::Model::load(&std::fs::read(path).unwrap()).unwrap_err();
    assert!(err.to_string().contains("elements"), "{err}");
}

/// Fuzz finding (model_load, 20-minute fork run of 2026-11-26): a Conv whose `group`
/// attribute was mutated to 171,966,463 made the loader build one packed weight operand
/// per group (> 2 GB) before checking the group against the weights. Packing now refuses
/// a group that does not divide the channels.
#[test]
fn conv_with_an_absurd_group_is_an_error_not_an_allocation() {
    let path = common::repo_root().join("fixtures/regressions/model_load/oom-conv-group-171966463");
    let err = wenzi_nn::Model::load(&std::fs::read(path).unwrap()).unwrap_err();
    assert!(err.to_string().contains("group 171966463"), "{err}");
}
