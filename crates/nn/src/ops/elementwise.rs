//! Elementwise kernels: fused unary chains and numpy-broadcasting binary ops.
//!
//! Unary work is represented as a [`Chain`] of [`Step`]s so that the optimizer can
//! glue an arbitrary sequence (`Mul(c)`, `Add(c)`, `HardSwish`, …) onto a producing
//! Conv/Binary node. Chains are applied block-by-block so each step runs as its own
//! tight, auto-vectorizable loop over data that is still in L1.

use super::{math, Input};
use crate::exec::BufPool;
use crate::simd::multiversion;
use crate::tensor::{checked_numel, data, data_mut, Tensor};
use ndarray::{ArrayD, IxDyn};
use rayon::prelude::*;

/// Elements per block when applying a chain; small enough to stay in L1.
const BLOCK: usize = 1024;
/// Below this many elements, elementwise work stays on the calling thread.
pub(crate) const PAR_THRESHOLD: usize = 1 << 15;

/// One elementwise step. Scalar-constant binary ops become steps too.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Step {
    Relu,
    Sigmoid,
    Erf,
    Sqrt,
    Clip(f32, f32),
    HardSigmoid {
        alpha: f32,
        beta: f32,
    },
    /// `x * hardsigmoid(x)`.
    HardSwish {
        alpha: f32,
        beta: f32,
    },
    /// `x * sigmoid(x)`.
    Swish,
    /// `x * 0.5 * (1 + erf(x / √2))`, fused from the exported erf pattern.
    Gelu,
    AddC(f32),
    /// `c - x`.
    RSubC(f32),
    MulC(f32),
    DivC(f32),
    /// `c / x`.
    RDivC(f32),
    PowC(f32),
    /// `x * f(x)` for an arbitrary sub-chain `f` (generic form of HardSwish/Swish/GELU).
    MulSelf(Vec<Step>),
}

/// A sequence of steps applied in order.
pub(crate) type Chain = Vec<Step>;

multiversion! {
    /// Applies `chain` in place to `buf` (single-threaded; callers parallelize over rows).
    pub(crate) fn apply_chain(chain: &[Step], buf: &mut [f32]) {
        if chain.is_empty() {
            return;
        }
        for block in buf.chunks_mut(BLOCK) {
            for step in chain {
                apply_step(step, block);
            }
        }
    }
}

/// Applies `chain` in place, in parallel for large buffers.
pub(crate) fn apply_chain_par(chain: &[Step], buf: &mut [f32]) {
    if chain.is_empty() {
        return;
    }
    if buf.len() >= PAR_THRESHOLD && rayon::current_num_threads() > 1 {
        buf.par_chunks_mut(8 * BLOCK)
            .for_each(|c| apply_chain(chain, c));
    } else {
        apply_chain(chain, buf);
    }
}

