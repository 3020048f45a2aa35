//! Data-movement and shape ops: Reshape, Transpose, Squeeze, Unsqueeze, Slice, Concat,
//! Shape, Cast. These work on both float and integer tensors; integer tensors carry the
//! dynamic-shape arithmetic (`Shape → Slice → Concat → Reshape`) evaluated every run.

use super::Input;
use crate::exec::BufPool;
use crate::proto::data_type;
use crate::tensor::{checked_numel, data, f32_array, i64_array, Tensor};
use ndarray::{ArrayD, Axis, IxDyn, Slice};

/// Applies `$body` to whichever array variant `$t` holds, rewrapping the result.
macro_rules! each_dtype {
    ($t:expr, |$a:ident| $body:expr) => {
        match $t {
            Tensor::F32($a) => Tensor::F32($body),
            Tensor::I64($a) => Tensor::I64($body),
        }
    };
}

/// Resolves a possibly negative ONNX axis against `rank`. A scalar (rank 0) has no axis at
/// all, so every axis is an error for it: callers index the shape with the result.
pub(crate) fn norm_axis(axis: i64, rank: usize) -> Result<usize, String> {
    let r = rank as i64;
    let a = if axis < 0 {
        axis.saturating_add(r)
    } else {
        axis
    };
    if a < 0 || a >= r {
        return Err(format!("axis {axis} is out of range for rank {rank}"));
    }
    Ok(a as usize)
}

fn standard<T: Clone>(a: ArrayD<T>) -> ArrayD<T> {
    if a.is_standard_layout() {
        a
    } else {
        a.as_standard_layout().into_owned()
    }
}

/// Reshape keeps the buffer when the input is owned (no copy).
pub(crate) fn reshape(x: Input<'_>, shape: &Tensor, allowzero: bool) -> Result<Tensor, String> {
    let spec = shape.to_i64_vec();
    let in_shape = x.get().shape().to_vec();
    let total = x.get().len();
    let mut out = Vec::with_capacity(spec.len());
    let mut infer = None;
    for (i, &d) in spec.iter().enumerate() {
        match d {
            -1 => {
                if infer.replace(i).is_some() {
                    return Err(format!("shape {spec:?} has more than one -1"));
                }
                out.push(1);
            }
            0 if !allowzero => out.push(*in_shape.get(i).ok_or_else(|| {
                format!(
                    "shape {spec:?}: 0 at axis {i} but input has rank {}",
                    in_shape.len()
                )
            })?),
            d if d < 0 => return Err(format!("invalid dimension {d} in shape {spec:?}")),
            d => out.push(usize::try_from(d).map_err(|_| "dimension too large")?),
        }
    }
    if let Some(i) = infer {
        let known = checked_numel(&out)?;
        if known == 0 || !total.is_multiple_of(known) {
            return Err(format!("cannot reshape {in_shape:?} into {spec:?}"));
        }
        out[i] = total / known;
    }
    if checked_numel(&out)? != total {
        return Err(format!(
            "cannot reshape {in_shape:?} ({total} elements) into {spec:?}"
        ));
    }
    let t = x.into_owned();
    Ok(each_dtype!(t, |a| a
        .into_shape_with_order(IxDyn(&out))
        .map_err(|e| e.to_string())?))
}

pub(crate) fn transpose(x: &Tensor, perm: Option<&[usize]>) -> Result<Tensor, String> {
    let r = x.shape().len();
    let perm: Vec<usize> = match perm {
        Some(p) => p.to_vec(),
        None => (0..r).rev().collect(),
    };
    let mut seen = vec![false; r];
    if perm.len() != r
        || perm
            .iter()
            .any(|&p| p >= r || std::mem::replace(&mut seen[p], true))
    {
        return Err(format!("perm {perm:?} is not a permutation of rank {r}"));
    }
    Ok(match x {
        Tensor::F32(a) => Tensor::F32(transpose_f32(a, &perm)),
        Tensor::I64(a) => Tensor::I64(
            a.view()
                .permuted_axes(IxDyn(&perm))
                .as_standard_layout()
                .into_owned(),
        ),
    })
}

