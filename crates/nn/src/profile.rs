//! Per-node timings and FLOP counts of one run ([`crate::Model::run_profiled`]).
//!
//! FLOPs are counted from each node's op parameters and the shapes it actually saw, for
//! the dense linear-algebra ops only:
//!
//! - `Conv`: `2 · N · Cout · Hout · Wout · (Cin / group) · kh · kw`;
//! - `ConvTranspose`: `2 · N · Cin · H · W · (Cout / group) · kh · kw` (every input pixel
//!   times every tap of its group's filters);
//! - `MatMul` (and ONNX `Gemm`-like `MatMul + bias` after fusion): `2 · batch · M · N · K`.
//!
//! Everything else (elementwise chains, fused epilogues and biases, normalizations,
//! pooling, Resize, Softmax, data movement) reports `None`: those ops are bound by memory,
//! not arithmetic, and counting them would flatter a roofline's GFLOP/s. The counts refer
//! to the optimized graph, whose folding (BatchNorm into Conv and the like) leaves these
//! products unchanged.

use crate::ops::Op;

/// One node of a profiled run.
#[derive(Clone, Debug)]
pub struct NodeProfile {
    /// The node's name in the model (fused nodes keep their first node's name).
    pub name: String,
    /// The optimized op with its fused epilogue, e.g. `Conv+Relu`, `MatMul+bias`.
    pub op: String,
    /// Shape of the node's first output.
    pub output_shape: Vec<usize>,
    /// Wall-clock time of the node.
    pub seconds: f64,
    /// Floating-point operations (see the module docs for what is counted); `None` for
    /// ops that are not counted.
    pub flops: Option<u64>,
}

/// Timings and FLOP counts of one [`crate::Model::run_profiled`] call, in execution order.
#[derive(Clone, Debug, Default)]
pub struct Profile {
    /// One entry per executed node.
    pub nodes: Vec<NodeProfile>,
}

impl Profile {
    /// Total counted FLOPs (Conv, ConvTranspose, MatMul).
    pub fn flops(&self) -> u64 {
        self.nodes.iter().filter_map(|n| n.flops).sum()
    }

    /// Sum of the node times (excludes input validation and output conversion).
    pub fn seconds(&self) -> f64 {
        self.nodes.iter().map(|n| n.seconds).sum()
    }

    /// The `k` slowest nodes, slowest first.
    pub fn top(&self, k: usize) -> Vec<&NodeProfile> {
        let mut v: Vec<&NodeProfile> = self.nodes.iter().collect();
        v.sort_by(|a, b| b.seconds.total_cmp(&a.seconds));
        v.truncate(k);
        v
    }

    /// Time and count per op label, slowest first: `(op, seconds, nodes)`.
    pub fn by_op(&self) -> Vec<(String, f64, usize)> {
        let mut m: std::collections::BTreeMap<&str, (f64, usize)> = Default::default();
        for n in &self.nodes {
            let e = m.entry(n.op.as_str()).or_default();
            e.0 += n.seconds;
            e.1 += 1;
        }
        let mut v: Vec<(String, f64, usize)> = m
            .into_iter()
            .map(|(k, (s, c))| (k.to_string(), s, c))
            .collect();
        v.sort_by(|a, b| b.1.total_cmp(&a.1));
        v
    }
}

fn prod(s: &[usize]) -> u64 {
    s.iter().map(|&d| d as u64).product()
}

