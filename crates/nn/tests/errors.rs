//! Bad inputs produce errors with useful messages, never panics.

mod common;

use ndarray::{ArrayD, IxDyn};
use wenzi_nn::{Error, Model};

fn model_bytes(name: &str) -> Vec<u8> {
    std::fs::read(common::repo_root().join("models").join(name)).unwrap()
}

fn cls() -> Model {
    Model::load(&model_bytes("ch_ppocr_mobile_v2.0_cls_infer.onnx")).unwrap()
}

/// Tiny deterministic generator (xorshift64*) so the tests need no rand crate.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

#[test]
fn truncated_model_is_a_decode_error() {
    let bytes = model_bytes("ch_ppocr_mobile_v2.0_cls_infer.onnx");
    for cut in [1, 10, 1000, bytes.len() / 2, bytes.len() - 1] {
        match Model::load(&bytes[..cut]) {
            Err(e) => {
                let msg = e.to_string();
                assert!(!msg.is_empty());
            }
            Ok(_) => panic!("truncated model ({cut} bytes) loaded"),
        }
    }
    let e = Model::load(&bytes[..bytes.len() / 2]).unwrap_err();
    assert!(matches!(e, Error::Decode(_)), "{e}");
    assert!(
        e.to_string()
            .starts_with("model bytes are not a valid ONNX protobuf"),
        "{e}"
    );
}

#[test]
fn random_bytes_never_panic() {
    let mut rng = Rng(0x1234_5678_9abc_def1);
    for i in 0..300 {
        let len = (rng.next() % 4096) as usize;
        let bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        if let Ok(m) = Model::load(&bytes) {
            panic!("random bytes #{i} loaded as a model: {m:?}");
        }
    }
    assert!(Model::load(&[]).is_err());
}

#[test]
fn mutated_models_never_panic() {
    // Flip bytes of small valid models; loading and running must return, not panic.
    let dir = common::fixtures_dir().join("ops");
    let mut rng = Rng(42);
    for name in [
        "conv_3x3_s2_p1_bias",
        "shape_chain_reshape",
        "resize_nearest_asym_floor",
        "slice_steps",
        "matmul_batched_bcast",
    ] {
        let bytes = std::fs::read(dir.join(format!("{name}.onnx"))).unwrap();
        for _ in 0..150 {
            let mut b = bytes.clone();
            for _ in 0..1 + rng.next() % 3 {
                let i = (rng.next() as usize) % b.len();
                b[i] = rng.next() as u8;
            }
            if let Ok(m) = Model::load(&b) {
                let feeds: Vec<(String, ArrayD<f32>)> = m
                    .input_names()
                    .iter()
                    .map(|n| {
                        (
                            n.to_string(),
                            ArrayD::from_elem(IxDyn(&[2, 3, 4, 5]), 0.5f32),
                        )
                    })
                    .collect();
                let views: Vec<_> = feeds.iter().map(|(n, a)| (n.as_str(), a.view())).collect();
                let _ = m.run(&views);
            }
        }
    }
}

#[test]
fn unsupported_op_names_op_and_node() {
    let bytes = std::fs::read(common::fixtures_dir().join("errors/unsupported_op.onnx")).unwrap();
    let e = Model::load(&bytes).unwrap_err();
    assert!(matches!(e, Error::UnsupportedOp { .. }), "{e:?}");
    assert_eq!(
        e.to_string(),
        "unsupported operator `Gather` in node `my_gather`"
    );
}

#[test]
fn undefined_value_is_invalid_model() {
    let bytes = std::fs::read(common::fixtures_dir().join("errors/undefined_input.onnx")).unwrap();
    let e = Model::load(&bytes).unwrap_err();
    assert!(matches!(e, Error::InvalidModel(_)), "{e:?}");
    assert!(
        e.to_string().contains("bad_add") && e.to_string().contains("nowhere"),
        "{e}"
    );
}