#[inline(always)]
fn apply_step(step: &Step, x: &mut [f32]) {
    match *step {
        // +0 for NaN and -0 too, like `if *v > 0.0 { *v } else { 0.0 }`, which (and any
        // bit-mask form of it) compiled to masked stores of the zeros, microcoded on AMD
        // CPUs (a quarter of cls's activation time on Zen 3). `max` returns the non-NaN
        // operand; adding +0 turns -0 into +0.
        Step::Relu => x.iter_mut().for_each(|v| *v = v.max(0.0) + 0.0),
        Step::Sigmoid => x.iter_mut().for_each(|v| *v = math::sigmoid(*v)),
        Step::Erf => x.iter_mut().for_each(|v| *v = math::erf(*v)),
        Step::Sqrt => x.iter_mut().for_each(|v| *v = v.sqrt()),
        Step::Clip(lo, hi) => x.iter_mut().for_each(|v| *v = clip(*v, lo, hi)),
        Step::HardSigmoid { alpha, beta } => x
            .iter_mut()
            .for_each(|v| *v = clip(alpha * *v + beta, 0.0, 1.0)),
        Step::HardSwish { alpha, beta } => x
            .iter_mut()
            .for_each(|v| *v *= clip(alpha * *v + beta, 0.0, 1.0)),
        Step::Swish => x.iter_mut().for_each(|v| *v *= math::sigmoid(*v)),
        Step::Gelu => x.iter_mut().for_each(|v| *v = math::gelu(*v)),
        Step::AddC(c) => x.iter_mut().for_each(|v| *v += c),
        Step::RSubC(c) => x.iter_mut().for_each(|v| *v = c - *v),
        Step::MulC(c) => x.iter_mut().for_each(|v| *v *= c),
        Step::DivC(c) => x.iter_mut().for_each(|v| *v /= c),
        Step::RDivC(c) => x.iter_mut().for_each(|v| *v = c / *v),
        Step::PowC(p) => {
            if p == 2.0 {
                x.iter_mut().for_each(|v| *v *= *v)
            } else if p == 1.0 {
            } else if p == 0.5 {
                x.iter_mut().for_each(|v| *v = v.sqrt())
            } else {
                x.iter_mut().for_each(|v| *v = v.powf(p))
            }
        }
        Step::MulSelf(ref sub) => {
            // Scratch only on this (rare) path: zeroing it for every call was measurable.
            let mut tmp = [0f32; BLOCK];
            let t = &mut tmp[..x.len()];
            t.copy_from_slice(x);
            // Generic (rare) path: the optimizer rewrites the common forms into
            // HardSwish/Swish/Gelu, so this need not be fast.
            apply_chain_generic(sub, t);
            x.iter_mut().zip(t.iter()).for_each(|(v, f)| *v *= *f);
        }
    }
}

/// Non-inlined entry for nested chains (recursion cannot be inlined).
fn apply_chain_generic(chain: &[Step], buf: &mut [f32]) {
    for step in chain {
        apply_step(step, buf);
    }
}

/// `min(max(v, lo), hi)` that keeps the ONNX Clip semantics for NaN-free data.
#[inline(always)]
pub(crate) fn clip(v: f32, lo: f32, hi: f32) -> f32 {
    let v = if v < lo { lo } else { v };
    if v > hi {
        hi
    } else {
        v
    }
}

/// Binary operator kinds with numpy broadcasting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BinKind {
    Add,
    Sub,
    Mul,
    Div,
    Pow,
}

impl BinKind {
    #[inline(always)]
    fn f(self, a: f32, b: f32) -> f32 {
        match self {
            BinKind::Add => a + b,
            BinKind::Sub => a - b,
            BinKind::Mul => a * b,
            BinKind::Div => a / b,
            BinKind::Pow => math::pow(a, b),
        }
    }

    fn i(self, a: i64, b: i64) -> Result<i64, String> {
        Ok(match self {
            BinKind::Add => a.wrapping_add(b),
            BinKind::Sub => a.wrapping_sub(b),
            BinKind::Mul => a.wrapping_mul(b),
            BinKind::Div => a
                .checked_div(b)
                .ok_or_else(|| "integer division by zero".to_string())?,
            BinKind::Pow => {
                if b < 0 {
                    return Err("integer Pow with a negative exponent".into());
                }
                a.wrapping_pow(b.min(u32::MAX as i64) as u32)
            }
        })
    }
}

/// Numpy broadcast of two shapes.
pub(crate) fn broadcast_shape(a: &[usize], b: &[usize]) -> Result<Vec<usize>, String> {
    let r = a.len().max(b.len());
    let mut out = vec![0; r];
    for i in 0..r {
        let da = if i + a.len() >= r {
            a[i + a.len() - r]
        } else {
            1
        };
        let db = if i + b.len() >= r {
            b[i + b.len() - r]
        } else {
            1
        };
        out[i] = if da == db || db == 1 {
            da
        } else if da == 1 {
            db
        } else {
            return Err(format!(
                "shapes {a:?} and {b:?} cannot be broadcast together"
            ));
        };
    }
    checked_numel(&out)?;
    Ok(out)
}

