//! Operator definitions: parsing ONNX nodes into [`Op`]s and running them.
//!
//! Each op is a plain enum variant holding its parsed attributes, so dispatch is a
//! single `match` and the optimizer can pattern-match on ops directly.

pub(crate) mod bands;
pub(crate) mod concat;
pub(crate) mod conv;
pub(crate) mod convt;
mod depthwise;
mod dw_pair;
pub(crate) mod elementwise;
pub(crate) mod math;
pub(crate) mod matmul;
pub(crate) mod pool;
pub(crate) mod reduce;
pub(crate) mod resize;
pub(crate) mod shape;
pub(crate) mod winograd;
pub(crate) mod winograd4;

use crate::exec::BufPool;
use crate::proto::{AttributeProto, NodeProto};
use crate::tensor::{data, Tensor};
use conv::{AutoPad, Conv, ConvTranspose, Geometry};
use elementwise::{BinKind, Chain, Step};
use pool::{Pool2d, PoolKind};

thread_local! {
    /// Set while this thread runs a task that is already one of several parallel tasks
    /// (a band segment, [`bands`]): ops then keep their work on this thread.
    static SERIAL: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Threads an op may split its work over: the rayon pool's, or 1 inside a task that
/// already has a thread of its own (see [`serial`]).
pub(crate) fn threads() -> usize {
    if SERIAL.get() {
        1
    } else {
        rayon::current_num_threads()
    }
}

/// Runs `f` with [`threads`] reporting 1 on this thread.
pub(crate) fn serial<R>(f: impl FnOnce() -> R) -> R {
    let before = SERIAL.replace(true);
    let r = f();
    SERIAL.set(before);
    r
}

/// A seeded xorshift generator of numbers below `n`, for the randomized op tests.
#[cfg(test)]
pub(crate) fn xorshift(mut seed: u64) -> impl FnMut(usize) -> usize {
    move |n| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n as u64) as usize
    }
}

/// A node input at run time: borrowed from the value table, or moved out of it because
/// this node is its last consumer (which lets elementwise ops work in place).
pub(crate) enum Input<'a> {
    Missing,
    Ref(&'a Tensor),
    Owned(Tensor),
}

impl<'a> Input<'a> {
    /// The tensor (panics only on a missing optional input, which ops check first).
    pub fn get(&self) -> &Tensor {
        match self {
            Input::Ref(t) => t,
            Input::Owned(t) => t,
            Input::Missing => panic!("optional input accessed without a check (bug)"),
        }
    }
    pub fn opt(&self) -> Option<&Tensor> {
        match self {
            Input::Ref(t) => Some(t),
            Input::Owned(t) => Some(t),
            Input::Missing => None,
        }
    }
    pub fn is_owned(&self) -> bool {
        matches!(self, Input::Owned(_))
    }
    pub fn into_owned(self) -> Tensor {
        match self {
            Input::Ref(t) => t.clone(),
            Input::Owned(t) => t,
            Input::Missing => panic!("optional input accessed without a check (bug)"),
        }
    }
    pub fn into_f32(self) -> Result<ndarray::ArrayD<f32>, String> {
        self.into_owned().into_f32()
    }
}

