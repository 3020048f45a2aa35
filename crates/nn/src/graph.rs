//! Building the engine's graph from a decoded `ModelProto`.
//!
//! Values (tensors flowing between nodes) get dense integer ids. Initializers and
//! `Constant` nodes become constant values; every other node is parsed into an
//! [`Op`]. All size checks that protect against hostile files happen here.

use crate::error::Error;
use crate::ops::{self, Op, ParseError};
use crate::proto::{data_type, AttributeProto, GraphProto, ModelProto, NodeProto, TensorProto};
use crate::tensor::{checked_numel, f32_array, i64_array, Tensor};
use std::collections::HashMap;

pub(crate) type ValueId = usize;

/// Most nodes a model may have (the PP-OCR models have < 1000).
const MAX_NODES: usize = 200_000;
/// Highest tensor rank we accept.
const MAX_RANK: usize = 16;

#[derive(Clone, Debug)]
pub(crate) struct Node {
    pub name: String,
    pub op_type: String,
    pub op: Op,
    pub inputs: Vec<Option<ValueId>>,
    pub outputs: Vec<ValueId>,
}

#[derive(Clone, Debug)]
pub(crate) struct GraphInput {
    pub name: String,
    pub id: ValueId,
    /// Declared dims (`None` = dynamic); `None` overall when the model declares no shape.
    pub dims: Option<Vec<Option<usize>>>,
}

#[derive(Clone, Debug)]
pub(crate) struct Graph {
    pub names: Vec<String>,
    pub consts: Vec<Option<Tensor>>,
    pub nodes: Vec<Node>,
    pub inputs: Vec<GraphInput>,
    pub outputs: Vec<(String, ValueId)>,
}

impl Graph {
    pub fn new_value(&mut self, name: String, value: Option<Tensor>) -> ValueId {
        self.names.push(name);
        self.consts.push(value);
        self.names.len() - 1
    }

    pub fn is_const(&self, v: ValueId) -> bool {
        self.consts[v].is_some()
    }
}

fn invalid(msg: impl Into<String>) -> Error {
    Error::InvalidModel(msg.into())
}

/// Node name for messages: its own name, or `#index (op)` when unnamed.
pub(crate) fn display_name(node: &NodeProto, index: usize) -> String {
    if node.name.is_empty() {
        format!("#{index}")
    } else {
        node.name.clone()
    }
}