/// Broadcast layout after merging adjacent dims with the same broadcast pattern.
/// `dims[i]`, and per-input strides (0 where that input is broadcast).
struct Layout {
    dims: Vec<usize>,
    sa: Vec<usize>,
    sb: Vec<usize>,
}

fn layout(a: &[usize], b: &[usize], out: &[usize]) -> Layout {
    let r = out.len();
    let pad = |s: &[usize]| -> Vec<usize> {
        let mut v = vec![1; r - s.len()];
        v.extend_from_slice(s);
        v
    };
    let (pa, pb) = (pad(a), pad(b));
    // Merge dims right-to-left when both inputs keep the same present/broadcast pattern.
    let mut dims: Vec<usize> = Vec::new();
    let mut pat: Vec<(bool, bool)> = Vec::new();
    for i in 0..r {
        if out[i] == 1 {
            continue;
        }
        let p = (pa[i] != 1, pb[i] != 1);
        if let (Some(d), Some(&lp)) = (dims.last_mut(), pat.last()) {
            if lp == p {
                *d *= out[i];
                continue;
            }
        }
        dims.push(out[i]);
        pat.push(p);
    }
    if dims.is_empty() {
        dims.push(1);
        pat.push((true, true));
    }
    let mut sa = vec![0; dims.len()];
    let mut sb = vec![0; dims.len()];
    let (mut ca, mut cb) = (1usize, 1usize);
    for i in (0..dims.len()).rev() {
        if pat[i].0 {
            sa[i] = ca;
            ca *= dims[i];
        }
        if pat[i].1 {
            sb[i] = cb;
            cb *= dims[i];
        }
    }
    Layout { dims, sa, sb }
}

/// Computes `out = a (op) b` with broadcasting over the output buffer `out`.
fn binary_f32_into(
    kind: BinKind,
    a: &[f32],
    ash: &[usize],
    b: &[f32],
    bsh: &[usize],
    out_shape: &[usize],
    out: &mut [f32],
) {
    if out.is_empty() {
        return;
    }
    let l = layout(ash, bsh, out_shape);
    let nd = l.dims.len();
    let inner = l.dims[nd - 1];
    let (ia, ib) = (l.sa[nd - 1], l.sb[nd - 1]);
    let outer: usize = l.dims[..nd - 1].iter().product();
    let row = |o: usize, dst: &mut [f32]| {
        // Offsets of this row in a and b.
        let (mut oa, mut ob, mut rem) = (0usize, 0usize, o);
        for d in (0..nd - 1).rev() {
            let idx = rem % l.dims[d];
            rem /= l.dims[d];
            oa += idx * l.sa[d];
            ob += idx * l.sb[d];
        }
        kernel(kind, &a[oa..], ia, &b[ob..], ib, dst);
    };
    if out.len() >= PAR_THRESHOLD && rayon::current_num_threads() > 1 {
        if outer == 1 {
            // One long row: split it.
            let chunk = 8 * BLOCK;
            out.par_chunks_mut(chunk).enumerate().for_each(|(ci, dst)| {
                let s = ci * chunk;
                let aa = if ia == 0 { a } else { &a[s..] };
                let bb = if ib == 0 { b } else { &b[s..] };
                kernel(kind, aa, ia, bb, ib, dst);
            });
        } else {
            out.par_chunks_mut(inner)
                .enumerate()
                .with_min_len((BLOCK / inner).max(1))
                .for_each(|(o, dst)| row(o, dst));
        }
    } else {
        for (o, dst) in out.chunks_mut(inner).enumerate() {
            row(o, dst);
        }
    }
}

