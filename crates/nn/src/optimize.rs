//! Load-time graph preparation.
//!
//! Passes, in order:
//! 1. Identity removal and constant folding (this also folds the all-constant shape
//!    arithmetic exporters emit, e.g. `Cast(Constant)`).
//! 2. Canonicalization: scalar-constant binary ops and constant-bound `Clip` become
//!    elementwise [`Step`]s.
//! 3. Elementwise fusion: single-consumer unary chains merge; `x * f(x)` becomes
//!    `MulSelf(f)` and is recognized as HardSwish / Swish / GELU.
//! 4. LayerNorm pattern → one kernel.
//! 5. Producer fusion: BatchNorm, per-channel affine and leading scale/shift steps fold
//!    into Conv weights; remaining activation chains run as the Conv/MatMul/Binary
//!    epilogue; `MatMul + bias` fuses.
//! 6. Dead-node removal, then Conv weights are captured into the op.
//!
//! Every rewrite is checked by the fixture tests, which run each model both with and
//! without this module.

use crate::error::Error;
use crate::graph::{Graph, Node, ValueId};
use crate::ops::concat::Part;
use crate::ops::conv::{ChannelAffine, ConvTranspose, ConvWeights, CtWeights};
use crate::ops::elementwise::{BinKind, Step};
use crate::ops::reduce::bn_affine;
use crate::ops::{Input, Op};
use crate::packed::PackedB;
use crate::tensor::{data, Tensor};

pub(crate) fn prepare(g: &mut Graph, optimize: bool) -> Result<(), Error> {
    remove_identities(g);
    if !optimize {
        remove_dead(g);
        return Ok(());
    }
    fold_constants(g)?;
    let f32v = infer_float(g);
    canonicalize(g, &f32v);
    rewrite_residual_scale(g, &f32v);
    loop {
        let mut changed = false;
        changed |= fuse_unary_chains(g);
        changed |= fuse_mul_self(g);
        if !changed {
            break;
        }
    }
    for n in &mut g.nodes {
        if let Op::Unary(c) = &mut n.op {
            simplify_chain(c);
        }
    }
    fuse_layer_norm(g);
    // Conv folds first: a per-channel Add after a Conv must fold into the Conv before
    // the Add picks up the activation that follows it.
    while fuse_into_conv(g, &f32v)? {}
    while fuse_into_binary_or_matmul(g) {}
    for n in &mut g.nodes {
        match &mut n.op {
            Op::Unary(c) | Op::Binary(_, c) => simplify_chain(c),
            Op::Conv(c) => simplify_chain(&mut c.post),
            Op::ConvTranspose(c) => simplify_chain(&mut c.post),
            Op::MatMul(m) => simplify_chain(&mut m.post),
            _ => {}
        }
    }
    remove_dead(g);
    flush_subnormal_constants(g);
    capture_conv_weights(g)?;
    if !skipped("bands") {
        fuse_conv_bands(g);
    }
    if !skipped("concat") {
        fuse_producers_into_concat(g);
    }
    if !skipped("convt") {
        fuse_convt_chains(g);
    }
    drop_unused_constants(g);
    Ok(())
}

/// Whether the load-time pass `name` (`affine`, `bands`, `concat`, `convt`) is switched off by the
/// `WENZI_NN_SKIP` environment variable (comma-separated names, read at each load): for
/// timing a fusion against the plain graph inside one process (`examples/ab_pass.rs`).
fn skipped(name: &str) -> bool {
    std::env::var("WENZI_NN_SKIP").is_ok_and(|v| v.split(',').any(|p| p.trim() == name))
}

/// Replaces subnormal values (|v| < f32::MIN_POSITIVE, about 1.2e-38) by zero.
///
/// Some exported weights are mostly subnormal (PP-OCRv6 det has two 768→384 1×1 convs
/// with 24 % and 63 % subnormal weights). Every multiply with a subnormal operand takes a
/// microcode assist on Intel cores, which made those two convs ~25× slower than their
/// neighbours. A subnormal weight contributes below 1e-35 to a sum; zeroing it changes no
/// output at f32 precision unless the whole sum is itself subnormal.
pub(crate) fn flush_subnormals(v: &mut [f32]) {
    for x in v.iter_mut() {
        if x.is_subnormal() {
            *x = 0.0;
        }
    }
}

/// [`flush_subnormals`] on every weight an op owns and on float constants that only feed
/// products and sums (Conv, ConvTranspose, MatMul, Mul, Add, Sub). Constants read by
/// anything else (a divisor, an exponent, a shape) are left exact: there zero is not a
/// harmless stand-in for 1e-39.
fn flush_subnormal_constants(g: &mut Graph) {
    let mut safe = vec![true; g.consts.len()];
    for n in &g.nodes {
        let linear = matches!(
            n.op,
            Op::Conv(_)
                | Op::ConvTranspose(_)
                | Op::MatMul(_)
                | Op::Binary(BinKind::Mul | BinKind::Add | BinKind::Sub, _)
        );
        if !linear {
            for v in n.inputs.iter().flatten() {
                safe[*v] = false;
            }
        }
    }
    for (_, v) in &g.outputs {
        safe[*v] = false;
    }
    for (t, ok) in g.consts.iter_mut().zip(safe) {
        if let (Some(Tensor::F32(a)), true) = (t, ok) {
            if let Some(s) = a.as_slice_mut() {
                flush_subnormals(s);
            }
        }
    }
    for n in &mut g.nodes {
        match &mut n.op {
            Op::Conv(c) => {
                if let Some(w) = &mut c.weights {
                    flush_subnormals(&mut w.w);
                    flush_subnormals(&mut w.bias);
                    w.packed.clear();
                }
            }
            Op::ConvTranspose(c) => {
                if let Some(w) = &mut c.weights {
                    flush_subnormals(&mut w.w);
                    flush_subnormals(&mut w.bias);
                    w.packed.clear();
                }
            }
            Op::MatMul(m) => {
                if let Some(b) = &mut m.bias {
                    flush_subnormals(b);
                }
            }
            _ => {}
        }
    }
}