/// A parsed operator.
#[derive(Clone, Debug)]
pub(crate) enum Op {
    Conv(Conv),
    /// A chain of convs run a band of rows at a time (fused at load).
    Bands(bands::Bands),
    ConvTranspose(ConvTranspose),
    /// Transposed convs with disjoint windows, each reading the one before (fused at load).
    ConvTransposes(convt::Chain),
    BatchNorm {
        eps: f32,
    },
    /// Fused elementwise chain on one input.
    Unary(Chain),
    /// Broadcasting binary op followed by an optional fused chain.
    Binary(BinKind, Chain),
    Pool(Pool2d),
    GlobalAvgPool,
    Resize(resize::Resize),
    Concat {
        axis: i64,
        /// Per input, its producer fused in at load (empty: none): that input is then the
        /// producer's input, computed straight into its slice of the output (see
        /// `ops/concat.rs`).
        parts: Vec<Option<concat::Part>>,
    },
    Reshape {
        allowzero: bool,
    },
    Transpose {
        perm: Option<Vec<usize>>,
    },
    Squeeze {
        axes: Option<Vec<i64>>,
    },
    Unsqueeze {
        axes: Option<Vec<i64>>,
    },
    /// `attrs` holds the opset < 10 attribute form.
    Slice {
        attrs: Option<SliceAttrs>,
    },
    Shape {
        start: i64,
        end: Option<i64>,
    },
    Cast {
        to: i32,
    },
    Identity,
    ReduceMean {
        axes: Option<Vec<i64>>,
        keepdims: bool,
    },
    MatMul(matmul::MatMul),
    Softmax {
        axis: i64,
        legacy: bool,
    },
    /// Fused LayerNorm over the last axis; inputs `x[, gamma[, beta]]`.
    LayerNorm {
        eps: f32,
    },
}

/// Opset < 10 Slice attributes: `(starts, ends, axes)`.
pub(crate) type SliceAttrs = (Vec<i64>, Vec<i64>, Option<Vec<i64>>);

/// Attribute lookup helpers.
pub(crate) struct Attrs<'a>(pub &'a [AttributeProto]);

impl Attrs<'_> {
    fn find(&self, name: &str) -> Option<&AttributeProto> {
        self.0.iter().find(|a| a.name == name)
    }
    pub fn int(&self, name: &str, default: i64) -> i64 {
        self.find(name).map(|a| a.i).unwrap_or(default)
    }
    pub fn float(&self, name: &str, default: f32) -> f32 {
        self.find(name).map(|a| a.f).unwrap_or(default)
    }
    pub fn ints(&self, name: &str) -> Option<Vec<i64>> {
        self.find(name).map(|a| a.ints.clone())
    }
    pub fn string(&self, name: &str) -> Option<String> {
        self.find(name)
            .map(|a| String::from_utf8_lossy(&a.s).into_owned())
    }
}

/// Why a node could not be parsed: the op is unknown, or an attribute is unsupported.
pub(crate) enum ParseError {
    Unsupported,
    Attr(String),
}

fn pair(v: Option<Vec<i64>>, default: usize, what: &str) -> Result<[usize; 2], ParseError> {
    match v {
        None => Ok([default, default]),
        Some(v) if v.len() == 2 && v.iter().all(|&x| (0..1 << 20).contains(&x)) => {
            Ok([v[0] as usize, v[1] as usize])
        }
        Some(v) => Err(ParseError::Attr(format!(
            "{what} {v:?}: only 2-D (NCHW) windows are supported"
        ))),
    }
}

fn geometry(a: &Attrs<'_>, kernel_from_weight: Option<[usize; 2]>) -> Result<Geometry, ParseError> {
    let kernel = match (a.ints("kernel_shape"), kernel_from_weight) {
        (Some(k), _) => pair(Some(k), 1, "kernel_shape")?,
        (None, Some(k)) => k,
        (None, None) => return Err(ParseError::Attr("kernel_shape is required".into())),
    };
    if kernel.contains(&0) {
        return Err(ParseError::Attr("kernel_shape must be positive".into()));
    }
    let strides = pair(a.ints("strides"), 1, "strides")?;
    let dilations = pair(a.ints("dilations"), 1, "dilations")?;
    if strides.contains(&0) || dilations.contains(&0) {
        return Err(ParseError::Attr(
            "strides and dilations must be positive".into(),
        ));
    }
    let pads = match a.ints("pads") {
        None => [0; 4],
        Some(p) if p.len() == 4 && p.iter().all(|&x| (0..1 << 20).contains(&x)) => {
            [p[0] as usize, p[1] as usize, p[2] as usize, p[3] as usize]
        }
        Some(p) => {
            return Err(ParseError::Attr(format!(
                "pads {p:?}: expected 4 non-negative values"
            )))
        }
    };
    let ap = a.string("auto_pad").unwrap_or_default();
    let auto_pad =
        AutoPad::parse(&ap).ok_or_else(|| ParseError::Attr(format!("auto_pad `{ap}`")))?;
    Ok(Geometry {
        kernel,
        strides,
        pads,
        dilations,
        auto_pad,
    })
}

