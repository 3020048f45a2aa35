//! The `model_load` fuzz case: shared by `fuzz/fuzz_targets/model_load.rs` and the
//! regression replay in `crates/nn/tests/regressions.rs`, so both run exactly the same code.
//!
//! The input is an ONNX file. Loading must return `Ok` or `Err`. A model that loads is also
//! run once on a small input built from its declared input shapes (dynamic dimensions = 3,
//! each dimension capped at 64, at most 65,536 elements per input): a corrupt file that
//! loads must fail at run time with an error too, never panic.

use ndarray::{ArrayD, IxDyn};

const DYNAMIC_DIM: usize = 3;
const MAX_DIM: usize = 64;
const MAX_INPUT_ELEMENTS: usize = 1 << 16;

pub fn run(data: &[u8]) {
    let model = match wenzi_nn::Model::load(data) {
        Ok(model) => model,
        Err(e) => {
            // Refusals are fine; their Display must not panic and must say something.
            assert!(!e.to_string().is_empty());
            return;
        }
    };
    let mut inputs = Vec::new();
    for (name, dims) in model.input_shapes() {
        let Some(dims) = dims else {
            return; // nothing to size the input by
        };
        let shape: Vec<usize> = dims
            .iter()
            .map(|d| d.unwrap_or(DYNAMIC_DIM).min(MAX_DIM))
            .collect();
        let n = shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d));
        if n.is_none_or(|n| n > MAX_INPUT_ELEMENTS) {
            return;
        }
        let data = (0..n.unwrap_or(0))
            .map(|k| ((k % 17) as f32 - 8.0) / 4.0)
            .collect();
        let x = ArrayD::from_shape_vec(IxDyn(&shape), data).expect("shape matches its product");
        inputs.push((name, x));
    }
    let views: Vec<_> = inputs.iter().map(|(n, x)| (*n, x.view())).collect();
    if let Ok(outputs) = model.run(&views) {
        assert_eq!(outputs.len(), model.output_names().len());
    }
}