#[test]
fn wrong_rank_and_shape() {
    let m = cls();
    let x3 = ArrayD::<f32>::zeros(IxDyn(&[3, 48, 192]));
    let e = m.run(&[("x", x3.view())]).unwrap_err();
    assert!(matches!(e, Error::InputShape { .. }), "{e:?}");
    assert!(
        e.to_string()
            .starts_with("input `x`: expected rank 4, got 3"),
        "{e}"
    );

    let x = ArrayD::<f32>::zeros(IxDyn(&[1, 4, 48, 192]));
    let e = m.run(&[("x", x.view())]).unwrap_err();
    assert!(
        e.to_string().contains("expected size 3 at axis 1, got 4"),
        "{e}"
    );
}

#[test]
fn missing_and_unknown_inputs() {
    let m = cls();
    let e = m.run(&[]).unwrap_err();
    assert_eq!(e.to_string(), "missing input `x`");
    let x = ArrayD::<f32>::zeros(IxDyn(&[1, 3, 48, 192]));
    let e = m.run(&[("image", x.view())]).unwrap_err();
    assert!(matches!(e, Error::UnknownInput { .. }), "{e:?}");
    assert!(
        e.to_string().contains("`image`") && e.to_string().contains("x"),
        "{e}"
    );
}

#[test]
fn nan_and_inf_inputs_are_rejected() {
    let m = cls();
    let mut x = ArrayD::<f32>::zeros(IxDyn(&[1, 3, 48, 192]));
    x[[0, 1, 2, 3]] = f32::NAN;
    let e = m.run(&[("x", x.view())]).unwrap_err();
    match &e {
        Error::NonFiniteInput { name, index, .. } => {
            assert_eq!(name, "x");
            assert_eq!(*index, 48 * 192 + 2 * 192 + 3);
        }
        other => panic!("unexpected {other:?}"),
    }
    x[[0, 1, 2, 3]] = f32::INFINITY;
    assert!(matches!(
        m.run(&[("x", x.view())]),
        Err(Error::NonFiniteInput { .. })
    ));
}

#[test]
fn degenerate_sizes_never_panic() {
    let models = [
        "ch_PP-OCRv4_det_infer.onnx",
        "PP-OCRv6_det_small.onnx",
        "ch_PP-OCRv4_rec_infer.onnx",
        "PP-OCRv6_rec_small.onnx",
        "ch_ppocr_mobile_v2.0_cls_infer.onnx",
    ];
    for name in models {
        let m = Model::load(&model_bytes(name)).unwrap();
        let h = if name.contains("rec") { 48 } else { 1 };
        for shape in [
            [0, 3, h, 32],
            [1, 3, h, 1],
            [1, 3, h, 0],
            [1, 3, h, 3],
            [2, 3, h, 7],
        ] {
            let x = ArrayD::<f32>::zeros(IxDyn(&shape));
            // Either result is acceptable; a panic fails the test.
            let _ = m.run(&[("x", x.view())]);
        }
    }
}

#[test]
fn non_contiguous_input_view_works() {
    let m = cls();
    let x = ArrayD::from_shape_fn(IxDyn(&[1, 3, 192, 48]), |d| {
        ((d[1] * 7 + d[2] * 3 + d[3]) % 11) as f32 / 11.0 - 0.5
    });
    let xt = x.view().permuted_axes(IxDyn(&[0, 1, 3, 2]));
    let a = m.run(&[("x", xt.clone())]).unwrap();
    let b = m.run(&[("x", xt.as_standard_layout().view())]).unwrap();
    assert_eq!(a, b);
}

#[test]
fn zero_sized_inputs_on_op_models_never_panic() {
    let dir = common::fixtures_dir().join("ops");
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let m = Model::load(&std::fs::read(&path).unwrap()).unwrap();
        for shape in [[0usize, 3, 4, 5], [1, 3, 0, 5], [1, 3, 4, 0], [1, 1, 1, 1]] {
            let feeds: Vec<(String, ArrayD<f32>)> = m
                .input_names()
                .iter()
                .map(|n| (n.to_string(), ArrayD::zeros(IxDyn(&shape))))
                .collect();
            let views: Vec<_> = feeds.iter().map(|(n, a)| (n.as_str(), a.view())).collect();
            let _ = m.run(&views);
        }
    }
}
