//! Concat with its producers fused in: an input whose only use is the Concat, made by a
//! Resize (constant scales), a MaxPool/AveragePool or a banded conv chain, is computed
//! by the Concat straight into its slice of the output.
//!
//! Why: the detectors concatenate big maps on the channel axis. The FPN's three
//! upsampled levels (v4 and v6 det: 3 × 24 channels at 240² for a 960² input) and v6
//! det's stem (MaxPool and a conv chain, 2 × 24 channels at 480²) were each written out,
//! then read and written again by the Concat: 16 MB and 44 MB of extra traffic on a
//! machine whose detectors are bandwidth-bound. For one image (the slices are
//! contiguous) each part is written once, in place. A batch of several images
//! materializes the fused parts and concatenates them as before. Same values either way:
//! only the destination differs.

use super::bands::Bands;
use super::pool::Pool2d;
use super::resize::Resize;
use crate::exec::BufPool;
use crate::tensor::{checked_numel, f32_array, Tensor};
use ndarray::ArrayD;

/// A producer fused into a Concat, computed from that Concat input.
#[derive(Clone, Debug)]
pub(crate) enum Part {
    /// A Resize with its constant scales and sizes inputs.
    Resize {
        op: Resize,
        scales: Option<Tensor>,
        sizes: Option<Tensor>,
    },
    Pool(Pool2d),
    Bands(Bands),
}

impl Part {
    fn output_shape(&self, x: &ArrayD<f32>) -> Result<Vec<usize>, String> {
        match self {
            Part::Resize { op, scales, sizes } => {
                op.output_shape(x, scales.as_ref(), sizes.as_ref())
            }
            Part::Pool(p) => Ok(p.output_shape(x)?.to_vec()),
            Part::Bands(b) => Ok(b.output_shape(x)?.to_vec()),
        }
    }

    /// Computes the part into `dst` (exactly its output's size).
    fn write(&self, x: &ArrayD<f32>, dst: &mut [f32], alloc: &mut BufPool) -> Result<(), String> {
        match self {
            Part::Resize { op, scales, sizes } => op.write(x, scales.as_ref(), sizes.as_ref(), dst),
            Part::Pool(p) => p.write(x, dst),
            Part::Bands(b) => b.write(x, dst, alloc),
        }
    }

    /// Computes the part into a new tensor.
    fn run(&self, x: &ArrayD<f32>, alloc: &mut BufPool) -> Result<Tensor, String> {
        match self {
            Part::Resize { op, scales, sizes } => op.run(x, scales.as_ref(), sizes.as_ref(), alloc),
            Part::Pool(p) => p.run(x, alloc),
            Part::Bands(b) => b.run(x, alloc),
        }
    }

    /// Label for profiles (`Concat+MaxPool+Resize×3`).
    pub fn name(&self) -> &'static str {
        match self {
            Part::Resize { .. } => "Resize",
            Part::Pool(_) => "Pool",
            Part::Bands(_) => "Bands",
        }
    }

    /// FLOPs of the part for an input of shape `x`: counted for conv chains only, as for
    /// the unfused nodes (see `profile.rs`).
    pub fn flops(&self, x: &[usize]) -> Option<u64> {
        match self {
            Part::Bands(b) => b.flops(x),
            Part::Resize { .. } | Part::Pool(_) => None,
        }
    }
}

/// Concat on `axis` of `inputs`, where `parts[i]` (if any) computes the Concat's `i`-th
/// input from `inputs[i]`.
pub(crate) fn concat_parts(
    inputs: &[&Tensor],
    parts: &[Option<Part>],
    axis: i64,
    alloc: &mut BufPool,
) -> Result<Tensor, String> {
    if parts.len() != inputs.len() {
        return Err(format!(
            "{} inputs for {} fused parts",
            inputs.len(),
            parts.len()
        ));
    }
    let shapes = inputs
        .iter()
        .zip(parts)
        .map(|(t, p)| match p {
            Some(p) => p.output_shape(t.as_f32()?),
            None => Ok(t.shape().to_vec()),
        })
        .collect::<Result<Vec<_>, String>>()?;
    let first = &shapes[0];
    let r = first.len();
    let ax = super::shape::norm_axis(axis, r)?;
    let compatible = shapes
        .iter()
        .all(|s| s.len() == r && s.iter().enumerate().all(|(i, &d)| i == ax || d == first[i]));
    let all_f32 = inputs.iter().all(|t| matches!(t, Tensor::F32(_)));
    if !compatible || !all_f32 || first[..ax].iter().product::<usize>() != 1 {
        // Materialize the fused parts; the plain Concat reports any mismatch.
        let mut owned = Vec::new();
        for (t, p) in inputs.iter().zip(parts) {
            if let Some(p) = p {
                owned.push(p.run(t.as_f32()?, alloc)?);
            }
        }
        let mut it = owned.iter();
        let ts: Vec<&Tensor> = inputs
            .iter()
            .zip(parts)
            .map(|(t, p)| match p {
                Some(_) => it.next().expect("one materialized tensor per fused part"),
                None => *t,
            })
            .collect();
        let out = super::shape::concat(&ts, axis, alloc);
        for t in owned {
            alloc.recycle(t);
        }
        return out;
    }
    let mut out_shape = first.clone();
    out_shape[ax] = shapes
        .iter()
        .try_fold(0usize, |acc, s| acc.checked_add(s[ax]))
        .ok_or("concatenated size overflows")?;
    let mut out = alloc.take(checked_numel(&out_shape)?);
    let mut rest = out.as_mut_slice();
    for ((t, p), s) in inputs.iter().zip(parts).zip(&shapes) {
        let (dst, r) = rest.split_at_mut(s.iter().product());
        rest = r;
        let x = t.as_f32()?;
        match p {
            Some(p) => p.write(x, dst, alloc)?,
            None => copy_par(x, dst),
        }
    }
    Ok(Tensor::F32(f32_array(&out_shape, out)))
}