/// Parses one node. `weight_kernel` is the spatial size of a constant Conv weight, used
/// when `kernel_shape` is omitted.
pub(crate) fn parse(
    node: &NodeProto,
    opset: i64,
    weight_kernel: Option<[usize; 2]>,
) -> Result<Op, ParseError> {
    if !(node.domain.is_empty() || node.domain == "ai.onnx") {
        return Err(ParseError::Unsupported);
    }
    let a = Attrs(&node.attribute);
    let bad = |m: String| ParseError::Attr(m);
    // Inputs every later stage (optimizer passes, kernels) indexes without checking again.
    let required = match node.op_type.as_str() {
        "Add" | "Sub" | "Mul" | "Div" | "Pow" | "MatMul" | "Reshape" => 2,
        "Conv" | "ConvTranspose" => 2,
        "BatchNormalization" => 5,
        "Relu" | "Sigmoid" | "Erf" | "Sqrt" | "HardSigmoid" | "HardSwish" | "Clip" | "Softmax"
        | "Transpose" | "Squeeze" | "Unsqueeze" | "Cast" | "Shape" | "Identity" | "Slice"
        | "GlobalAveragePool" | "AveragePool" | "MaxPool" | "ReduceMean" | "Resize" | "Concat" => 1,
        _ => 0,
    };
    let present = node
        .input
        .iter()
        .take(required)
        .filter(|i| !i.is_empty())
        .count();
    if present < required {
        return Err(bad(format!(
            "{} needs {required} inputs, the node has {present}",
            node.op_type
        )));
    }
    Ok(match node.op_type.as_str() {
        "Conv" => Op::Conv(Conv {
            geo: geometry(&a, weight_kernel)?,
            group: a.int("group", 1).max(1) as usize,
            weights: None,
            post: vec![],
        }),
        "ConvTranspose" => {
            if a.ints("output_shape").is_some() {
                return Err(bad("ConvTranspose output_shape is not supported".into()));
            }
            Op::ConvTranspose(ConvTranspose {
                geo: geometry(&a, weight_kernel)?,
                group: a.int("group", 1).max(1) as usize,
                output_padding: pair(a.ints("output_padding"), 0, "output_padding")?,
                post: vec![],
                weights: None,
            })
        }
        "BatchNormalization" => Op::BatchNorm {
            eps: a.float("epsilon", 1e-5),
        },
        "Relu" => Op::Unary(vec![Step::Relu]),
        "Sigmoid" => Op::Unary(vec![Step::Sigmoid]),
        "Erf" => Op::Unary(vec![Step::Erf]),
        "Sqrt" => Op::Unary(vec![Step::Sqrt]),
        "HardSigmoid" => Op::Unary(vec![Step::HardSigmoid {
            alpha: a.float("alpha", 0.2),
            beta: a.float("beta", 0.5),
        }]),
        "HardSwish" => Op::Unary(vec![Step::HardSwish {
            alpha: 1.0 / 6.0,
            beta: 0.5,
        }]),
        "Clip" if opset < 11 => Op::Unary(vec![Step::Clip(
            a.float("min", f32::MIN),
            a.float("max", f32::MAX),
        )]),
        // Opset 11+: min/max are inputs; the optimizer turns constant bounds into a Step.
        "Clip" => Op::Unary(vec![]),
        "Add" => Op::Binary(BinKind::Add, vec![]),
        "Sub" => Op::Binary(BinKind::Sub, vec![]),
        "Mul" => Op::Binary(BinKind::Mul, vec![]),
        "Div" => Op::Binary(BinKind::Div, vec![]),
        "Pow" => Op::Binary(BinKind::Pow, vec![]),
        "MaxPool" | "AveragePool" => {
            if node.output.len() > 1 {
                return Err(bad("MaxPool Indices output is not supported".into()));
            }
            let kind = if node.op_type == "MaxPool" {
                PoolKind::Max
            } else {
                PoolKind::Avg(a.int("count_include_pad", 0) != 0)
            };
            Op::Pool(Pool2d {
                kind,
                geo: geometry(&a, None)?,
                ceil_mode: a.int("ceil_mode", 0) != 0,
            })
        }
        "GlobalAveragePool" => Op::GlobalAvgPool,
        "Resize" | "Upsample" => {
            let mode = match a.string("mode").as_deref().unwrap_or("nearest") {
                "nearest" => resize::Mode::Nearest,
                "linear" | "bilinear" => resize::Mode::Linear,
                m => return Err(bad(format!("Resize mode `{m}`"))),
            };
            let default_coord = if opset >= 11 && node.op_type == "Resize" {
                "half_pixel"
            } else {
                "asymmetric"
            };
            let coord = match a
                .string("coordinate_transformation_mode")
                .as_deref()
                .unwrap_or(default_coord)
            {
                "half_pixel" => resize::Coord::HalfPixel,
                "pytorch_half_pixel" => resize::Coord::PytorchHalfPixel,
                "align_corners" => resize::Coord::AlignCorners,
                "asymmetric" => resize::Coord::Asymmetric,
                m => return Err(bad(format!("Resize coordinate_transformation_mode `{m}`"))),
            };
            let default_nearest = if opset >= 11 {
                "round_prefer_floor"
            } else {
                "floor"
            };
            let nearest = match a
                .string("nearest_mode")
                .as_deref()
                .unwrap_or(default_nearest)
            {
                "round_prefer_floor" => resize::NearestMode::RoundPreferFloor,
                "round_prefer_ceil" => resize::NearestMode::RoundPreferCeil,
                "floor" => resize::NearestMode::Floor,
                "ceil" => resize::NearestMode::Ceil,
                m => return Err(bad(format!("Resize nearest_mode `{m}`"))),
            };
            Op::Resize(resize::Resize {
                mode,
                coord,
                nearest,
                add: None,
            })
        }
        "Concat" => Op::Concat {
            axis: a.int("axis", 0),
            parts: Vec::new(),
        },
        "Reshape" => Op::Reshape {
            allowzero: a.int("allowzero", 0) != 0,
        },
        "Flatten" => return Err(ParseError::Unsupported),
        "Transpose" => Op::Transpose {
            perm: a.ints("perm").map(|p| {
                p.iter()
                    .map(|&x| usize::try_from(x).unwrap_or(usize::MAX))
                    .collect()
            }),
        },
        "Squeeze" => Op::Squeeze {
            axes: a.ints("axes"),
        },
        "Unsqueeze" => Op::Unsqueeze {
            axes: a.ints("axes"),
        },
        "Slice" => Op::Slice {
            attrs: if opset < 10 {
                Some((
                    a.ints("starts").unwrap_or_default(),
                    a.ints("ends").unwrap_or_default(),
                    a.ints("axes"),
                ))
            } else {
                None
            },
        },
        "Shape" => Op::Shape {
            start: a.int("start", 0),
            end: a.ints("end").map(|_| a.int("end", 0)),
        },
        "Cast" => Op::Cast {
            to: a.int("to", 1) as i32,
        },
        "Identity" | "Dropout" => Op::Identity,
        "ReduceMean" => Op::ReduceMean {
            axes: a.ints("axes"),
            keepdims: a.int("keepdims", 1) != 0,
        },
        "MatMul" => Op::MatMul(matmul::MatMul::default()),
        "Softmax" => Op::Softmax {
            axis: a.int("axis", if opset < 13 { 1 } else { -1 }),
            legacy: opset < 13,
        },
        _ => return Err(ParseError::Unsupported),
    })
}