/// Transpose that merges axes which stay adjacent, then copies with a tight inner loop.
fn transpose_f32(a: &ArrayD<f32>, perm: &[usize]) -> ArrayD<f32> {
    let in_shape = a.shape();
    let out_shape: Vec<usize> = perm.iter().map(|&p| in_shape[p]).collect();
    let src = data(a);
    // Input strides (row-major).
    let r = in_shape.len();
    let mut istr = vec![1usize; r];
    for i in (0..r.saturating_sub(1)).rev() {
        istr[i] = istr[i + 1] * in_shape[i + 1];
    }
    // Output dims with their input strides, dropping size-1 dims and merging runs.
    let mut dims: Vec<(usize, usize)> = Vec::new();
    for &p in perm {
        let (d, s) = (in_shape[p], istr[p]);
        if d == 1 {
            continue;
        }
        if let Some(last) = dims.last_mut() {
            if last.1 == s * d {
                *last = (last.0 * d, s);
                continue;
            }
        }
        dims.push((d, s));
    }
    let n = src.len();
    let mut out = Vec::with_capacity(n);
    if dims.is_empty() || (dims.len() == 1 && dims[0].1 == 1) {
        out.extend_from_slice(src);
        return f32_array(&out_shape, out);
    }
    let nd = dims.len();
    let (inner, istride) = dims[nd - 1];
    let outer = n / inner;
    let mut idx = vec![0usize; nd - 1];
    let mut off = 0usize;
    for _ in 0..outer {
        if istride == 1 {
            out.extend_from_slice(&src[off..off + inner]);
        } else {
            out.extend((0..inner).map(|i| src[off + i * istride]));
        }
        // Advance the multi-index over the outer dims.
        for d in (0..nd - 1).rev() {
            idx[d] += 1;
            off += dims[d].1;
            if idx[d] < dims[d].0 {
                break;
            }
            off -= dims[d].1 * dims[d].0;
            idx[d] = 0;
        }
    }
    f32_array(&out_shape, out)
}

pub(crate) fn squeeze(x: Input<'_>, axes: Option<Vec<i64>>) -> Result<Tensor, String> {
    let shape = x.get().shape().to_vec();
    let out: Vec<usize> = match axes {
        Some(axes) => {
            let mut drop = vec![false; shape.len()];
            for a in axes {
                let a = norm_axis(a, shape.len())?;
                if shape[a] != 1 {
                    return Err(format!(
                        "cannot squeeze axis {a} of size {} (shape {shape:?})",
                        shape[a]
                    ));
                }
                drop[a] = true;
            }
            shape
                .iter()
                .zip(&drop)
                .filter(|(_, &d)| !d)
                .map(|(&s, _)| s)
                .collect()
        }
        None => shape.iter().copied().filter(|&s| s != 1).collect(),
    };
    let t = x.into_owned();
    Ok(each_dtype!(t, |a| a
        .into_shape_with_order(IxDyn(&out))
        .map_err(|e| e.to_string())?))
}

pub(crate) fn unsqueeze(x: Input<'_>, axes: &[i64]) -> Result<Tensor, String> {
    let shape = x.get().shape().to_vec();
    let r = shape.len() + axes.len();
    let mut ins = vec![false; r];
    for &a in axes {
        let a = norm_axis(a, r)?;
        if std::mem::replace(&mut ins[a], true) {
            return Err(format!("duplicate axis in {axes:?}"));
        }
    }
    let mut it = shape.iter();
    let out: Vec<usize> = ins
        .iter()
        .map(|&i| if i { 1 } else { *it.next().unwrap_or(&1) })
        .collect();
    let t = x.into_owned();
    Ok(each_dtype!(t, |a| a
        .into_shape_with_order(IxDyn(&out))
        .map_err(|e| e.to_string())?))
}