/// Frees constants no node reads any more (weights now owned, packed, by their ops;
/// folded BatchNorm parameters; ...), so a loaded model holds each weight once.
fn drop_unused_constants(g: &mut Graph) {
    let mut used = vec![false; g.consts.len()];
    for n in &g.nodes {
        for v in n.inputs.iter().flatten() {
            used[*v] = true;
        }
    }
    for (_, v) in &g.outputs {
        used[*v] = true;
    }
    for (c, u) in g.consts.iter_mut().zip(used) {
        if !u && c.is_some() {
            // Keep the slot marked constant (an empty tensor) so value kinds stay stable.
            *c = Some(Tensor::F32(ndarray::ArrayD::zeros(ndarray::IxDyn(&[0]))));
        }
    }
}

/// Short label of an op for diagnostics.
pub(crate) fn describe(op: &Op) -> String {
    let base = |s: &str| {
        s.split(|c: char| !c.is_alphanumeric())
            .next()
            .unwrap_or("")
            .to_string()
    };
    match op {
        Op::Unary(c) => format!("Unary{}", chain_label(c)),
        Op::Binary(k, c) => format!("{k:?}{}", chain_label(c)),
        Op::Conv(c) => format!("Conv{}", chain_label(&c.post)),
        Op::Bands(b) => format!("Bands×{}", b.stages().len()),
        Op::ConvTransposes(c) => format!("ConvTranspose×{}", c.stages.len()),
        Op::Resize(r) if r.add.is_some() => {
            format!("Resize+Add{}", chain_label(r.add.as_deref().unwrap_or(&[])))
        }
        Op::Concat { parts, .. } if parts.iter().any(Option::is_some) => {
            let mut label = "Concat".to_string();
            for name in ["Pool", "Bands", "Resize"] {
                match parts.iter().flatten().filter(|p| p.name() == name).count() {
                    0 => {}
                    1 => label += &format!("+{name}"),
                    k => label += &format!("+{name}×{k}"),
                }
            }
            label
        }
        Op::MatMul(m) => format!(
            "MatMul{}{}",
            if m.bias.is_some() { "+bias" } else { "" },
            chain_label(&m.post)
        ),
        other => base(&format!("{other:?}")),
    }
}

fn chain_label(c: &[Step]) -> String {
    c.iter()
        .map(|s| {
            format!(
                "+{}",
                format!("{s:?}")
                    .split(|c: char| !c.is_alphanumeric())
                    .next()
                    .unwrap_or("")
            )
        })
        .collect()
}

// ---------------------------------------------------------------------------
// Graph helpers

struct Uses {
    /// `consumers[v]` = list of (node index, input slot)
    consumers: Vec<Vec<(usize, usize)>>,
    producer: Vec<Option<usize>>,
    is_output: Vec<bool>,
}

impl Uses {
    fn new(g: &Graph) -> Uses {
        let nv = g.names.len();
        let mut consumers = vec![Vec::new(); nv];
        let mut producer = vec![None; nv];
        for (j, n) in g.nodes.iter().enumerate() {
            for (i, v) in n.inputs.iter().enumerate() {
                if let Some(v) = v {
                    consumers[*v].push((j, i));
                }
            }
            for &o in &n.outputs {
                producer[o] = Some(j);
            }
        }
        let mut is_output = vec![false; nv];
        for (_, v) in &g.outputs {
            is_output[*v] = true;
        }
        Uses {
            consumers,
            producer,
            is_output,
        }
    }

    /// The single consumer node of `v`, if `v` has exactly one use and is not a graph
    /// output (so it can disappear into a fused node).
    fn sole_consumer(&self, v: ValueId) -> Option<usize> {
        match self.consumers[v].as_slice() {
            [(j, _)] if !self.is_output[v] => Some(*j),
            _ => None,
        }
    }
}

fn const_of(g: &Graph, v: Option<ValueId>) -> Option<&Tensor> {
    v.and_then(|v| g.consts[v].as_ref())
}

/// Removes the nodes flagged in `dead`.
fn compact(g: &mut Graph, dead: &[bool]) {
    let mut i = 0;
    g.nodes.retain(|_| {
        let keep = !dead[i];
        i += 1;
        keep
    });
}

// ---------------------------------------------------------------------------
// Passes

fn remove_identities(g: &mut Graph) {
    let mut alias: Vec<ValueId> = (0..g.names.len()).collect();
    let mut dead = vec![false; g.nodes.len()];
    for (j, n) in g.nodes.iter_mut().enumerate() {
        for v in n.inputs.iter_mut().flatten() {
            *v = alias[*v];
        }
        if matches!(n.op, Op::Identity) && n.outputs.len() == 1 {
            if let Some(Some(src)) = n.inputs.first() {
                alias[n.outputs[0]] = *src;
                dead[j] = true;
            }
        }
    }
    for (_, v) in &mut g.outputs {
        *v = alias[*v];
    }
    compact(g, &dead);
}

fn remove_dead(g: &mut Graph) {
    let mut live = vec![false; g.names.len()];
    for (_, v) in &g.outputs {
        live[*v] = true;
    }
    let mut dead = vec![false; g.nodes.len()];
    for (j, n) in g.nodes.iter().enumerate().rev() {
        if n.outputs.iter().any(|&o| live[o]) {
            for v in n.inputs.iter().flatten() {
                live[*v] = true;
            }
        } else {
            dead[j] = true;
        }
    }
    compact(g, &dead);
}

#[allow(clippy::needless_range_loop)] // g.consts is written inside the loop
fn fold_constants(g: &mut Graph) -> Result<(), Error> {
    let mut dead = vec![false; g.nodes.len()];
    for j in 0..g.nodes.len() {
        let n = &g.nodes[j];
        if n.inputs.iter().flatten().any(|v| g.consts[*v].is_none())
            || n.inputs.iter().all(|v| v.is_none())
        {
            continue;
        }
        let mut inputs: Vec<Input<'_>> = n
            .inputs
            .iter()
            .map(|v| match v {
                Some(v) => Input::Ref(g.consts[*v].as_ref().expect("checked above")),
                None => Input::Missing,
            })
            .collect();
        let mut alloc = crate::exec::BufPool::default();
        let outs =
            n.op.run(&mut inputs, &mut alloc)
                .map_err(|msg| Error::Node {
                    node: n.name.clone(),
                    op: n.op_type.clone(),
                    msg,
                })?;
        let ids = n.outputs.clone();
        for (o, t) in ids.into_iter().zip(outs) {
            g.consts[o] = Some(t);
        }
        dead[j] = true;
    }
    compact(g, &dead);
    Ok(())
}