/// Inner loop: each side either contiguous (stride 1) or a broadcast scalar (stride 0).
#[inline]
fn kernel(kind: BinKind, a: &[f32], ia: usize, b: &[f32], ib: usize, dst: &mut [f32]) {
    let n = dst.len();
    macro_rules! go {
        ($f:expr) => {
            match (ia, ib) {
                (1, 1) => {
                    for ((d, &x), &y) in dst.iter_mut().zip(&a[..n]).zip(&b[..n]) {
                        *d = $f(x, y);
                    }
                }
                (1, _) => {
                    let y = b[0];
                    for (d, &x) in dst.iter_mut().zip(&a[..n]) {
                        *d = $f(x, y);
                    }
                }
                (_, 1) => {
                    let x = a[0];
                    for (d, &y) in dst.iter_mut().zip(&b[..n]) {
                        *d = $f(x, y);
                    }
                }
                _ => {
                    let v = $f(a[0], b[0]);
                    dst.iter_mut().for_each(|d| *d = v);
                }
            }
        };
    }
    match kind {
        BinKind::Add => go!(|x: f32, y: f32| x + y),
        BinKind::Sub => go!(|x: f32, y: f32| x - y),
        BinKind::Mul => go!(|x: f32, y: f32| x * y),
        BinKind::Div => go!(|x: f32, y: f32| x / y),
        BinKind::Pow => go!(|x: f32, y: f32| kind.f(x, y)),
    }
}

/// Binary op with broadcasting. Reuses an owned input's buffer when it already has the
/// output shape (the in-place fast path that keeps residual adds cheap).
pub(crate) fn binary(
    kind: BinKind,
    a: &mut Input<'_>,
    b: &mut Input<'_>,
    post: &[Step],
    alloc: &mut BufPool,
) -> Result<Tensor, String> {
    let out_shape = broadcast_shape(a.get().shape(), b.get().shape())?;
    let both_f32 = matches!((a.get(), b.get()), (Tensor::F32(_), Tensor::F32(_)));
    if !both_f32 {
        if !post.is_empty() {
            return Err("fused activation on an integer tensor".into());
        }
        let x = int_or_trunc(a.get());
        let y = int_or_trunc(b.get());
        let xb = x.broadcast(IxDyn(&out_shape)).ok_or("broadcast failed")?;
        let yb = y.broadcast(IxDyn(&out_shape)).ok_or("broadcast failed")?;
        let mut out = Vec::with_capacity(xb.len());
        for (p, q) in xb.iter().zip(yb.iter()) {
            out.push(kind.i(*p, *q)?);
        }
        return Ok(Tensor::I64(
            ArrayD::from_shape_vec(IxDyn(&out_shape), out).map_err(|e| e.to_string())?,
        ));
    }
    let mut result = if a.is_owned() && a.get().shape() == out_shape.as_slice() {
        let mut o = std::mem::replace(a, Input::Missing).into_f32()?;
        let y = b.get().as_f32()?;
        inplace_a(kind, data_mut(&mut o), data(y), y.shape(), &out_shape);
        o
    } else if b.is_owned() && b.get().shape() == out_shape.as_slice() {
        let mut o = std::mem::replace(b, Input::Missing).into_f32()?;
        let x = a.get().as_f32()?;
        inplace_b(kind, data(x), x.shape(), data_mut(&mut o), &out_shape);
        o
    } else {
        let (x, y) = (a.get().as_f32()?, b.get().as_f32()?);
        let n = checked_numel(&out_shape)?;
        let mut buf = alloc.take(n);
        binary_f32_into(
            kind,
            data(x),
            x.shape(),
            data(y),
            y.shape(),
            &out_shape,
            &mut buf,
        );
        ArrayD::from_shape_vec(IxDyn(&out_shape), buf).map_err(|e| e.to_string())?
    };
    apply_chain_par(post, data_mut(&mut result));
    Ok(Tensor::F32(result))
}

fn int_or_trunc(t: &Tensor) -> ArrayD<i64> {
    match t {
        Tensor::I64(a) => a.clone(),
        Tensor::F32(a) => a.mapv(|v| v as i64),
    }
}