pub(crate) fn slice(
    x: &Tensor,
    starts: &[i64],
    ends: &[i64],
    axes: Option<&[i64]>,
    steps: Option<&[i64]>,
) -> Result<Tensor, String> {
    let shape = x.shape().to_vec();
    let r = shape.len();
    if starts.len() != ends.len() {
        return Err("starts and ends have different lengths".into());
    }
    let axes: Vec<usize> = match axes {
        Some(a) => a
            .iter()
            .map(|&a| norm_axis(a, r))
            .collect::<Result<_, _>>()?,
        None => (0..starts.len()).collect(),
    };
    if axes.len() != starts.len() || steps.is_some_and(|s| s.len() != starts.len()) {
        return Err("starts/ends/axes/steps lengths differ".into());
    }
    // Without `axes`, starts[i] applies to axis i: there must be no more of them than axes.
    if let Some(&ax) = axes.iter().find(|&&ax| ax >= r) {
        return Err(format!("slice axis {ax} is out of range for rank {r}"));
    }
    let mut spec: Vec<Slice> = (0..r).map(|_| Slice::from(..)).collect();
    for (i, &ax) in axes.iter().enumerate() {
        let dim = shape[ax] as i64;
        if dim == 0 {
            continue; // nothing to take from an empty axis, whatever the bounds
        }
        let step = steps.map(|s| s[i]).unwrap_or(1);
        if step == 0 {
            return Err("slice step cannot be 0".into());
        }
        let clampi = |v: i64, lo: i64, hi: i64| v.clamp(lo, hi);
        let norm = |v: i64| if v < 0 { v.saturating_add(dim) } else { v };
        let (s, e) = if step > 0 {
            (
                clampi(norm(starts[i]), 0, dim),
                clampi(norm(ends[i]), 0, dim),
            )
        } else {
            (
                clampi(norm(starts[i]), 0, dim - 1),
                clampi(norm(ends[i]), -1, dim - 1),
            )
        };
        spec[ax] = if step > 0 {
            Slice::new(s as isize, Some(e.max(s) as isize), step as isize)
        } else {
            // ndarray slices with negative steps walk from the end of [start, end).
            if s <= e {
                Slice::new(0, Some(0), 1)
            } else {
                Slice::new((e + 1) as isize, Some((s + 1) as isize), step as isize)
            }
        };
    }
    Ok(match x {
        Tensor::F32(a) => Tensor::F32(standard(
            a.slice_each_axis(|d| spec[d.axis.index()]).to_owned(),
        )),
        Tensor::I64(a) => Tensor::I64(standard(
            a.slice_each_axis(|d| spec[d.axis.index()]).to_owned(),
        )),
    })
}

/// `dst.copy_from_slice(src)`, in parallel blocks of 64 Ki floats when large and the pool
/// has threads to spare (the Concats' big channel blocks).
pub(crate) fn copy_par(src: &[f32], dst: &mut [f32]) {
    const BLOCK: usize = 1 << 16;
    if dst.len() > BLOCK && rayon::current_num_threads() > 1 {
        use rayon::prelude::*;
        dst.par_chunks_mut(BLOCK)
            .zip(src.par_chunks(BLOCK))
            .for_each(|(d, s)| d.copy_from_slice(s));
    } else {
        dst.copy_from_slice(src);
    }
}

pub(crate) fn concat(inputs: &[&Tensor], axis: i64, alloc: &mut BufPool) -> Result<Tensor, String> {
    let first = inputs.first().ok_or("Concat needs at least one input")?;
    let r = first.shape().len();
    let ax = norm_axis(axis, r)?;
    let mut out_shape = first.shape().to_vec();
    out_shape[ax] = 0;
    for t in inputs {
        let s = t.shape();
        if s.len() != r
            || s.iter()
                .enumerate()
                .any(|(i, &d)| i != ax && d != first.shape()[i])
        {
            return Err(format!(
                "cannot concatenate shapes {:?} and {s:?} on axis {ax}",
                first.shape()
            ));
        }
        out_shape[ax] = out_shape[ax]
            .checked_add(s[ax])
            .ok_or("concatenated size overflows")?;
    }
    let n = checked_numel(&out_shape)?;
    let outer: usize = out_shape[..ax].iter().product();
    let all_f32 = inputs.iter().all(|t| matches!(t, Tensor::F32(_)));
    if all_f32 {
        let mut out = alloc.take(n);
        let row_out: usize = out_shape[ax..].iter().product();
        let srcs: Vec<(&[f32], usize)> = inputs
            .iter()
            .map(|t| Ok((data(t.as_f32()?), t.shape()[ax..].iter().product::<usize>())))
            .collect::<Result<_, String>>()?;
        // One output row (everything from `axis` on) = the inputs' rows back to back.
        let fill_row = |o: usize, dst: &mut [f32]| {
            let mut pos = 0;
            for &(src, chunk) in &srcs {
                dst[pos..pos + chunk].copy_from_slice(&src[o * chunk..(o + 1) * chunk]);
                pos += chunk;
            }
        };
        if row_out > 0 && n >= 1 << 16 && rayon::current_num_threads() > 1 {
            use rayon::prelude::*;
            if outer == 1 {
                // One big row: copy the inputs' blocks in parallel.
                let mut blocks = Vec::with_capacity(srcs.len());
                let mut rest = out.as_mut_slice();
                for &(src, chunk) in &srcs {
                    let (b, r) = rest.split_at_mut(chunk);
                    blocks.push((b, src));
                    rest = r;
                }
                blocks
                    .into_par_iter()
                    .for_each(|(b, src)| copy_par(&src[..b.len()], b));
            } else {
                out.par_chunks_mut(row_out)
                    .enumerate()
                    .for_each(|(o, d)| fill_row(o, d));
            }
        } else if row_out > 0 {
            out.chunks_mut(row_out)
                .enumerate()
                .for_each(|(o, d)| fill_row(o, d));
        }
        Ok(Tensor::F32(f32_array(&out_shape, out)))
    } else {
        let views: Vec<ArrayD<i64>> = inputs
            .iter()
            .map(|t| match t {
                Tensor::I64(a) => a.clone(),
                Tensor::F32(a) => a.mapv(|v| v as i64),
            })
            .collect();
        let vs: Vec<_> = views.iter().map(|a| a.view()).collect();
        let c = ndarray::concatenate(Axis(ax), &vs).map_err(|e| e.to_string())?;
        Ok(Tensor::I64(standard(c)))
    }
}