/// Which values are float tensors (vs. integer shape arithmetic).
fn infer_float(g: &Graph) -> Vec<bool> {
    let mut f = vec![true; g.names.len()];
    for (v, c) in g.consts.iter().enumerate() {
        if let Some(c) = c {
            f[v] = matches!(c, Tensor::F32(_));
        }
    }
    for n in &g.nodes {
        let first = n
            .inputs
            .first()
            .copied()
            .flatten()
            .map(|v| f[v])
            .unwrap_or(true);
        let is_f = match &n.op {
            Op::Shape { .. } => false,
            Op::Cast { to } => matches!(*to, 1 | 11),
            Op::Binary(..) => n.inputs.iter().flatten().all(|v| f[*v]),
            Op::Concat { .. } => n.inputs.iter().flatten().all(|v| f[*v]),
            Op::Reshape { .. }
            | Op::Transpose { .. }
            | Op::Squeeze { .. }
            | Op::Unsqueeze { .. }
            | Op::Slice { .. }
            | Op::Identity => first,
            _ => true,
        };
        for &o in &n.outputs {
            f[o] = is_f;
        }
    }
    f
}

/// Scalar value of a one-element constant of rank ≤ 1 (broadcasting it cannot change
/// the other operand's shape, as long as that operand has rank ≥ 1).
fn scalar_const(g: &Graph, v: Option<ValueId>) -> Option<f32> {
    const_of(g, v)
        .filter(|t| t.shape().len() <= 1 && matches!(t, Tensor::F32(_)))
        .and_then(|t| t.scalar_f32())
}

fn canonicalize(g: &mut Graph, f32v: &[bool]) {
    for j in 0..g.nodes.len() {
        let n = &g.nodes[j];
        let replacement = match &n.op {
            Op::Unary(c) if c.is_empty() && n.op_type == "Clip" => {
                let lo = n.inputs.get(1).copied().flatten();
                let hi = n.inputs.get(2).copied().flatten();
                let lo_v = match lo {
                    None => Some(f32::MIN),
                    Some(_) => scalar_const(g, lo),
                };
                let hi_v = match hi {
                    None => Some(f32::MAX),
                    Some(_) => scalar_const(g, hi),
                };
                match (lo_v, hi_v) {
                    (Some(l), Some(h)) => Some((vec![Step::Clip(l, h)], n.inputs[0])),
                    _ => None,
                }
            }
            Op::Binary(kind, post) if post.is_empty() && n.inputs.len() == 2 => {
                let (a, b) = (n.inputs[0], n.inputs[1]);
                let runtime_float =
                    |v: Option<ValueId>| v.is_some_and(|v| g.consts[v].is_none() && f32v[v]);
                if let (true, Some(c)) = (runtime_float(a), scalar_const(g, b)) {
                    let step = match kind {
                        BinKind::Add => Step::AddC(c),
                        BinKind::Sub => Step::AddC(-c),
                        BinKind::Mul => Step::MulC(c),
                        BinKind::Div => Step::DivC(c),
                        BinKind::Pow => Step::PowC(c),
                    };
                    Some((vec![step], a))
                } else if let (Some(c), true) = (scalar_const(g, a), runtime_float(b)) {
                    match kind {
                        BinKind::Add => Some((vec![Step::AddC(c)], b)),
                        BinKind::Sub => Some((vec![Step::RSubC(c)], b)),
                        BinKind::Mul => Some((vec![Step::MulC(c)], b)),
                        BinKind::Div => Some((vec![Step::RDivC(c)], b)),
                        BinKind::Pow => None,
                    }
                } else {
                    None
                }
            }
            _ => None,
        };
        if let Some((chain, x)) = replacement {
            let n = &mut g.nodes[j];
            n.op = Op::Unary(chain);
            n.inputs = vec![x];
        }
    }
}

/// `x + x·s` (the squeeze-excitation residual in PP-LCNet) becomes `x·(s + 1)`: one
/// pass over the big tensor instead of two; `s + 1` runs on the small `[N, C, 1, 1]`.
fn rewrite_residual_scale(g: &mut Graph, f32v: &[bool]) {
    let uses = Uses::new(g);
    for j in 0..g.nodes.len() {
        let n = &g.nodes[j];
        if !matches!(&n.op, Op::Binary(BinKind::Add, p) if p.is_empty()) || n.inputs.len() != 2 {
            continue;
        }
        for (xi, mi) in [(0, 1), (1, 0)] {
            let (Some(x), Some(m)) = (n.inputs[xi], n.inputs[mi]) else {
                continue;
            };
            let Some(p) = uses.producer[m] else { continue };
            if uses.sole_consumer(m) != Some(j) || !f32v[x] {
                continue;
            }
            let pn = &g.nodes[p];
            if !matches!(&pn.op, Op::Binary(BinKind::Mul, q) if q.is_empty())
                || pn.inputs.len() != 2
            {
                continue;
            }
            let sc = match (pn.inputs[0], pn.inputs[1]) {
                (Some(a), Some(b)) if a == x && b != x => b,
                (Some(a), Some(b)) if b == x && a != x => a,
                _ => continue,
            };
            if g.consts[sc].is_some() || !f32v[sc] {
                continue;
            }
            let pn = &mut g.nodes[p];
            pn.op = Op::Unary(vec![Step::AddC(1.0)]);
            pn.inputs = vec![Some(sc)];
            let n = &mut g.nodes[j];
            n.op = Op::Binary(BinKind::Mul, vec![]);
            n.inputs = vec![Some(x), Some(m)];
            break;
        }
    }
}

/// `Unary(a) -> Unary(b)` with a single-use intermediate becomes `Unary(a ++ b)`.
fn fuse_unary_chains(g: &mut Graph) -> bool {
    let uses = Uses::new(g);
    let mut dead = vec![false; g.nodes.len()];
    let mut changed = false;
    for j in 0..g.nodes.len() {
        if dead[j]
            || !matches!(&g.nodes[j].op, Op::Unary(c) if !c.is_empty())
            || g.nodes[j].inputs.len() != 1
        {
            continue;
        }
        let out = g.nodes[j].outputs[0];
        let Some(k) = uses.sole_consumer(out) else {
            continue;
        };
        if dead[k] || g.nodes[k].inputs.len() != 1 {
            continue;
        }
        let Op::Unary(next) = &g.nodes[k].op else {
            continue;
        };
        if next.is_empty() {
            continue;
        }
        let next = next.clone();
        let new_out = g.nodes[k].outputs.clone();
        if let Op::Unary(c) = &mut g.nodes[j].op {
            c.extend(next);
        }
        // Node j moves to k's position so that k's consumers still come after it.
        let mut moved = g.nodes[j].clone();
        moved.outputs = new_out;
        g.nodes[k] = moved;
        dead[j] = true;
        changed = true;
        return finish(g, &dead, changed);
    }
    finish(g, &dead, changed)
}

