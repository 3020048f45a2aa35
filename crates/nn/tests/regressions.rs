//! Replays the `model_load` fuzz regression inputs (`fixtures/regressions/model_load/`)
//! without the fuzzer: every input that ever crashed, hung or blew the memory limit, plus
//! a few interesting corpus entries. Loading must return `Ok` or `Err`, never panic.

mod common;

#[path = "cases/model_load.rs"]
mod case;

use std::path::PathBuf;
use std::time::{Duration, Instant};

fn inputs() -> Vec<(String, Vec<u8>)> {
    let dir = common::repo_root().join("fixtures/regressions/model_load");
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
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&p).unwrap())
        })
        .collect()
}

#[test]
fn model_load_regressions_never_panic() {
    for (name, bytes) in inputs() {
        let t = Instant::now();
        if let Err(e) = wenzi_nn::Model::load(&bytes) {
            assert!(!e.to_string().is_empty(), "{name}");
        }
        // the fuzz target's full case: load, and run what loads
        case::run(&bytes);
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