pub(crate) fn build(model: &ModelProto) -> Result<Graph, Error> {
    let opset = model
        .opset_import
        .iter()
        .filter(|o| o.domain.is_empty() || o.domain == "ai.onnx")
        .map(|o| o.version)
        .max()
        .ok_or_else(|| invalid("the model declares no opset for the default ONNX domain"))?;
    let g: &GraphProto = model
        .graph
        .as_ref()
        .ok_or_else(|| invalid("the model has no graph"))?;
    if g.node.len() > MAX_NODES {
        return Err(invalid(format!(
            "{} nodes exceeds the limit of {MAX_NODES}",
            g.node.len()
        )));
    }
    let mut graph = Graph {
        names: vec![],
        consts: vec![],
        nodes: vec![],
        inputs: vec![],
        outputs: vec![],
    };
    let mut ids: HashMap<String, ValueId> = HashMap::new();

    for init in &g.initializer {
        let t = tensor_from_proto(init)
            .map_err(|m| invalid(format!("initializer `{}`: {m}", init.name)))?;
        let id = graph.new_value(init.name.clone(), Some(t));
        ids.insert(init.name.clone(), id);
    }
    for inp in &g.input {
        if ids.contains_key(&inp.name) {
            continue; // IR < 4 lists initializers as inputs too.
        }
        let dims = inp
            .r#type
            .as_ref()
            .and_then(|t| t.tensor_type.as_ref())
            .and_then(|t| t.shape.as_ref())
            .map(|s| {
                s.dim
                    .iter()
                    .map(|d| d.dim_value.filter(|&v| v > 0).map(|v| v as usize))
                    .collect::<Vec<_>>()
            });
        if let Some(t) = inp.r#type.as_ref().and_then(|t| t.tensor_type.as_ref()) {
            if t.elem_type != data_type::FLOAT && t.elem_type != 0 {
                return Err(invalid(format!(
                    "input `{}` has element type {}; only float32 inputs are supported",
                    inp.name, t.elem_type
                )));
            }
        }
        let id = graph.new_value(inp.name.clone(), None);
        ids.insert(inp.name.clone(), id);
        graph.inputs.push(GraphInput {
            name: inp.name.clone(),
            id,
            dims,
        });
    }

    for (index, node) in g.node.iter().enumerate() {
        let name = display_name(node, index);
        if node.op_type == "Constant" && (node.domain.is_empty() || node.domain == "ai.onnx") {
            let t = constant_value(&node.attribute)
                .map_err(|m| invalid(format!("Constant node `{name}`: {m}")))?;
            let out = node
                .output
                .first()
                .ok_or_else(|| invalid(format!("Constant node `{name}` has no output")))?;
            if ids.contains_key(out) {
                return Err(invalid(format!("value `{out}` is defined twice")));
            }
            let id = graph.new_value(out.clone(), Some(t));
            ids.insert(out.clone(), id);
            continue;
        }
        let mut inputs = Vec::with_capacity(node.input.len());
        for i in &node.input {
            if i.is_empty() {
                inputs.push(None);
            } else {
                let id = *ids.get(i).ok_or_else(|| {
                    invalid(format!(
                        "node `{name}` ({}) reads `{i}`, which is not a graph input, initializer or output of an earlier node",
                        node.op_type
                    ))
                })?;
                inputs.push(Some(id));
            }
        }
        // Kernel size from a constant weight, for convs that omit kernel_shape.
        let weight_kernel = match node.op_type.as_str() {
            "Conv" | "ConvTranspose" => inputs
                .get(1)
                .copied()
                .flatten()
                .and_then(|w| graph.consts[w].as_ref())
                .filter(|t| t.shape().len() == 4)
                .map(|t| [t.shape()[2], t.shape()[3]]),
            _ => None,
        };
        let op = ops::parse(node, opset, weight_kernel).map_err(|e| match e {
            ParseError::Unsupported => Error::UnsupportedOp {
                op: if node.domain.is_empty() {
                    node.op_type.clone()
                } else {
                    format!("{}::{}", node.domain, node.op_type)
                },
                node: name.clone(),
                detail: String::new(),
            },
            ParseError::Attr(m) => Error::UnsupportedOp {
                op: node.op_type.clone(),
                node: name.clone(),
                detail: format!(": {m}"),
            },
        })?;
        ops::check_outputs(&op, node.output.len()).map_err(|m| Error::UnsupportedOp {
            op: node.op_type.clone(),
            node: name.clone(),
            detail: format!(": {m}"),
        })?;
        let mut outputs = Vec::with_capacity(node.output.len());
        for o in &node.output {
            if !o.is_empty() && ids.contains_key(o) {
                return Err(invalid(format!(
                    "value `{o}` is defined twice (node `{name}`)"
                )));
            }
            let id = graph.new_value(o.clone(), None);
            if !o.is_empty() {
                ids.insert(o.clone(), id);
            }
            outputs.push(id);
        }
        graph.nodes.push(Node {
            name,
            op_type: node.op_type.clone(),
            op,
            inputs,
            outputs,
        });
    }

    for out in &g.output {
        let id = *ids
            .get(&out.name)
            .ok_or_else(|| invalid(format!("graph output `{}` is never produced", out.name)))?;
        graph.outputs.push((out.name.clone(), id));
    }
    if graph.outputs.is_empty() {
        return Err(invalid("the graph has no outputs"));
    }
    Ok(graph)
}