fn finish(g: &mut Graph, dead: &[bool], changed: bool) -> bool {
    compact(g, dead);
    changed
}

/// `Mul(x, Unary(f)(x))` becomes `Unary(MulSelf(f))(x)`.
fn fuse_mul_self(g: &mut Graph) -> bool {
    let uses = Uses::new(g);
    for j in 0..g.nodes.len() {
        let n = &g.nodes[j];
        if !matches!(&n.op, Op::Binary(BinKind::Mul, p) if p.is_empty()) || n.inputs.len() != 2 {
            continue;
        }
        for (xi, fi) in [(0, 1), (1, 0)] {
            let (Some(x), Some(fv)) = (n.inputs[xi], n.inputs[fi]) else {
                continue;
            };
            let Some(p) = uses.producer[fv] else { continue };
            if uses.sole_consumer(fv) != Some(j) {
                continue;
            }
            let pn = &g.nodes[p];
            let Op::Unary(f) = &pn.op else { continue };
            if f.is_empty() || pn.inputs != [Some(x)] {
                continue;
            }
            let f = f.clone();
            let node = &mut g.nodes[j];
            node.op = Op::Unary(vec![Step::MulSelf(f)]);
            node.inputs = vec![Some(x)];
            let mut dead = vec![false; g.nodes.len()];
            dead[p] = true;
            compact(g, &dead);
            return true;
        }
    }
    false
}

/// Drops identity steps and recognizes the fused activation forms.
fn simplify_chain(c: &mut Vec<Step>) {
    c.retain(|s| {
        !matches!(s, Step::MulC(v) | Step::DivC(v) if *v == 1.0)
            && !matches!(s, Step::AddC(v) if *v == 0.0)
    });
    for s in c.iter_mut() {
        if let Step::MulSelf(f) = s {
            simplify_chain(f);
            match f.as_slice() {
                [Step::HardSigmoid { alpha, beta }] => {
                    *s = Step::HardSwish {
                        alpha: *alpha,
                        beta: *beta,
                    }
                }
                [Step::Sigmoid] => *s = Step::Swish,
                _ => {}
            }
        }
    }
    // HardSwish as exported by Paddle: x * clip(x + 3, 0, 6) / 6.
    let mut i = 0;
    while i + 1 < c.len() {
        let hs = matches!(&c[i], Step::MulSelf(f) if f.as_slice() == [Step::AddC(3.0), Step::Clip(0.0, 6.0)]);
        if hs && c[i + 1] == Step::DivC(6.0) {
            c[i] = Step::HardSwish {
                alpha: 1.0 / 6.0,
                beta: 0.5,
            };
            c.remove(i + 1);
        }
        // GELU: x * (erf(x / √2) + 1) * 0.5
        let gelu = matches!(&c[i], Step::MulSelf(f) if matches!(f.as_slice(),
            [Step::DivC(d), Step::Erf, Step::AddC(o)] if (*d - std::f32::consts::SQRT_2).abs() < 1e-6 && *o == 1.0)
            || matches!(f.as_slice(),
            [Step::MulC(m), Step::Erf, Step::AddC(o)] if (*m - std::f32::consts::FRAC_1_SQRT_2).abs() < 1e-6 && *o == 1.0));
        if gelu && i + 1 < c.len() && c[i + 1] == Step::MulC(0.5) {
            c[i] = Step::Gelu;
            c.remove(i + 1);
        }
        i += 1;
    }
}

fn reduce_last_axis(op: &Op) -> bool {
    matches!(op, Op::ReduceMean { axes: Some(a), keepdims: true } if a.as_slice() == [-1])
}

/// `ReduceMean/Sub/Pow/ReduceMean/Add/Sqrt/Div[/Mul γ][/Add β]` → `LayerNorm`.
fn fuse_layer_norm(g: &mut Graph) {
    loop {
        let uses = Uses::new(g);
        let mut found = None;
        for (j, n) in g.nodes.iter().enumerate() {
            // Div(d, s)
            if !matches!(&n.op, Op::Binary(BinKind::Div, p) if p.is_empty()) {
                continue;
            }
            let (Some(d), Some(s)) = (n.inputs[0], n.inputs[1]) else {
                continue;
            };
            let prod = |v: ValueId| uses.producer[v].map(|p| (p, &g.nodes[p]));
            // s = Unary([AddC(eps), Sqrt])(var)
            let Some((sj, sn)) = prod(s) else { continue };
            let eps = match &sn.op {
                Op::Unary(c) => match c.as_slice() {
                    [Step::AddC(e), Step::Sqrt] => *e,
                    _ => continue,
                },
                _ => continue,
            };
            let Some(var) = sn.inputs[0] else { continue };
            let Some((vj, vn)) = prod(var) else { continue };
            if !reduce_last_axis(&vn.op) {
                continue;
            }
            let Some(sq) = vn.inputs[0] else { continue };
            let Some((qj, qn)) = prod(sq) else { continue };
            if !matches!(&qn.op, Op::Unary(c) if c.as_slice() == [Step::PowC(2.0)])
                || qn.inputs[0] != Some(d)
            {
                continue;
            }
            let Some((dj, dn)) = prod(d) else { continue };
            if !matches!(&dn.op, Op::Binary(BinKind::Sub, p) if p.is_empty()) {
                continue;
            }
            let (Some(x), Some(m)) = (dn.inputs[0], dn.inputs[1]) else {
                continue;
            };
            let Some((mj, mn)) = prod(m) else { continue };
            if !reduce_last_axis(&mn.op) || mn.inputs[0] != Some(x) {
                continue;
            }
            // Intermediates must not be used elsewhere.
            let ok = uses.sole_consumer(m) == Some(dj)
                && uses.consumers[d].len() == 2
                && !uses.is_output[d]
                && uses.sole_consumer(sq) == Some(vj)
                && uses.sole_consumer(var) == Some(sj)
                && uses.sole_consumer(s) == Some(j);
            if !ok {
                continue;
            }
            // Optional affine tail with constant 1-D parameters.
            let mut last = j;
            let mut out = n.outputs[0];
            let mut gamma = None;
            let mut beta = None;
            for (kind, slot) in [(BinKind::Mul, &mut gamma), (BinKind::Add, &mut beta)] {
                let Some(k) = uses.sole_consumer(out) else {
                    break;
                };
                let kn = &g.nodes[k];
                if !matches!(&kn.op, Op::Binary(bk, p) if *bk == kind && p.is_empty()) {
                    break;
                }
                let other = if kn.inputs[0] == Some(out) {
                    kn.inputs[1]
                } else {
                    kn.inputs[0]
                };
                match const_of(g, other) {
                    Some(Tensor::F32(t)) if t.ndim() == 1 => {
                        *slot = other;
                        last = k;
                        out = kn.outputs[0];
                    }
                    _ => break,
                }
            }
            if gamma.is_none() && beta.is_some() {
                continue;
            }
            found = Some((last, out, x, gamma, beta, eps, [mj, dj, qj, vj, sj, j]));
            break;
        }
        let Some((last, out, x, gamma, beta, eps, parts)) = found else {
            return;
        };
        let mut dead = vec![false; g.nodes.len()];
        for p in parts {
            dead[p] = true;
        }
        let mut inputs = vec![Some(x), gamma];
        if beta.is_some() {
            inputs.push(beta);
        }
        let n = &mut g.nodes[last];
        n.op = Op::LayerNorm { eps };
        n.op_type = "LayerNorm".into();
        n.inputs = inputs;
        n.outputs = vec![out];
        dead[last] = false;
        compact(g, &dead);
    }
}