/// Number of outputs a node must produce for the op (extra ONNX outputs such as
/// BatchNorm's training statistics are not supported).
pub(crate) fn check_outputs(op: &Op, n: usize) -> Result<(), String> {
    let ok = match op {
        Op::Identity => n >= 1,
        _ => n == 1,
    };
    if ok {
        Ok(())
    } else {
        Err(format!("{n} outputs are not supported for this operator"))
    }
}

fn req<'a>(inputs: &'a [Input<'a>], i: usize) -> Result<&'a Tensor, String> {
    inputs
        .get(i)
        .and_then(|x| x.opt())
        .ok_or_else(|| format!("missing required input #{i}"))
}

impl Op {
    /// Runs the op. `inputs` may contain owned tensors (last use); an op that reuses one
    /// takes it (leaving `Missing`), the caller recycles whatever owned input is left.
    pub(crate) fn run(
        &self,
        inputs: &mut [Input<'_>],
        alloc: &mut BufPool,
    ) -> Result<Vec<Tensor>, String> {
        if inputs.is_empty() || inputs[0].opt().is_none() {
            return Err("missing required input #0".into());
        }
        let out = match self {
            Op::Conv(c) => c.run(inputs, alloc)?,
            Op::Bands(b) => b.run(req(inputs, 0)?.as_f32()?, alloc)?,
            Op::ConvTranspose(c) => c.run(inputs, alloc)?,
            Op::ConvTransposes(c) => c.run(req(inputs, 0)?, alloc)?,
            Op::BatchNorm { eps } => {
                let x = req(inputs, 0)?.as_f32()?;
                let p = [1, 2, 3, 4].map(|i| req(inputs, i).and_then(|t| t.as_f32()));
                let [g, b, m, v] = p;
                reduce::batch_norm(x, [g?, b?, m?, v?], *eps, alloc)?
            }
            Op::Unary(chain) => {
                // Opset-11 Clip with bounds as (possibly runtime) inputs.
                let mut chain = chain.clone();
                if inputs.len() > 1 {
                    let lo = inputs
                        .get(1)
                        .and_then(|t| t.opt())
                        .and_then(|t| t.scalar_f32())
                        .unwrap_or(f32::MIN);
                    let hi = inputs
                        .get(2)
                        .and_then(|t| t.opt())
                        .and_then(|t| t.scalar_f32())
                        .unwrap_or(f32::MAX);
                    chain.insert(0, Step::Clip(lo, hi));
                }
                let x = std::mem::replace(&mut inputs[0], Input::Missing);
                elementwise::unary(&chain, x, alloc)?
            }
            Op::Binary(kind, post) => {
                if inputs.len() != 2 || inputs[1].opt().is_none() {
                    return Err("expected two inputs".into());
                }
                let (a, b) = inputs.split_at_mut(1);
                elementwise::binary(*kind, &mut a[0], &mut b[0], post, alloc)?
            }
            Op::Pool(p) => p.run(req(inputs, 0)?.as_f32()?, alloc)?,
            Op::GlobalAvgPool => pool::global_avg_pool(req(inputs, 0)?.as_f32()?, alloc)?,
            Op::Resize(r) => {
                // A fused Add's other operand comes first (see `Resize::add`).
                let (addend, inputs) = if r.add.is_some() {
                    let (a, rest) = inputs.split_at_mut(1);
                    (Some(std::mem::replace(&mut a[0], Input::Missing)), rest)
                } else {
                    (None, &mut *inputs)
                };
                let x = req(inputs, 0)?.as_f32()?;
                let (sc, sz) = resize::scales_sizes_slots(inputs.len());
                let scales = inputs.get(sc).and_then(|t| t.opt());
                let sizes = inputs.get(sz).and_then(|t| t.opt());
                match addend {
                    Some(a) if a.opt().is_some() => r.run_add(x, scales, sizes, a, alloc)?,
                    Some(_) => return Err("missing required input #0".into()),
                    None => r.run(x, scales, sizes, alloc)?,
                }
            }
            Op::Concat { axis, parts } if parts.is_empty() => {
                let ts: Vec<&Tensor> = inputs.iter().filter_map(|i| i.opt()).collect();
                shape::concat(&ts, *axis, alloc)?
            }
            Op::Concat { axis, parts } => {
                let ts = inputs
                    .iter()
                    .enumerate()
                    .map(|(i, t)| {
                        t.opt()
                            .ok_or_else(|| format!("missing required input #{i}"))
                    })
                    .collect::<Result<Vec<&Tensor>, String>>()?;
                concat::concat_parts(&ts, parts, *axis, alloc)?
            }
            Op::Reshape { allowzero } => {
                let s = req(inputs, 1)?.clone();
                let x = std::mem::replace(&mut inputs[0], Input::Missing);
                shape::reshape(x, &s, *allowzero)?
            }
            Op::Transpose { perm } => shape::transpose(req(inputs, 0)?, perm.as_deref())?,
            Op::Squeeze { axes } => {
                let axes = axes
                    .clone()
                    .or_else(|| inputs.get(1).and_then(|t| t.opt()).map(|t| t.to_i64_vec()));
                let x = std::mem::replace(&mut inputs[0], Input::Missing);
                shape::squeeze(x, axes)?
            }
            Op::Unsqueeze { axes } => {
                let axes = match axes {
                    Some(a) => a.clone(),
                    None => req(inputs, 1)?.to_i64_vec(),
                };
                let x = std::mem::replace(&mut inputs[0], Input::Missing);
                shape::unsqueeze(x, &axes)?
            }
            Op::Slice { attrs } => {
                let x = req(inputs, 0)?;
                match attrs {
                    Some((s, e, ax)) => shape::slice(x, s, e, ax.as_deref(), None)?,
                    None => {
                        let s = req(inputs, 1)?.to_i64_vec();
                        let e = req(inputs, 2)?.to_i64_vec();
                        let ax = inputs.get(3).and_then(|t| t.opt()).map(|t| t.to_i64_vec());
                        let st = inputs.get(4).and_then(|t| t.opt()).map(|t| t.to_i64_vec());
                        shape::slice(x, &s, &e, ax.as_deref(), st.as_deref())?
                    }
                }
            }
            Op::Shape { start, end } => shape::shape_of(req(inputs, 0)?, *start, *end),
            Op::Cast { to } => {
                let x = std::mem::replace(&mut inputs[0], Input::Missing);
                shape::cast(x, *to)?
            }
            Op::Identity => std::mem::replace(&mut inputs[0], Input::Missing).into_owned(),
            Op::ReduceMean { axes, keepdims } => {
                let axes = axes
                    .clone()
                    .or_else(|| inputs.get(1).and_then(|t| t.opt()).map(|t| t.to_i64_vec()));
                reduce::reduce_mean(req(inputs, 0)?.as_f32()?, axes.as_deref(), *keepdims)?
            }
            Op::MatMul(mm) => {
                let b = match &mm.packed_b {
                    Some(_) => None,
                    None => Some(req(inputs, 1)?.as_f32()?),
                };
                mm.run(req(inputs, 0)?.as_f32()?, b, alloc)?
            }
            Op::Softmax { axis, legacy } => {
                let x = std::mem::replace(&mut inputs[0], Input::Missing);
                reduce::softmax(x, *axis, *legacy, alloc)?
            }
            Op::LayerNorm { eps } => {
                let g = inputs
                    .get(1)
                    .and_then(|t| t.opt())
                    .map(|t| t.as_f32())
                    .transpose()?;
                let b = inputs
                    .get(2)
                    .and_then(|t| t.opt())
                    .map(|t| t.as_f32())
                    .transpose()?;
                reduce::layer_norm(
                    req(inputs, 0)?.as_f32()?,
                    g.map(data),
                    b.map(data),
                    *eps,
                    alloc,
                )?
            }
        };
        Ok(vec![out])
    }
}