/// `a = a (op) b`, where `a` has the output shape.
fn inplace_a(kind: BinKind, a: &mut [f32], b: &[f32], bsh: &[usize], out_shape: &[usize]) {
    if a.is_empty() {
        return;
    }
    let l = layout(out_shape, bsh, out_shape);
    let nd = l.dims.len();
    let inner = l.dims[nd - 1];
    let ib = l.sb[nd - 1];
    let row = |o: usize, dst: &mut [f32]| {
        let (mut ob, mut rem) = (0usize, o);
        for d in (0..nd - 1).rev() {
            let idx = rem % l.dims[d];
            rem /= l.dims[d];
            ob += idx * l.sb[d];
        }
        inplace_kernel_a(kind, dst, &b[ob..], ib);
    };
    if a.len() >= PAR_THRESHOLD && rayon::current_num_threads() > 1 {
        if nd == 1 {
            let chunk = 8 * BLOCK;
            a.par_chunks_mut(chunk).enumerate().for_each(|(ci, dst)| {
                let bb = if ib == 0 { b } else { &b[ci * chunk..] };
                inplace_kernel_a(kind, dst, bb, ib);
            });
        } else {
            a.par_chunks_mut(inner)
                .enumerate()
                .with_min_len((BLOCK / inner).max(1))
                .for_each(|(o, dst)| row(o, dst));
        }
    } else {
        for (o, dst) in a.chunks_mut(inner).enumerate() {
            row(o, dst);
        }
    }
}

#[inline]
fn inplace_kernel_a(kind: BinKind, dst: &mut [f32], b: &[f32], ib: usize) {
    macro_rules! go {
        ($f:expr) => {
            if ib == 1 {
                for (d, &y) in dst.iter_mut().zip(&b[..]) {
                    *d = $f(*d, y);
                }
            } else {
                let y = b[0];
                for d in dst.iter_mut() {
                    *d = $f(*d, y);
                }
            }
        };
    }
    match kind {
        BinKind::Add => go!(|x: f32, y: f32| x + y),
        BinKind::Sub => go!(|x: f32, y: f32| x - y),
        BinKind::Mul => go!(|x: f32, y: f32| x * y),
        BinKind::Div => go!(|x: f32, y: f32| x / y),
        BinKind::Pow => go!(|x: f32, y: f32| kind.f(x, y)),
    }
}

/// `b = a (op) b`, where `b` has the output shape.
fn inplace_b(kind: BinKind, a: &[f32], ash: &[usize], b: &mut [f32], out_shape: &[usize]) {
    if b.is_empty() {
        return;
    }
    // Reuse inplace_a with the mirrored operator where it is commutative; otherwise
    // compute via a mirrored kernel.
    match kind {
        BinKind::Add | BinKind::Mul => inplace_a(kind, b, a, ash, out_shape),
        _ => {
            let l = layout(ash, out_shape, out_shape);
            let nd = l.dims.len();
            let inner = l.dims[nd - 1];
            let ia = l.sa[nd - 1];
            for (o, dst) in b.chunks_mut(inner).enumerate() {
                let (mut oa, mut rem) = (0usize, o);
                for d in (0..nd - 1).rev() {
                    let idx = rem % l.dims[d];
                    rem /= l.dims[d];
                    oa += idx * l.sa[d];
                }
                for (j, d) in dst.iter_mut().enumerate() {
                    let x = if ia == 1 { a[oa + j] } else { a[oa] };
                    *d = kind.f(x, *d);
                }
            }
        }
    }
}

/// Unary chain on a tensor, in place when the input is owned.
pub(crate) fn unary(chain: &[Step], x: Input<'_>, alloc: &mut BufPool) -> Result<Tensor, String> {
    let mut arr = if x.is_owned() {
        x.into_f32()?
    } else {
        let src = x.get().as_f32()?;
        let mut buf = alloc.take(src.len());
        buf.copy_from_slice(data(src));
        ArrayD::from_shape_vec(IxDyn(src.shape()), buf).map_err(|e| e.to_string())?
    };
    apply_chain_par(chain, data_mut(&mut arr));
    Ok(Tensor::F32(arr))
}
