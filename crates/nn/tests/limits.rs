//! The loader's and runner's resource limits: each hostile size gives its documented error
//! (see docs/robustness.md), without allocating what the header asks for.
//!
//! Models are hand-encoded protobuf (a few lines of wire format) so that the tests can
//! describe sizes no real file has.

use ndarray::{ArrayD, IxDyn};
use wenzi_nn::{Error, Model};

// --- protobuf wire format -------------------------------------------------------------

fn varint(mut v: u64, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn field_varint(tag: u32, v: u64, out: &mut Vec<u8>) {
    varint(u64::from(tag) << 3, out);
    varint(v, out);
}

fn field_bytes(tag: u32, bytes: &[u8], out: &mut Vec<u8>) {
    varint((u64::from(tag) << 3) | 2, out);
    varint(bytes.len() as u64, out);
    out.extend_from_slice(bytes);
}

/// `ValueInfoProto` of a float tensor whose dims are all symbolic (`rank` of them).
fn value_info(name: &str, rank: usize) -> Vec<u8> {
    let mut shape = Vec::new();
    for i in 0..rank {
        let mut dim = Vec::new();
        field_bytes(2, format!("d{i}").as_bytes(), &mut dim); // dim_param
        field_bytes(1, &dim, &mut shape);
    }
    let mut tensor = Vec::new();
    field_varint(1, 1, &mut tensor); // elem_type FLOAT
    field_bytes(2, &shape, &mut tensor);
    let mut ty = Vec::new();
    field_bytes(1, &tensor, &mut ty);
    let mut vi = Vec::new();
    field_bytes(1, name.as_bytes(), &mut vi);
    field_bytes(2, &ty, &mut vi);
    vi
}

fn node(op: &str, input: &str, output: &str) -> Vec<u8> {
    let mut n = Vec::new();
    field_bytes(1, input.as_bytes(), &mut n);
    field_bytes(2, output.as_bytes(), &mut n);
    field_bytes(4, op.as_bytes(), &mut n);
    n
}

/// `TensorProto` (FLOAT) with these dims and float_data.
fn initializer(name: &str, dims: &[u64], data: &[f32]) -> Vec<u8> {
    let mut t = Vec::new();
    for &d in dims {
        field_varint(1, d, &mut t);
    }
    field_varint(2, 1, &mut t);
    for &v in data {
        varint((4 << 3) | 5, &mut t); // float_data, fixed32
        t.extend_from_slice(&v.to_le_bytes());
    }
    field_bytes(8, name.as_bytes(), &mut t);
    t
}

/// A model: opset 13, graph input `x` (rank 2, dynamic), output `y`, these nodes and
/// initializers.
fn model(nodes: &[Vec<u8>], inits: &[Vec<u8>]) -> Vec<u8> {
    let mut g = Vec::new();
    for n in nodes {
        field_bytes(1, n, &mut g);
    }
    field_bytes(2, b"g", &mut g);
    for t in inits {
        field_bytes(5, t, &mut g);
    }
    field_bytes(11, &value_info("x", 2), &mut g);
    field_bytes(12, &value_info("y", 2), &mut g);
    let mut opset = Vec::new();
    field_varint(2, 13, &mut opset);
    let mut m = Vec::new();
    field_varint(1, 7, &mut m); // ir_version
    field_bytes(8, &opset, &mut m);
    field_bytes(7, &g, &mut m);
    m
}

fn load_err(bytes: &[u8]) -> Error {
    match Model::load(bytes) {
        Ok(_) => panic!("the model loaded"),
        Err(e) => e,
    }
}

// --- tests ------------------------------------------------------------------------------

#[test]
fn the_hand_encoded_model_is_valid() {
    let m = Model::load(&model(&[node("Relu", "x", "y")], &[])).expect("valid model");
    let x = ArrayD::<f32>::from_elem(IxDyn(&[2, 3]), -1.0);
    let y = m.run(&[("x", x.view())]).unwrap();
    assert_eq!(y[0].shape(), &[2, 3]);
    assert!(y[0].iter().all(|&v| v == 0.0));
}

#[test]
fn model_over_2_gib_is_too_large() {
    // Zeroed allocations are lazily mapped: this costs no physical memory.
    let bytes = vec![0u8; (1usize << 31) + 1];
    let e = load_err(&bytes);
    assert!(matches!(e, Error::TooLarge(_)), "{e}");
}

#[test]
fn more_than_200k_nodes_is_an_invalid_model() {
    let nodes: Vec<Vec<u8>> = (0..200_001)
        .map(|i| node("Relu", if i == 0 { "x" } else { "t" }, "t"))
        .collect();
    let e = load_err(&model(&nodes, &[]));
    assert!(
        matches!(&e, Error::InvalidModel(m) if m.contains("200000")),
        "{e}"
    );
}

#[test]
fn initializer_over_rank_16_is_rejected() {
    let init = initializer("w", &[1; 17], &[1.0]);
    let e = load_err(&model(&[node("Relu", "x", "y")], &[init]));
    assert!(e.to_string().contains("rank 17"), "{e}");
}

#[test]
fn initializer_dims_over_the_element_limit_are_rejected_without_allocating() {
    // 2^60 elements announced, 1 present: must be refused from the header.
    let init = initializer("w", &[1 << 20, 1 << 20, 1 << 20], &[1.0]);
    let e = load_err(&model(&[node("Relu", "x", "y")], &[init]));
    assert!(
        matches!(e, Error::InvalidModel(_) | Error::TooLarge(_)),
        "{e}"
    );
    // Overflowing products too.
    let init = initializer("w", &[u64::MAX >> 1, 4, 4], &[]);
    let e = load_err(&model(&[node("Relu", "x", "y")], &[init]));
    assert!(
        matches!(e, Error::InvalidModel(_) | Error::TooLarge(_)),
        "{e}"
    );
}

#[test]
fn initializer_dims_larger_than_its_data_are_rejected() {
    let init = initializer("w", &[1000], &[1.0, 2.0]);
    let e = load_err(&model(&[node("Relu", "x", "y")], &[init]));
    assert!(e.to_string().contains("1000"), "{e}");
}

#[test]
fn input_over_the_element_limit_is_too_large() {
    let m = Model::load(&model(&[node("Relu", "x", "y")], &[])).unwrap();
    // 2^29 elements (over the 2^28 limit) as a broadcast view: no memory behind it.
    let one = ArrayD::<f32>::zeros(IxDyn(&[1, 1]));
    let huge = one.broadcast(IxDyn(&[1 << 15, 1 << 14])).unwrap();
    let e = m.run(&[("x", huge)]).unwrap_err();
    assert!(matches!(e, Error::TooLarge(_)), "{e}");
}