/// Per-channel values of a constant that broadcasts as `[1, C, 1, 1]`/`[C, 1, 1]`/scalar
/// against a `[N, C, H, W]` tensor.
fn per_channel(t: &Tensor, c: usize) -> Option<Vec<f32>> {
    let Tensor::F32(a) = t else { return None };
    let s = a.shape();
    if a.len() == 1 && s.len() <= 4 {
        return Some(vec![data(a)[0]; c]);
    }
    let ok = match s.len() {
        4 => s[0] == 1 && s[1] == c && s[2] == 1 && s[3] == 1,
        3 => s[0] == c && s[1] == 1 && s[2] == 1,
        _ => false,
    };
    ok.then(|| data(a).to_vec())
}

/// Ensures a Conv/ConvTranspose has captured (and so owns, mutable) weights.
fn capture_weights(g: &mut Graph, j: usize) -> Result<bool, Error> {
    let n = &g.nodes[j];
    let err = |msg: String| Error::Node {
        node: n.name.clone(),
        op: n.op_type.clone(),
        msg,
    };
    let w = const_of(g, n.inputs.get(1).copied().flatten());
    let bv = n.inputs.get(2).copied().flatten();
    let b = const_of(g, bv);
    let have = match &n.op {
        Op::Conv(c) => c.weights.is_some(),
        Op::ConvTranspose(c) => c.weights.is_some(),
        _ => return Ok(false),
    };
    if have {
        return Ok(true);
    }
    let Some(w) = w else { return Ok(false) };
    if bv.is_some() && b.is_none() {
        return Ok(false);
    }
    match &n.op {
        Op::Conv(c) => {
            let cw = ConvWeights::from_tensors(w, b, c.geo.kernel).map_err(err)?;
            if let Op::Conv(c) = &mut g.nodes[j].op {
                c.weights = Some(cw);
            }
        }
        Op::ConvTranspose(c) => {
            let cw = CtWeights::from_tensors(w, b, c.geo.kernel, c.group).map_err(err)?;
            if let Op::ConvTranspose(c) = &mut g.nodes[j].op {
                c.weights = Some(cw);
            }
        }
        _ => return Ok(false),
    }
    g.nodes[j].inputs.truncate(1);
    Ok(true)
}

/// The captured weights of node `j` as a per-channel affine target.
fn affine_mut(g: &mut Graph, j: usize) -> Result<Option<&mut dyn ChannelAffine>, Error> {
    if !capture_weights(g, j)? {
        return Ok(None);
    }
    Ok(match &mut g.nodes[j].op {
        Op::Conv(c) => c.weights.as_mut().map(|w| w as &mut dyn ChannelAffine),
        Op::ConvTranspose(c) => c.weights.as_mut().map(|w| w as &mut dyn ChannelAffine),
        _ => None,
    })
}

fn post_mut(op: &mut Op) -> Option<&mut Vec<Step>> {
    match op {
        Op::Conv(c) => Some(&mut c.post),
        Op::ConvTranspose(c) => Some(&mut c.post),
        _ => None,
    }
}