pub(crate) fn shape_of(x: &Tensor, start: i64, end: Option<i64>) -> Tensor {
    let s = x.shape();
    let r = s.len() as i64;
    let norm = |v: i64| (if v < 0 { v + r } else { v }).clamp(0, r) as usize;
    let (a, b) = (norm(start), norm(end.unwrap_or(r)));
    let v: Vec<i64> = s[a..b.max(a)].iter().map(|&d| d as i64).collect();
    Tensor::I64(i64_array(&[v.len()], v))
}

pub(crate) fn cast(x: Input<'_>, to: i32) -> Result<Tensor, String> {
    let float = match to {
        data_type::FLOAT | data_type::DOUBLE => true,
        data_type::INT32 | data_type::INT64 | data_type::INT8 | data_type::UINT8 => false,
        data_type::BOOL => {
            return Ok(match x.get() {
                Tensor::F32(a) => Tensor::I64(a.mapv(|v| (v != 0.0) as i64)),
                Tensor::I64(a) => Tensor::I64(a.mapv(|v| (v != 0) as i64)),
            })
        }
        other => return Err(format!("Cast to data type {other} is not supported")),
    };
    Ok(match (x.into_owned(), float) {
        (Tensor::F32(a), true) => Tensor::F32(a),
        (Tensor::I64(a), false) => Tensor::I64(a),
        // `as` saturates and maps NaN to 0: never panics.
        (Tensor::F32(a), false) => Tensor::I64(a.mapv(|v| v as i64)),
        (Tensor::I64(a), true) => Tensor::F32(a.mapv(|v| v as f32)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scalar() -> Tensor {
        Tensor::F32(ArrayD::from_elem(IxDyn(&[]), 1.0))
    }

    #[test]
    fn a_scalar_has_no_axis() {
        assert!(norm_axis(0, 0).is_err());
        assert!(norm_axis(-1, 0).is_err());
        assert_eq!(norm_axis(-1, 3), Ok(2));
        assert!(norm_axis(i64::MIN, 3).is_err());
    }

    /// Fuzz finding (model_load, long run of 2026-11-26): a Slice of a scalar with one
    /// start/end and no axes indexed a shape of length 0.
    #[test]
    fn slicing_a_scalar_or_an_empty_axis_never_panics() {
        assert!(slice(&scalar(), &[0], &[1], None, None).is_err());
        assert!(slice(&scalar(), &[0], &[1], Some(&[0]), None).is_err());
        let empty = Tensor::F32(ArrayD::zeros(IxDyn(&[0, 2])));
        for step in [1, -1, 3, -3] {
            let out = slice(&empty, &[0], &[5], Some(&[0]), Some(&[step])).unwrap();
            assert_eq!(out.shape(), &[0, 2]);
        }
    }

    /// Empty tensors can have huge axes: concatenating them must not overflow the
    /// output's axis (a panic in debug builds, a wrong shape in release), for the plain
    /// Concat and for one with fused parts.
    #[test]
    fn concat_of_huge_empty_axes_is_an_error_not_a_panic() {
        let big = 1usize << 62;
        let t = Tensor::F32(ArrayD::from_shape_vec(vec![0, big], vec![]).unwrap());
        let four = [&t, &t, &t, &t];
        let mut pool = BufPool::default();
        assert!(concat(&four, 1, &mut pool).is_err());
        let parts = vec![None; 4];
        assert!(crate::ops::concat::concat_parts(&four, &parts, 1, &mut pool).is_err());
        // Two fit in usize but not in an array: an error or an empty tensor, no panic.
        let _ = concat(&four[..2], 1, &mut pool);
    }
}