/// `dst` = the elements of `x` in standard order.
fn copy_par(x: &ArrayD<f32>, dst: &mut [f32]) {
    match x.as_slice() {
        Some(src) => super::shape::copy_par(src, dst),
        None => dst.iter_mut().zip(x.iter()).for_each(|(d, s)| *d = *s),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::conv::{AutoPad, Geometry};
    use crate::ops::pool::PoolKind;
    use crate::ops::resize::{Coord, Mode, NearestMode};

    fn map(n: usize, c: usize, h: usize, w: usize, seed: usize) -> Tensor {
        Tensor::F32(ArrayD::from_shape_fn(vec![n, c, h, w], |i| {
            ((i[0] * 7 + i[1] * 31 + i[2] * 13 + i[3] * 3 + seed) % 23) as f32 * 0.41 - 4.0
        }))
    }

    fn resize(mode: Mode, s: f32) -> Part {
        Part::Resize {
            op: Resize {
                mode,
                coord: Coord::Asymmetric,
                nearest: NearestMode::Floor,
                add: None,
            },
            scales: Some(Tensor::F32(
                ArrayD::from_shape_vec(vec![4], vec![1.0, 1.0, s, s]).unwrap(),
            )),
            sizes: None,
        }
    }

    fn bits(t: &Tensor) -> (Vec<usize>, Vec<u32>) {
        let a = t.as_f32().unwrap();
        (a.shape().to_vec(), a.iter().map(|v| v.to_bits()).collect())
    }

    /// Each part computed on its own, then the plain Concat: what the fused Concat must
    /// give, bit for bit.
    fn reference(inputs: &[Tensor], parts: &[Option<Part>]) -> Tensor {
        let mut pool = BufPool::default();
        let done: Vec<Tensor> = inputs
            .iter()
            .zip(parts)
            .map(|(t, p)| match p {
                Some(p) => p.run(t.as_f32().unwrap(), &mut pool).unwrap(),
                None => t.clone(),
            })
            .collect();
        let refs: Vec<&Tensor> = done.iter().collect();
        crate::ops::shape::concat(&refs, 1, &mut pool).unwrap()
    }

    /// A Concat with fused producers gives the bits of the producers followed by the plain
    /// Concat: ×4/×3 nearest (run fill), ×1.5 nearest (gather) and bilinear Resizes, a
    /// MaxPool and a banded conv chain (stride 2 then depthwise) beside a plain input, for
    /// one image (written in place) and a batch of two (materialized, then concatenated),
    /// on one and two threads. A shape mismatch is an error, not a panic.
    #[test]
    fn fused_parts_match_producers_then_concat() {
        let max3 = Part::Pool(Pool2d {
            kind: PoolKind::Max,
            geo: Geometry {
                kernel: [3, 3],
                strides: [1, 1],
                pads: [1; 4],
                dilations: [1, 1],
                auto_pad: AutoPad::NotSet,
            },
            ceil_mode: false,
        });
        let chain = Part::Bands(Bands::new(vec![
            crate::ops::bands::tests::conv(3, 4, 3, 2, 1, vec![]),
            crate::ops::bands::tests::conv(4, 4, 3, 1, 4, vec![]),
        ]));
        let parts = vec![
            Some(resize(Mode::Nearest, 4.0)),
            Some(max3),
            Some(chain),
            Some(resize(Mode::Nearest, 3.0)),
            None,
            Some(resize(Mode::Linear, 2.0)),
        ];
        for threads in [1, 2] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| {
                for n in [1, 2] {
                    let inputs = [
                        map(n, 2, 3, 3, 1),
                        map(n, 3, 12, 12, 2),
                        map(n, 3, 24, 24, 3),
                        map(n, 1, 4, 4, 4),
                        map(n, 2, 12, 12, 5),
                        map(n, 2, 6, 6, 6),
                    ];
                    let want = reference(&inputs, &parts);
                    assert_eq!(want.shape(), &[n, 14, 12, 12]);
                    let ins: Vec<&Tensor> = inputs.iter().collect();
                    let mut alloc = BufPool::default();
                    let got = concat_parts(&ins, &parts, 1, &mut alloc).unwrap();
                    assert_eq!(bits(&got), bits(&want), "batch of {n}, {threads} threads");
                    // A ×1.5 part: 3×3 → 4×4, which does not fit the 12×12 parts.
                    let mut bad = parts.clone();
                    bad[0] = Some(resize(Mode::Nearest, 1.5));
                    assert!(concat_parts(&ins, &bad, 1, &mut alloc).is_err());
                    assert!(concat_parts(&ins[..4], &parts, 1, &mut alloc).is_err());
                }
            });
        }
        // The gather path in place: ×1.5 beside a plain input of that size.
        let inputs = [map(1, 2, 4, 4, 7), map(1, 1, 6, 6, 8)];
        let parts = vec![Some(resize(Mode::Nearest, 1.5)), None];
        let want = reference(&inputs, &parts);
        let got = concat_parts(
            &[&inputs[0], &inputs[1]],
            &parts,
            1,
            &mut BufPool::default(),
        );
        assert_eq!(bits(&got.unwrap()), bits(&want));
    }
}