fn fuse_into_conv(g: &mut Graph, f32v: &[bool]) -> Result<bool, Error> {
    let _ = f32v;
    let uses = Uses::new(g);
    for j in 0..g.nodes.len() {
        if !matches!(g.nodes[j].op, Op::Conv(_) | Op::ConvTranspose(_)) {
            continue;
        }
        let out = g.nodes[j].outputs[0];
        let Some(k) = uses.sole_consumer(out) else {
            continue;
        };
        let post_empty = post_mut(&mut g.nodes[j].op).is_some_and(|p| p.is_empty());
        let kn = g.nodes[k].clone();
        enum Fold {
            Affine(Vec<f32>, Vec<f32>),
            Chain(Vec<Step>),
        }
        let fold = match &kn.op {
            Op::BatchNorm { eps } if post_empty => {
                let p: Option<Vec<&Tensor>> =
                    kn.inputs[1..].iter().map(|v| const_of(g, *v)).collect();
                match p.as_deref() {
                    Some([a, b, c, d]) => match (a, b, c, d) {
                        (Tensor::F32(a), Tensor::F32(b), Tensor::F32(c), Tensor::F32(d)) => {
                            let (s, t) = bn_affine([a, b, c, d], *eps);
                            Fold::Affine(s, t)
                        }
                        _ => continue,
                    },
                    _ => continue,
                }
            }
            Op::Binary(kind @ (BinKind::Add | BinKind::Mul), p)
                if post_empty && p.is_empty() && kn.inputs.len() == 2 =>
            {
                let other = if kn.inputs[0] == Some(out) {
                    kn.inputs[1]
                } else {
                    kn.inputs[0]
                };
                let Some(t) = const_of(g, other).cloned() else {
                    continue;
                };
                let Some(wts) = affine_mut(g, j)? else {
                    continue;
                };
                let c = wts.cout();
                let Some(v) = per_channel(&t, c) else {
                    continue;
                };
                if *kind == BinKind::Add {
                    Fold::Affine(vec![1.0; c], v)
                } else {
                    Fold::Affine(v, vec![0.0; c])
                }
            }
            Op::Unary(chain) if kn.inputs.len() == 1 => Fold::Chain(chain.clone()),
            _ => continue,
        };
        let Some(wts) = affine_mut(g, j)? else {
            continue;
        };
        match fold {
            Fold::Affine(s, t) => {
                if s.len() != wts.cout() || t.len() != wts.cout() {
                    continue;
                }
                wts.scale_shift(&s, &t)
            }
            Fold::Chain(chain) => {
                let mut rest = chain.as_slice();
                if post_empty {
                    // Leading scale/shift steps fold into the weights.
                    let c = wts.cout();
                    while let Some(first) = rest.first() {
                        match *first {
                            Step::MulC(v) => wts.scale_shift(&vec![v; c], &vec![0.0; c]),
                            Step::AddC(v) => wts.scale_shift(&vec![1.0; c], &vec![v; c]),
                            _ => break,
                        }
                        rest = &rest[1..];
                    }
                }
                let rest = rest.to_vec();
                if let Some(p) = post_mut(&mut g.nodes[j].op) {
                    p.extend(rest);
                }
            }
        }
        // Conv takes over the consumer's output and position.
        let mut conv = g.nodes[j].clone();
        conv.outputs = kn.outputs.clone();
        g.nodes[k] = conv;
        let mut dead = vec![false; g.nodes.len()];
        dead[j] = true;
        compact(g, &dead);
        return Ok(true);
    }
    Ok(false)
}

/// Unary chains after Binary/MatMul/ConvTranspose become their epilogue; a constant
/// 1-D `Add` after MatMul becomes its bias.
fn fuse_into_binary_or_matmul(g: &mut Graph) -> bool {
    let uses = Uses::new(g);
    for j in 0..g.nodes.len() {
        let out = match g.nodes[j].outputs.as_slice() {
            [o] => *o,
            _ => continue,
        };
        let Some(k) = uses.sole_consumer(out) else {
            continue;
        };
        let kn = g.nodes[k].clone();
        let other = if kn.inputs.first() == Some(&Some(out)) {
            kn.inputs.get(1)
        } else {
            kn.inputs.first()
        };
        let bias_1d = match const_of(g, other.copied().flatten()) {
            Some(Tensor::F32(b)) if b.ndim() == 1 && b.len() > 1 => Some(data(b).to_vec()),
            _ => None,
        };
        // Resize → Add (of another tensor): the Add's other operand becomes the fused
        // node's first input; like every fusion here the node takes the consumer's place,
        // where both operands exist.
        let operand = other.copied().flatten();
        let mut prepend = None;
        let done = match (&mut g.nodes[j].op, &kn.op) {
            (Op::Binary(_, post), Op::Unary(chain))
                if kn.inputs.len() == 1 && !chain.is_empty() =>
            {
                post.extend(chain.iter().cloned());
                true
            }
            (Op::MatMul(mm), Op::Unary(chain)) if kn.inputs.len() == 1 && !chain.is_empty() => {
                mm.post.extend(chain.iter().cloned());
                true
            }
            (Op::MatMul(mm), Op::Binary(BinKind::Add, p))
                if p.is_empty() && mm.bias.is_none() && mm.post.is_empty() && bias_1d.is_some() =>
            {
                mm.bias = bias_1d;
                true
            }
            (Op::Resize(rz), Op::Binary(BinKind::Add, post))
                if rz.add.is_none()
                    && kn.inputs.len() == 2
                    && operand.is_some()
                    && operand != Some(out) =>
            {
                rz.add = Some(post.clone());
                prepend = Some(operand);
                true
            }
            _ => false,
        };
        if done {
            let mut node = g.nodes[j].clone();
            if let Some(v) = prepend {
                node.inputs.insert(0, v);
            }
            node.outputs = kn.outputs.clone();
            g.nodes[k] = node;
            let mut dead = vec![false; g.nodes.len()];
            dead[j] = true;
            compact(g, &dead);
            return true;
        }
    }
    false
}

/// Producer → Concat: a Resize (constant scales and sizes), Pool or banded conv chain
/// whose output only feeds a Concat disappears into the Concat, which computes it from
/// its input straight into the output's slice (see `ops/concat.rs`). Runs after the
/// bands are formed, so that a chain feeding a Concat can be taken in whole.
fn fuse_producers_into_concat(g: &mut Graph) {
    let uses = Uses::new(g);
    let mut dead = vec![false; g.nodes.len()];
    for k in 0..g.nodes.len() {
        if !matches!(g.nodes[k].op, Op::Concat { .. }) {
            continue;
        }
        let mut inputs = g.nodes[k].inputs.clone();
        if inputs.iter().any(Option::is_none) {
            continue;
        }
        let mut parts: Vec<Option<Part>> = vec![None; inputs.len()];
        for (slot, fused) in inputs.iter_mut().zip(parts.iter_mut()) {
            let v = slot.expect("checked above");
            let Some(j) = uses.producer[v] else {
                continue;
            };
            let pn = &g.nodes[j];
            let Some(Some(x)) = pn.inputs.first() else {
                continue;
            };
            if uses.sole_consumer(v) != Some(k) || pn.outputs.len() != 1 {
                continue;
            }
            let part = match &pn.op {
                Op::Resize(rz) if rz.add.is_none() => {
                    // Each of scales and sizes that is given must be a constant.
                    let (sc, sz) = crate::ops::resize::scales_sizes_slots(pn.inputs.len());
                    let scales = pn.inputs.get(sc).copied().flatten();
                    let sizes = pn.inputs.get(sz).copied().flatten();
                    let constant = |v: Option<ValueId>| match v {
                        None => Some(None),
                        Some(_) => const_of(g, v).map(|t| Some(t.clone())),
                    };
                    let (Some(scales), Some(sizes)) = (constant(scales), constant(sizes)) else {
                        continue;
                    };
                    Part::Resize {
                        op: rz.clone(),
                        scales,
                        sizes,
                    }
                }
                Op::Pool(p) if pn.inputs.len() == 1 => Part::Pool(p.clone()),
                Op::Bands(b) if pn.inputs.len() == 1 => Part::Bands(b.clone()),
                _ => continue,
            };
            *fused = Some(part);
            *slot = Some(*x);
            dead[j] = true;
        }
        if parts.iter().any(Option::is_some) {
            let n = &mut g.nodes[k];
            n.inputs = inputs;
            if let Op::Concat { parts: p, .. } = &mut n.op {
                *p = parts;
            }
        }
    }
    compact(g, &dead);
}