/// Value of a `Constant` node (any of its attribute forms).
fn constant_value(attrs: &[AttributeProto]) -> Result<Tensor, String> {
    let a = attrs.first().ok_or("no value attribute")?;
    match a.name.as_str() {
        "value" => tensor_from_proto(a.t.as_ref().ok_or("`value` attribute holds no tensor")?),
        "value_float" => Ok(Tensor::F32(f32_array(&[], vec![a.f]))),
        "value_floats" => Ok(Tensor::F32(f32_array(&[a.floats.len()], a.floats.clone()))),
        "value_int" => Ok(Tensor::I64(i64_array(&[], vec![a.i]))),
        "value_ints" => Ok(Tensor::I64(i64_array(&[a.ints.len()], a.ints.clone()))),
        other => Err(format!("unsupported attribute `{other}`")),
    }
}

/// Converts a `TensorProto` to a tensor, checking sizes against the bytes actually
/// present (so a header cannot make us allocate more than the file holds).
pub(crate) fn tensor_from_proto(t: &TensorProto) -> Result<Tensor, String> {
    if t.data_location == 1 {
        return Err(
            "external tensor data is not supported (embed the weights in the .onnx file)".into(),
        );
    }
    if t.dims.len() > MAX_RANK {
        return Err(format!("rank {} exceeds {MAX_RANK}", t.dims.len()));
    }
    let mut shape = Vec::with_capacity(t.dims.len());
    for &d in &t.dims {
        shape.push(usize::try_from(d).map_err(|_| format!("negative dimension {d}"))?);
    }
    let n = checked_numel(&shape)?;
    let raw = &t.raw_data;
    let from_raw = !raw.is_empty() || n == 0;
    let check = |have: usize| {
        if have == n {
            Ok(())
        } else {
            Err(format!(
                "shape {shape:?} needs {n} elements but the tensor holds {have}"
            ))
        }
    };
    let le4 = |c: &[u8]| [c[0], c[1], c[2], c[3]];
    match t.data_type {
        data_type::FLOAT => {
            let v: Vec<f32> = if from_raw {
                check(raw.len() / 4).and(if raw.len().is_multiple_of(4) {
                    Ok(())
                } else {
                    Err("raw_data length is not a multiple of 4".to_string())
                })?;
                raw.chunks_exact(4)
                    .map(|c| f32::from_le_bytes(le4(c)))
                    .collect()
            } else {
                check(t.float_data.len())?;
                t.float_data.clone()
            };
            Ok(Tensor::F32(f32_array(&shape, v)))
        }
        data_type::DOUBLE => {
            let v: Vec<f32> = if from_raw {
                check(raw.len() / 8)?;
                raw.chunks_exact(8)
                    .map(|c| {
                        f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]) as f32
                    })
                    .collect()
            } else {
                check(t.double_data.len())?;
                t.double_data.iter().map(|&d| d as f32).collect()
            };
            Ok(Tensor::F32(f32_array(&shape, v)))
        }
        data_type::INT64 => {
            let v: Vec<i64> = if from_raw {
                check(raw.len() / 8)?;
                raw.chunks_exact(8)
                    .map(|c| i64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
                    .collect()
            } else {
                check(t.int64_data.len())?;
                t.int64_data.clone()
            };
            Ok(Tensor::I64(i64_array(&shape, v)))
        }
        data_type::INT32 => {
            let v: Vec<i64> = if from_raw {
                check(raw.len() / 4)?;
                raw.chunks_exact(4)
                    .map(|c| i32::from_le_bytes(le4(c)) as i64)
                    .collect()
            } else {
                check(t.int32_data.len())?;
                t.int32_data.iter().map(|&x| x as i64).collect()
            };
            Ok(Tensor::I64(i64_array(&shape, v)))
        }
        data_type::BOOL | data_type::UINT8 | data_type::INT8 => {
            let signed = t.data_type == data_type::INT8;
            let v: Vec<i64> = if from_raw {
                check(raw.len())?;
                raw.iter()
                    .map(|&b| if signed { b as i8 as i64 } else { b as i64 })
                    .collect()
            } else {
                check(t.int32_data.len())?;
                t.int32_data.iter().map(|&x| x as i64).collect()
            };
            Ok(Tensor::I64(i64_array(&shape, v)))
        }
        other => Err(format!("tensor data type {other} is not supported")),
    }
}