/// FLOPs of one node from its op and the shapes it saw (`inputs[i]` is `None` for a
/// missing optional input or one whose value was packed into the op at load).
pub(crate) fn flops(op: &Op, inputs: &[Option<Vec<usize>>], output: &[usize]) -> Option<u64> {
    let input = |i: usize| inputs.get(i).and_then(|s| s.as_deref());
    match op {
        Op::Conv(c) => {
            // Weight [cout, cin/group, kh, kw], captured at load or read from input 1.
            let cin_g = match (&c.weights, input(1)) {
                (Some(w), _) => w.cin_g,
                (None, Some(ws)) if ws.len() == 4 => ws[1],
                _ => return None,
            };
            let [kh, kw] = c.geo.kernel;
            Some(2 * prod(output) * (cin_g * kh * kw) as u64)
        }
        Op::Bands(b) => b.flops(input(0)?),
        Op::ConvTransposes(c) => c.flops(input(0)?),
        Op::Concat { parts, .. } => {
            // The conv chains fused in are counted; Resizes, Pools and copies are not.
            let mut total = None;
            for (i, p) in parts.iter().enumerate() {
                if let Some(f) = p.as_ref().and_then(|p| p.flops(input(i)?)) {
                    total = Some(total.unwrap_or(0) + f);
                }
            }
            total
        }
        Op::ConvTranspose(c) => {
            let cout_g = match (&c.weights, input(1)) {
                (Some(w), _) => w.cout_g,
                (None, Some(ws)) if ws.len() == 4 => ws[1],
                _ => return None,
            };
            let [kh, kw] = c.geo.kernel;
            Some(2 * prod(input(0)?) * (cout_g * kh * kw) as u64)
        }
        Op::MatMul(_) => {
            // Output holds batch·M·N elements (1-D operands drop a dimension, which does
            // not change the product); each one is a K-long dot product.
            let k = *input(0)?.last()?;
            Some(2 * prod(output) * k as u64)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use crate::proto::*;
    use crate::{LoadOptions, Model};
    use prost::Message;

    fn init(name: &str, dims: &[i64]) -> TensorProto {
        let n: i64 = dims.iter().product();
        TensorProto {
            dims: dims.to_vec(),
            data_type: data_type::FLOAT,
            float_data: (0..n).map(|i| (i % 7) as f32 * 0.1 - 0.3).collect(),
            name: name.into(),
            ..Default::default()
        }
    }

    fn ints(name: &str, v: &[i64]) -> AttributeProto {
        AttributeProto {
            name: name.into(),
            r#type: 7,
            ints: v.to_vec(),
            ..Default::default()
        }
    }

    fn node(op: &str, ins: &[&str], out: &str, attribute: Vec<AttributeProto>) -> NodeProto {
        NodeProto {
            input: ins.iter().map(|s| s.to_string()).collect(),
            output: vec![out.into()],
            name: format!("{op}_{out}"),
            op_type: op.into(),
            attribute,
            ..Default::default()
        }
    }

    /// An integer attribute.
    fn int(name: &str, v: i64) -> AttributeProto {
        AttributeProto {
            name: name.into(),
            r#type: 2,
            i: v,
            ..Default::default()
        }
    }

    /// The opset-13 model of `graph`.
    fn model_of(graph: GraphProto) -> ModelProto {
        ModelProto {
            ir_version: 8,
            opset_import: vec![OperatorSetIdProto {
                domain: String::new(),
                version: 13,
            }],
            graph: Some(graph),
            metadata_props: vec![],
        }
    }

    /// The serialized opset-13 model of `graph`.
    fn encode(graph: GraphProto) -> Vec<u8> {
        model_of(graph).encode_to_vec()
    }

    fn io(name: &str) -> ValueInfoProto {
        ValueInfoProto {
            name: name.into(),
            r#type: None,
        }
    }

    /// x[1,4,8,8] → Conv(6 out, group 2, 3×3, pad 1) → Relu → ConvTranspose(→3, 2×2 stride 2)
    /// → z[1,3,16,16]; a[2,5,7] · B[7,3] → m[2,5,3].
    fn tiny() -> Vec<u8> {
        let graph = GraphProto {
            node: vec![
                node(
                    "Conv",
                    &["x", "w1", "b1"],
                    "y",
                    vec![ints("pads", &[1, 1, 1, 1]), int("group", 2)],
                ),
                node("Relu", &["y"], "r", vec![]),
                node(
                    "ConvTranspose",
                    &["r", "w2"],
                    "z",
                    vec![ints("strides", &[2, 2])],
                ),
                node("MatMul", &["a", "bm"], "m", vec![]),
            ],
            name: "tiny".into(),
            initializer: vec![
                init("w1", &[6, 2, 3, 3]),
                init("b1", &[6]),
                init("w2", &[6, 3, 2, 2]),
                init("bm", &[7, 3]),
            ],
            input: vec![io("x"), io("a")],
            output: vec![io("z"), io("m")],
        };
        encode(graph)
    }

    const CONV: u64 = 2 * 6 * 8 * 8 * 2 * 3 * 3; // 2·N·Cout·Hout·Wout·(Cin/g)·kh·kw
    const CONVT: u64 = 2 * 6 * 8 * 8 * 3 * 2 * 2; // 2·N·Cin·H·W·(Cout/g)·kh·kw
    const MATMUL: u64 = 2 * 2 * 5 * 3 * 7; // 2·batch·M·N·K

    #[test]
    fn flops_of_a_tiny_graph() {
        let shapes: [(&str, &[usize]); 2] = [("x", &[1, 4, 8, 8]), ("a", &[2, 5, 7])];
        for optimize in [false, true] {
            let m = Model::load_with(&tiny(), LoadOptions { optimize }).unwrap();
            assert_eq!(m.flops(&shapes).unwrap(), CONV + CONVT + MATMUL);
            let x = ndarray::ArrayD::<f32>::ones(ndarray::IxDyn(&[1, 4, 8, 8]));
            let a = ndarray::ArrayD::<f32>::ones(ndarray::IxDyn(&[2, 5, 7]));
            let (out, prof) = m.run_profiled(&[("x", x.view()), ("a", a.view())]).unwrap();
            assert_eq!(out[0].shape(), &[1, 3, 16, 16]);
            assert_eq!(out, m.run(&[("x", x.view()), ("a", a.view())]).unwrap());
            let get = |op: &str| {
                prof.nodes
                    .iter()
                    .find(|n| n.op.starts_with(op))
                    .unwrap_or_else(|| panic!("no {op} in {:?}", prof.nodes))
            };
            assert_eq!(get("Conv").flops, Some(CONV));
            assert_eq!(get("ConvTranspose").flops, Some(CONVT));
            assert_eq!(get("MatMul").flops, Some(MATMUL));
            assert_eq!(get("ConvTranspose").output_shape, vec![1, 3, 16, 16]);
            if !optimize {
                // Relu is its own node without optimization and is not counted.
                assert_eq!(get("Unary").flops, None);
                assert_eq!(prof.nodes.len(), 4);
            }
            let slowest = prof.top(1)[0].seconds;
            assert!(prof.nodes.iter().all(|n| n.seconds <= slowest));
        }
    }

    /// x[1,4,8,8] → Conv(3×3, pad 1) → Conv(1×1) → c; x → MaxPool(3×3, pad 1) → p;
    /// Concat(c, p) → y[1,8,8,8]. Optimized, the chain becomes a band and both producers
    /// move into the Concat (`Concat+Pool+Bands`), whose FLOPs are the chain's; the output
    /// matches the unoptimized graph's.
    #[test]
    fn a_concat_with_fused_producers_counts_their_convs() {
        let graph = GraphProto {
            node: vec![
                node(
                    "Conv",
                    &["x", "w1", "b1"],
                    "c1",
                    vec![ints("pads", &[1, 1, 1, 1])],
                ),
                node("Conv", &["c1", "w2"], "c", vec![]),
                node(
                    "MaxPool",
                    &["x"],
                    "p",
                    vec![ints("kernel_shape", &[3, 3]), ints("pads", &[1, 1, 1, 1])],
                ),
                node("Concat", &["c", "p"], "y", vec![int("axis", 1)]),
            ],
            name: "concat".into(),
            initializer: vec![
                init("w1", &[4, 4, 3, 3]),
                init("b1", &[4]),
                init("w2", &[4, 4, 1, 1]),
            ],
            input: vec![io("x")],
            output: vec![io("y")],
        };
        let bytes = encode(graph);
        const CHAIN: u64 = 2 * 4 * 8 * 8 * 4 * 3 * 3 + 2 * 4 * 8 * 8 * 4;
        let x = ndarray::ArrayD::from_shape_fn(ndarray::IxDyn(&[1, 4, 8, 8]), |i| {
            ((i[1] * 29 + i[2] * 7 + i[3] * 3) % 13) as f32 * 0.2 - 1.2
        });
        let mut outs = Vec::new();
        for optimize in [false, true] {
            let m = Model::load_with(&bytes, LoadOptions { optimize }).unwrap();
            assert_eq!(m.flops(&[("x", &[1, 4, 8, 8])]).unwrap(), CHAIN);
            let (out, prof) = m.run_profiled(&[("x", x.view())]).unwrap();
            assert_eq!(out[0].shape(), &[1, 8, 8, 8]);
            if optimize {
                assert_eq!(prof.nodes.len(), 1, "{:?}", prof.nodes);
                assert_eq!(prof.nodes[0].op, "Concat+Pool+Bands");
                assert_eq!(prof.nodes[0].flops, Some(CHAIN));
            }
            outs.push(out.into_iter().next().unwrap());
        }
        let diff = (&outs[0] - &outs[1])
            .mapv(f32::abs)
            .fold(0f32, |a, &b| a.max(b));
        assert!(diff < 1e-5, "optimized output differs by {diff}");
    }

    /// x[1,6,5,7] → ConvTranspose(→4, 2×2 stride 2) → Relu → ConvTranspose(→1, 2×2 stride 2)
    /// → Sigmoid → y[1,1,20,28] (the DB heads' upsampling). Optimized, both become one
    /// `ConvTranspose×2` node counting both stages' FLOPs, with the unoptimized output.
    #[test]
    fn a_transposed_conv_chain_becomes_one_node() {
        let s2 = || vec![ints("strides", &[2, 2]), ints("kernel_shape", &[2, 2])];
        let graph = GraphProto {
            node: vec![
                node("ConvTranspose", &["x", "w1", "b1"], "u", s2()),
                node("Relu", &["u"], "r", vec![]),
                node("ConvTranspose", &["r", "w2", "b2"], "v", s2()),
                node("Sigmoid", &["v"], "y", vec![]),
            ],
            name: "convt".into(),
            initializer: vec![
                init("w1", &[6, 4, 2, 2]),
                init("b1", &[4]),
                init("w2", &[4, 1, 2, 2]),
                init("b2", &[1]),
            ],
            input: vec![io("x")],
            output: vec![io("y")],
        };
        let bytes = encode(graph);
        const CHAIN: u64 = 2 * 6 * 5 * 7 * 4 * 2 * 2 + 2 * 4 * 10 * 14 * 2 * 2;
        let x = ndarray::ArrayD::from_shape_fn(ndarray::IxDyn(&[1, 6, 5, 7]), |i| {
            ((i[1] * 29 + i[2] * 7 + i[3] * 3) % 13) as f32 * 0.2 - 1.2
        });
        let mut outs = Vec::new();
        for optimize in [false, true] {
            let m = Model::load_with(&bytes, LoadOptions { optimize }).unwrap();
            assert_eq!(m.flops(&[("x", &[1, 6, 5, 7])]).unwrap(), CHAIN);
            let (out, prof) = m.run_profiled(&[("x", x.view())]).unwrap();
            assert_eq!(out[0].shape(), &[1, 1, 20, 28]);
            if optimize {
                assert_eq!(prof.nodes.len(), 1, "{:?}", prof.nodes);
                assert_eq!(prof.nodes[0].op, "ConvTranspose×2");
                assert_eq!(prof.nodes[0].flops, Some(CHAIN));
            }
            outs.push(out.into_iter().next().unwrap());
        }
        let diff = (&outs[0] - &outs[1])
            .mapv(f32::abs)
            .fold(0f32, |a, &b| a.max(b));
        assert!(diff < 1e-6, "optimized output differs by {diff}");
    }

    /// x[1,4,6,10] → depthwise Conv(3×3, pad 1) → Relu → ·s → +t → Conv(→3, `next`) → y.
    /// Into an unpadded 1×1 conv the `·s +t` steps leave the first conv's chain for the
    /// second conv's weights and bias; into a padded 3×3 conv they stay. Either way the
    /// optimized output is the unoptimized one within roundings.
    #[test]
    fn a_trailing_affine_folds_only_into_an_unpadded_pointwise_conv() {
        for (kernel, pad, folds) in [(1, 0, true), (3, 1, false)] {
            let graph = GraphProto {
                node: vec![
                    node(
                        "Conv",
                        &["x", "w1", "b1"],
                        "c",
                        vec![ints("pads", &[1, 1, 1, 1]), int("group", 4)],
                    ),
                    node("Relu", &["c"], "r", vec![]),
                    node("Mul", &["r", "s"], "m", vec![]),
                    node("Add", &["m", "t"], "a", vec![]),
                    node(
                        "Conv",
                        &["a", "w2", "b2"],
                        "y",
                        vec![ints("pads", &[pad; 4])],
                    ),
                ],
                name: "affine".into(),
                initializer: vec![
                    init("w1", &[4, 1, 3, 3]),
                    init("b1", &[4]),
                    init("s", &[]),
                    TensorProto {
                        dims: vec![],
                        data_type: data_type::FLOAT,
                        float_data: vec![0.7],
                        name: "t".into(),
                        ..Default::default()
                    },
                    init("w2", &[3, 4, kernel, kernel]),
                    init("b2", &[3]),
                ],
                input: vec![io("x")],
                output: vec![io("y")],
            };
            let mut g = crate::graph::build(&model_of(graph.clone())).unwrap();
            crate::optimize::prepare(&mut g, true).unwrap();
            let first = g
                .nodes
                .iter()
                .find_map(|n| match &n.op {
                    crate::ops::Op::Conv(c) => Some(c.post.clone()),
                    crate::ops::Op::Bands(b) => Some(b.stages()[0].post.clone()),
                    _ => None,
                })
                .expect("a conv");
            let affine = first.iter().any(|s| {
                matches!(
                    s,
                    crate::ops::elementwise::Step::MulC(_) | crate::ops::elementwise::Step::AddC(_)
                )
            });
            assert_eq!(
                affine, !folds,
                "kernel {kernel}: first conv's chain {first:?}"
            );
            let bytes = encode(graph);
            let x = ndarray::ArrayD::from_shape_fn(ndarray::IxDyn(&[1, 4, 6, 10]), |i| {
                ((i[1] * 29 + i[2] * 7 + i[3] * 3) % 13) as f32 * 0.2 - 1.2
            });
            let outs: Vec<_> = [false, true]
                .into_iter()
                .map(|optimize| {
                    let m = Model::load_with(&bytes, LoadOptions { optimize }).unwrap();
                    m.run(&[("x", x.view())]).unwrap().remove(0)
                })
                .collect();
            let diff = (&outs[0] - &outs[1])
                .mapv(f32::abs)
                .fold(0f32, |a, &b| a.max(b));
            let scale = outs[0].mapv(f32::abs).fold(0f32, |a, &b| a.max(b));
            assert!(
                scale > 0.1 && diff <= 1e-5 * scale,
                "kernel {kernel}: differs by {diff}"
            );
        }
    }
}