fn capture_conv_weights(g: &mut Graph) -> Result<(), Error> {
    for j in 0..g.nodes.len() {
        capture_weights(g, j)?;
    }
    if !skipped("affine") {
        fold_affine_into_next_conv(g);
    }
    for j in 0..g.nodes.len() {
        let (name, op_type) = (g.nodes[j].name.clone(), g.nodes[j].op_type.clone());
        let err = |msg: String| Error::Node {
            node: name.clone(),
            op: op_type.clone(),
            msg,
        };
        match &mut g.nodes[j].op {
            Op::Conv(c) => {
                let group = c.group;
                if let Some(w) = &mut c.weights {
                    // Depthwise convs use the direct kernel and need no packing.
                    if w.cin_g != 1 || w.cout != group {
                        w.pack(group).map_err(err)?;
                    }
                    crate::ops::winograd::prepare(w, &c.geo, group);
                }
            }
            Op::ConvTranspose(c) => {
                let group = c.group;
                if let Some(w) = &mut c.weights {
                    w.pack(group).map_err(err)?;
                }
            }
            Op::MatMul(_) => {
                // Constant 2-D right-hand side: pack it once; the op then owns it.
                let b = const_of(g, g.nodes[j].inputs.get(1).copied().flatten());
                if let Some(Tensor::F32(b)) = b {
                    if b.ndim() == 2 {
                        let pb = PackedB::new(data(b), b.shape()[0], b.shape()[1]);
                        if let Op::MatMul(mm) = &mut g.nodes[j].op {
                            mm.packed_b = Some(std::sync::Arc::new(pb));
                        }
                        g.nodes[j].inputs.truncate(1);
                    }
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// Moves a conv's trailing constant affine steps (`MulC`, `AddC`: PP-LCNet's learnable
/// affine after each activation) into the weights and bias of the unpadded 1×1 conv that
/// is its only reader: with `y = A·h + B` per element, `W·y + b = (A·W)·h + (b + B·ΣW)`.
/// Each fold takes two passes over a depthwise conv's output away (v4 rec's, whose
/// epilogue runs after the plane is summed). Not across padding: a padded border would
/// read `0` where the fold assumes `B`.
fn fold_affine_into_next_conv(g: &mut Graph) {
    let uses = Uses::new(g);
    for j in 0..g.nodes.len() {
        let Op::Conv(c) = &g.nodes[j].op else {
            continue;
        };
        // The trailing MulC/AddC run of the chain, composed into y = a·h + b.
        let keep = c
            .post
            .iter()
            .rposition(|s| !matches!(s, Step::MulC(_) | Step::AddC(_)))
            .map_or(0, |i| i + 1);
        if keep == c.post.len() || c.weights.is_none() {
            continue;
        }
        let (mut a, mut b) = (1f32, 0f32);
        for s in &c.post[keep..] {
            match *s {
                Step::MulC(m) => (a, b) = (a * m, b * m),
                Step::AddC(d) => b += d,
                _ => unreachable!("only MulC and AddC past `keep`"),
            }
        }
        let Some(&out) = g.nodes[j].outputs.first() else {
            continue;
        };
        let Some(k) = uses.sole_consumer(out) else {
            continue;
        };
        let suits = match &g.nodes[k].op {
            Op::Conv(next) => {
                next.geo.kernel == [1, 1]
                    && next.geo.pads == [0; 4]
                    && next.group == 1
                    && next.weights.is_some()
                    && g.nodes[k].inputs.first() == Some(&Some(out))
            }
            _ => false,
        };
        if !suits || !a.is_finite() || !b.is_finite() {
            continue;
        }
        if let Op::Conv(next) = &mut g.nodes[k].op {
            let w = next.weights.as_mut().expect("checked above");
            let cin = w.cin_g;
            for (row, bias) in w.w.chunks_exact_mut(cin).zip(w.bias.iter_mut()) {
                let sum: f64 = row.iter().map(|&v| v as f64).sum();
                *bias = (*bias as f64 + b as f64 * sum) as f32;
                row.iter_mut().for_each(|v| *v *= a);
            }
        }
        if let Op::Conv(c) = &mut g.nodes[j].op {
            c.post.truncate(keep);
        }
    }
}

/// Most weights (floats) a banded chain may have: every band reads all of them again, so
/// chains of deep convs (v4 det's 192-channel stage at 60², 680 KB of weights) ran 1.4×
/// slower in bands than whole, while the stems (22–60 KB) gain.
const BAND_MAX_WEIGHTS: usize = 16 << 10;

/// Fuses each chain of two or more convs (weights captured) in which every output but the
/// last is read only by the next conv, and is not a graph output, into one
/// [`Op::Bands`] node, which runs the chain a band of rows at a time (see `ops/bands.rs`).
/// The fused node takes the first conv's place and name; a chain depends only on its
/// first input, so running it there keeps the node order topological.
fn fuse_conv_bands(g: &mut Graph) {
    let weight_len = |n: &Node| match &n.op {
        Op::Conv(c) => c.weights.as_ref().map_or(0, |w| w.w.len()),
        _ => 0,
    };
    fuse_chains(
        g,
        |n| matches!(&n.op, Op::Conv(c) if c.weights.is_some()),
        |chain, next| {
            chain.iter().map(|n| weight_len(n)).sum::<usize>() + weight_len(next)
                <= BAND_MAX_WEIGHTS
        },
        |chain| {
            let stages = chain
                .iter()
                .map(|n| match &n.op {
                    Op::Conv(c) => c.clone(),
                    _ => unreachable!("checked by the stage test"),
                })
                .collect();
            Op::Bands(crate::ops::bands::Bands::new(stages))
        },
    );
}

/// Fuses each chain of two or more transposed convs with disjoint windows (weights
/// captured) in which every output but the last is read only by the next one, and is not
/// a graph output, into one [`Op::ConvTransposes`] node: the chain then runs a run of input
/// pixels at a time through every stage, its intermediates in cache (see `ops/convt.rs`).
/// The fused node takes the first one's place and name.
fn fuse_convt_chains(g: &mut Graph) {
    fn convt(n: &Node) -> Option<(&ConvTranspose, &CtWeights)> {
        match &n.op {
            Op::ConvTranspose(c) => c.weights.as_ref().map(|w| (c, w)),
            _ => None,
        }
    }
    fuse_chains(
        g,
        |n| convt(n).is_some_and(|(c, _)| crate::ops::convt::disjoint(c)),
        |chain, next| {
            let last = chain.last().and_then(|n| convt(n));
            let cout = last.map(|(c, w)| w.cout_g * c.group);
            cout == convt(next).map(|(_, w)| w.cin)
        },
        |chain| {
            let stages = chain
                .iter()
                .map(|n| match &n.op {
                    Op::ConvTranspose(c) => c.clone(),
                    _ => unreachable!("checked by the stage test"),
                })
                .collect();
            Op::ConvTransposes(crate::ops::convt::Chain { stages })
        },
    );
}

/// Replaces each chain of two or more one-input, one-output nodes that `stage` accepts,
/// in which every output but the last is read only by the next node (and is not a graph
/// output), and each next node passes `extends(chain so far, next)`, by one node: the
/// first node's, with op `fuse(chain)` and the last node's outputs. A chain depends only
/// on its first input, so running it in the first node's place keeps the node order
/// topological.
fn fuse_chains(
    g: &mut Graph,
    stage: impl Fn(&Node) -> bool,
    extends: impl Fn(&[&Node], &Node) -> bool,
    fuse: impl Fn(&[&Node]) -> Op,
) {
    let uses = use_counts(g);
    let mut consumer = vec![None; g.names.len()];
    for (j, n) in g.nodes.iter().enumerate() {
        for v in n.inputs.iter().flatten() {
            consumer[*v] = Some(j);
        }
    }
    let stage = |n: &Node| n.inputs.len() == 1 && n.outputs.len() == 1 && stage(n);
    let mut dead = vec![false; g.nodes.len()];
    for j in 0..g.nodes.len() {
        if dead[j] || !stage(&g.nodes[j]) {
            continue;
        }
        let mut chain = vec![j];
        loop {
            let out = g.nodes[*chain.last().expect("non-empty")].outputs[0];
            let nodes: Vec<&Node> = chain.iter().map(|&k| &g.nodes[k]).collect();
            match consumer[out] {
                Some(k)
                    if uses[out] == 1
                        && !dead[k]
                        && stage(&g.nodes[k])
                        && g.nodes[k].inputs[0] == Some(out)
                        && extends(&nodes, &g.nodes[k]) =>
                {
                    chain.push(k)
                }
                _ => break,
            }
        }
        if chain.len() < 2 {
            continue;
        }
        let nodes: Vec<&Node> = chain.iter().map(|&k| &g.nodes[k]).collect();
        let op = fuse(&nodes);
        let outputs = g.nodes[*chain.last().expect("non-empty")].outputs.clone();
        for &k in &chain[1..] {
            dead[k] = true;
        }
        let first = &mut g.nodes[j];
        first.op = op;
        first.outputs = outputs;
    }
    compact(g, &dead);
}

/// How many times each value is read (by nodes, and as a graph output).
fn use_counts(g: &Graph) -> Vec<usize> {
    let mut uses = vec![0usize; g.names.len()];
    for n in &g.nodes {
        for v in n.inputs.iter().flatten() {
            uses[*v] += 1;
        }
    }
    for (_, v) in &g.outputs {
        uses[*v] += 1;
    }
    uses
}

#[allow(dead_code)]
fn node_summary(n: &Node) -> String {
    format!("{} {:?} -> {:?}", n.name, n.inputs, n.outputs)
}

#[cfg(test)]
mod tests {
    use super::flush_subnormals;
    use crate::proto::*;
    use crate::Model;
    use prost::Message;

    #[test]
    fn flush_zeroes_only_subnormals() {
        let tiny = f32::MIN_POSITIVE / 4.0;
        let mut v = [
            tiny,
            -tiny,
            0.0,
            f32::MIN_POSITIVE,
            1.0,
            f32::INFINITY,
            f32::NAN,
        ];
        flush_subnormals(&mut v);
        assert_eq!(
            v[..6],
            [0.0, 0.0, 0.0, f32::MIN_POSITIVE, 1.0, f32::INFINITY]
        );
        assert!(v[6].is_nan());
    }

    /// `y = x · s` and `z = x / s` with a subnormal constant `s`: the product's `s` may be
    /// flushed (y becomes exactly 0), the divisor must not be (z stays finite).
    #[test]
    fn subnormal_divisors_are_kept() {
        let s = f32::MIN_POSITIVE / 2.0;
        let node = |op: &str, out: &str| NodeProto {
            input: vec!["x".into(), format!("s_{op}")],
            output: vec![out.into()],
            name: out.into(),
            op_type: op.into(),
            ..Default::default()
        };
        let init = |name: &str| TensorProto {
            dims: vec![1],
            data_type: data_type::FLOAT,
            float_data: vec![s],
            name: name.into(),
            ..Default::default()
        };
        let io = |name: &str| ValueInfoProto {
            name: name.into(),
            r#type: None,
        };
        let bytes = ModelProto {
            ir_version: 8,
            opset_import: vec![OperatorSetIdProto {
                domain: String::new(),
                version: 13,
            }],
            graph: Some(GraphProto {
                node: vec![node("Mul", "y"), node("Div", "z")],
                name: "g".into(),
                initializer: vec![init("s_Mul"), init("s_Div")],
                input: vec![io("x")],
                output: vec![io("y"), io("z")],
            }),
            metadata_props: vec![],
        }
        .encode_to_vec();
        let m = Model::load(&bytes).unwrap();
        let x = ndarray::ArrayD::from_elem(ndarray::IxDyn(&[4]), 1e-30f32);
        let out = m.run(&[("x", x.view())]).unwrap();
        assert!(out[0].iter().all(|&v| v == 0.0));
        assert!(out[1]
            .iter()
            .all(|&v| v.is_finite() && (v - 1e-30 / s).abs() <= 1e-6 * v));
    }
}
