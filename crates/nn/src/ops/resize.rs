//! Resize (opset 11+ input form `X, roi, scales[, sizes]`, and opset 10 `X, scales`).
//! Supports `nearest` (all `nearest_mode`s) and `linear` (bilinear over the last two
//! axes) with the common coordinate transformations.

use super::elementwise::Chain;
use crate::exec::BufPool;
use crate::tensor::{checked_numel, data, data_mut, f32_array, Tensor};
use ndarray::ArrayD;
use rayon::prelude::*;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    Nearest,
    Linear,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Coord {
    HalfPixel,
    PytorchHalfPixel,
    AlignCorners,
    Asymmetric,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum NearestMode {
    RoundPreferFloor,
    RoundPreferCeil,
    Floor,
    Ceil,
}

#[derive(Clone, Debug)]
pub(crate) struct Resize {
    pub mode: Mode,
    pub coord: Coord,
    pub nearest: NearestMode,
    /// A following `Add` of a tensor of the output's shape (then the node's first input),
    /// with that Add's fused chain, fused at load: the upsampled values are added into
    /// that tensor in one pass instead of being written out and read back (the detectors'
    /// FPN: ×2 upsample + lateral add at 240², two 22 MB passes).
    pub add: Option<Chain>,
}

/// Where a Resize node's `scales` and `sizes` inputs sit among its `n` inputs (the data
/// input first): opset 10 / Upsample `(X, scales)`, opset 11+ `(X, roi, scales[, sizes])`.
pub(crate) fn scales_sizes_slots(n: usize) -> (usize, usize) {
    if n == 2 {
        (1, usize::MAX)
    } else {
        (2, 3)
    }
}

impl Resize {
    /// Source coordinate of output index `o` along an axis.
    fn src(&self, o: usize, scale: f32, in_len: usize, out_len: usize) -> f32 {
        let o = o as f32;
        match self.coord {
            Coord::HalfPixel => (o + 0.5) / scale - 0.5,
            Coord::PytorchHalfPixel => {
                if out_len > 1 {
                    (o + 0.5) / scale - 0.5
                } else {
                    0.0
                }
            }
            Coord::AlignCorners => {
                if out_len > 1 {
                    o * (in_len as f32 - 1.0) / (out_len as f32 - 1.0)
                } else {
                    0.0
                }
            }
            Coord::Asymmetric => o / scale,
        }
    }

    fn nearest_index(&self, x: f32, in_len: usize) -> usize {
        let i = match self.nearest {
            NearestMode::Floor => x.floor(),
            NearestMode::Ceil => x.ceil(),
            NearestMode::RoundPreferFloor => {
                if x.fract() == 0.5 {
                    x.floor()
                } else {
                    x.round()
                }
            }
            NearestMode::RoundPreferCeil => x.round(),
        };
        (i.max(0.0) as usize).min(in_len - 1)
    }

    pub fn run(
        &self,
        x: &ArrayD<f32>,
        scales: Option<&Tensor>,
        sizes: Option<&Tensor>,
        alloc: &mut BufPool,
    ) -> Result<Tensor, String> {
        self.run_into(x, scales, sizes, None, alloc)
    }

    /// `addend + resize(x)`, then the fused Add's chain, for a node with [`Resize::add`].
    /// Computed in the addend's buffer when it is owned and has the output's shape; any
    /// other shape goes through a separate, broadcasting Add.
    pub fn run_add(
        &self,
        x: &ArrayD<f32>,
        scales: Option<&Tensor>,
        sizes: Option<&Tensor>,
        addend: super::Input<'_>,
        alloc: &mut BufPool,
    ) -> Result<Tensor, String> {
        let post = self.add.as_deref().unwrap_or(&[]);
        let target = self.out_shape(x, scales, sizes)?.0;
        let fits = matches!(addend.opt(), Some(Tensor::F32(a)) if a.shape() == target.as_slice());
        if !fits {
            let up = self.run_into(x, scales, sizes, None, alloc)?;
            let (mut a, mut b) = (super::Input::Owned(up), addend);
            return super::elementwise::binary(
                super::elementwise::BinKind::Add,
                &mut a,
                &mut b,
                post,
                alloc,
            );
        }
        let acc: ArrayD<f32> = match addend {
            super::Input::Owned(Tensor::F32(a)) if a.is_standard_layout() => a,
            other => {
                let a = other.get().as_f32()?;
                let mut buf = alloc.take(a.len());
                buf.iter_mut().zip(a.iter()).for_each(|(d, s)| *d = *s);
                f32_array(a.shape(), buf)
            }
        };
        let out = self.run_into(x, scales, sizes, Some(acc), alloc)?;
        let Tensor::F32(mut out) = out else {
            unreachable!("resize returns f32")
        };
        super::elementwise::apply_chain_par(post, data_mut(&mut out));
        Ok(Tensor::F32(out))
    }

    /// Output shape and per-axis scales.
    fn out_shape(
        &self,
        x: &ArrayD<f32>,
        scales: Option<&Tensor>,
        sizes: Option<&Tensor>,
    ) -> Result<(Vec<usize>, Vec<f32>), String> {
        let s = x.shape();
        let r = s.len();
        let (out_shape, scale): (Vec<usize>, Vec<f32>) =
            if let Some(sz) = sizes.filter(|t| t.len() > 0) {
                let v = sz.to_i64_vec();
                if v.len() != r || v.iter().any(|&d| d < 0) {
                    return Err(format!("sizes {v:?} do not fit input rank {r}"));
                }
                let o: Vec<usize> = v.iter().map(|&d| d as usize).collect();
                let sc = o
                    .iter()
                    .zip(s)
                    .map(|(&o, &i)| o as f32 / i.max(1) as f32)
                    .collect();
                (o, sc)
            } else if let Some(sc) = scales.filter(|t| t.len() > 0) {
                let v: Vec<f32> = match sc {
                    Tensor::F32(a) => a.iter().copied().collect(),
                    Tensor::I64(a) => a.iter().map(|&v| v as f32).collect(),
                };
                if v.len() != r || v.iter().any(|&f| !(f > 0.0 && f < 1e6)) {
                    return Err(format!(
                        "scales {v:?} do not fit input rank {r} (must be positive)"
                    ));
                }
                let o = s
                    .iter()
                    .zip(&v)
                    .map(|(&i, &f)| (i as f32 * f).floor() as usize)
                    .collect();
                (o, v)
            } else {
                return Err("Resize needs either scales or sizes".into());
            };
        checked_numel(&out_shape)?;
        Ok((out_shape, scale))
    }

    /// The resize of `x`, written into a new buffer, or added into `acc` (standard layout,
    /// the output's shape) when given.
    fn run_into(
        &self,
        x: &ArrayD<f32>,
        scales: Option<&Tensor>,
        sizes: Option<&Tensor>,
        acc: Option<ArrayD<f32>>,
        alloc: &mut BufPool,
    ) -> Result<Tensor, String> {
        let (out_shape, scale) = self.out_shape(x, scales, sizes)?;
        let add = acc.is_some();
        let mut out = match acc {
            Some(a) => {
                // A standard-layout array whose data starts past its buffer's start (a view
                // made owned) keeps its elements at that offset.
                let n = a.len();
                match a.into_raw_vec_and_offset() {
                    (v, Some(0) | None) => v,
                    (mut v, Some(o)) => {
                        v.copy_within(o..o + n, 0);
                        v.truncate(n);
                        v
                    }
                }
            }
            None => alloc.take(checked_numel(&out_shape)?),
        };
        self.compute(x, &out_shape, &scale, &mut out, add)?;
        Ok(Tensor::F32(f32_array(&out_shape, out)))
    }

    /// The shape of the resize of `x` (for a caller that provides the destination).
    pub fn output_shape(
        &self,
        x: &ArrayD<f32>,
        scales: Option<&Tensor>,
        sizes: Option<&Tensor>,
    ) -> Result<Vec<usize>, String> {
        Ok(self.out_shape(x, scales, sizes)?.0)
    }

    /// Writes the resize of `x` into `dst` (standard layout, exactly the output's size):
    /// how a Concat with a fused Resize fills its slice of the output (`ops/concat.rs`).
    pub fn write(
        &self,
        x: &ArrayD<f32>,
        scales: Option<&Tensor>,
        sizes: Option<&Tensor>,
        dst: &mut [f32],
    ) -> Result<(), String> {
        let (out_shape, scale) = self.out_shape(x, scales, sizes)?;
        if dst.len() != out_shape.iter().product::<usize>() {
            return Err(format!(
                "resize of {:?} to {out_shape:?} does not fit {} values",
                x.shape(),
                dst.len()
            ));
        }
        self.compute(x, &out_shape, &scale, dst, false)
    }

    /// The resize of `x` to `out_shape` into `out` (its size), or added to it with `add`.
    fn compute(
        &self,
        x: &ArrayD<f32>,
        out_shape: &[usize],
        scale: &[f32],
        out: &mut [f32],
        add: bool,
    ) -> Result<(), String> {
        let s = x.shape();
        let r = s.len();
        if s.contains(&0) {
            // No source values: an empty output, or (sizes from an empty input) zeros.
            if !add {
                out.fill(0.0);
            }
            return Ok(());
        }
        // Only the last two axes may change (true for every image model we target).
        if r < 2 || out_shape[..r - 2] != s[..r - 2] {
            return Err(format!(
                "only spatial (last two axes) resizing is supported, {s:?} -> {out_shape:?}"
            ));
        }
        let (h, w) = (s[r - 2], s[r - 1]);
        let (oh, ow) = (out_shape[r - 2], out_shape[r - 1]);
        let xd = data(x);
        match self.mode {
            Mode::Nearest => {
                let ys: Vec<usize> = (0..oh)
                    .map(|o| self.nearest_index(self.src(o, scale[r - 2], h, oh), h))
                    .collect();
                let xs: Vec<usize> = (0..ow)
                    .map(|o| self.nearest_index(self.src(o, scale[r - 1], w, ow), w))
                    .collect();
                // Integer upscales repeat each source column: write runs, and copy whole
                // output rows when consecutive rows read the same source row.
                // An integer upscale that repeats every source column `rep` times (the
                // detectors' ×2/×4/×8 FPN upsampling) is a run fill, not a gather.
                let rep = ow / w;
                let repeats =
                    rep >= 1 && ow == w * rep && xs.iter().enumerate().all(|(o, &i)| i == o / rep);
                let f = |p: usize, dst: &mut [f32]| {
                    let src = &xd[p * h * w..(p + 1) * h * w];
                    for (oy, &iy) in ys.iter().enumerate() {
                        if add {
                            let srow = &src[iy * w..(iy + 1) * w];
                            let drow = &mut dst[oy * ow..(oy + 1) * ow];
                            if repeats {
                                repeat_columns_add(srow, rep, drow);
                            } else {
                                for (d, &ix) in drow.iter_mut().zip(&xs) {
                                    *d += srow[ix];
                                }
                            }
                            continue;
                        }
                        if oy > 0 && ys[oy - 1] == iy {
                            let (prev, cur) = dst.split_at_mut(oy * ow);
                            cur[..ow].copy_from_slice(&prev[(oy - 1) * ow..]);
                            continue;
                        }
                        let srow = &src[iy * w..(iy + 1) * w];
                        let drow = &mut dst[oy * ow..(oy + 1) * ow];
                        if repeats {
                            repeat_columns(srow, rep, drow);
                        } else {
                            for (d, &ix) in drow.iter_mut().zip(&xs) {
                                *d = srow[ix];
                            }
                        }
                    }
                };
                par_planes(out, oh * ow, f);
            }
            Mode::Linear => {
                let axis = |n_out: usize, n_in: usize, sc: f32| -> Vec<(usize, usize, f32)> {
                    (0..n_out)
                        .map(|o| {
                            let c = self.src(o, sc, n_in, n_out).clamp(0.0, (n_in - 1) as f32);
                            let i0 = c.floor() as usize;
                            let i1 = (i0 + 1).min(n_in - 1);
                            (i0, i1, c - i0 as f32)
                        })
                        .collect()
                };
                let ys = axis(oh, h, scale[r - 2]);
                let xs = axis(ow, w, scale[r - 1]);
                let f = |p: usize, dst: &mut [f32]| {
                    let src = &xd[p * h * w..(p + 1) * h * w];
                    for (oy, &(y0, y1, fy)) in ys.iter().enumerate() {
                        for (ox, &(x0, x1, fx)) in xs.iter().enumerate() {
                            let a = src[y0 * w + x0] * (1.0 - fx) + src[y0 * w + x1] * fx;
                            let b = src[y1 * w + x0] * (1.0 - fx) + src[y1 * w + x1] * fx;
                            let v = a * (1.0 - fy) + b * fy;
                            let d = &mut dst[oy * ow + ox];
                            *d = if add { *d + v } else { v };
                        }
                    }
                };
                par_planes(out, oh * ow, f);
            }
        }
        Ok(())
    }
}

crate::simd::multiversion! {
    /// `dst[i·rep + j] = src[i]` for `j < rep`.
    fn repeat_columns(src: &[f32], rep: usize, dst: &mut [f32]) {
        match rep {
            2 => {
                for (d, &v) in dst.chunks_exact_mut(2).zip(src) {
                    d[0] = v;
                    d[1] = v;
                }
            }
            4 => {
                for (d, &v) in dst.chunks_exact_mut(4).zip(src) {
                    d.copy_from_slice(&[v; 4]);
                }
            }
            _ => {
                for (d, &v) in dst.chunks_exact_mut(rep).zip(src) {
                    d.fill(v);
                }
            }
        }
    }
}

crate::simd::multiversion! {
    /// `dst[i·rep + j] += src[i]` for `j < rep`.
    fn repeat_columns_add(src: &[f32], rep: usize, dst: &mut [f32]) {
        match rep {
            2 => {
                for (d, &v) in dst.chunks_exact_mut(2).zip(src) {
                    d[0] += v;
                    d[1] += v;
                }
            }
            _ => {
                for (d, &v) in dst.chunks_exact_mut(rep).zip(src) {
                    d.iter_mut().for_each(|x| *x += v);
                }
            }
        }
    }
}

fn par_planes(out: &mut [f32], plane: usize, f: impl Fn(usize, &mut [f32]) + Sync) {
    if plane == 0 {
        return;
    }
    if rayon::current_num_threads() > 1 && out.len() > 1 << 15 {
        out.par_chunks_mut(plane)
            .enumerate()
            .for_each(|(i, d)| f(i, d));
    } else {
        out.chunks_mut(plane).enumerate().for_each(|(i, d)| f(i, d));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::elementwise::Step;
    use crate::ops::Input;

    fn f32s(t: Tensor) -> ArrayD<f32> {
        t.into_f32().unwrap()
    }

    /// A Resize with a fused Add gives the bits of the Resize followed by the Add (and its
    /// chain): nearest ×2 (the run-fill path), nearest ×1.5 (the gather), bilinear, with
    /// the addend owned or borrowed, and a broadcasting addend (the separate-Add path).
    #[test]
    fn fused_add_matches_resize_then_add() {
        let x = ArrayD::from_shape_fn(vec![1, 3, 5, 4], |i| {
            (i[1] * 31 + i[2] * 7 + i[3]) as f32 * 0.37 - 4.0
        });
        let cases = [
            (Mode::Nearest, 2.0f32, 2.0f32),
            (Mode::Nearest, 1.5, 1.5),
            (Mode::Linear, 2.0, 2.0),
        ];
        for (mode, sy, sx) in cases {
            let plain = Resize {
                mode,
                coord: Coord::Asymmetric,
                nearest: NearestMode::Floor,
                add: None,
            };
            let fused = Resize {
                add: Some(vec![Step::Relu]),
                ..plain.clone()
            };
            let scales =
                Tensor::F32(ArrayD::from_shape_vec(vec![4], vec![1.0, 1.0, sy, sx]).unwrap());
            let mut pool = BufPool::default();
            let up = f32s(plain.run(&x, Some(&scales), None, &mut pool).unwrap());
            for addend_shape in [up.shape().to_vec(), vec![1, 3, 1, up.shape()[3]]] {
                let y = ArrayD::from_shape_fn(addend_shape.clone(), |i| {
                    ((i[1] * 5 + i[2] * 3 + i[3]) % 11) as f32 * 0.9 - 4.5
                });
                let want = (&up + &y).mapv(|v| v.max(0.0) + 0.0);
                let yt = Tensor::F32(y.clone());
                // The same values as the second image of a batch of two, made owned: standard
                // layout, its data past the start of its buffer.
                let mut two = addend_shape.clone();
                two[0] = 2;
                let batch = ndarray::concatenate(ndarray::Axis(0), &[y.view(), y.view()]).unwrap();
                assert_eq!(batch.shape(), two.as_slice());
                let shifted = batch.slice_move(ndarray::s![1.., .., .., ..]).into_dyn();
                assert!(shifted.is_standard_layout());
                for owned in [0, 1, 2] {
                    let addend = match owned {
                        0 => Input::Owned(yt.clone()),
                        1 => Input::Owned(Tensor::F32(shifted.clone())),
                        _ => Input::Ref(&yt),
                    };
                    let got = f32s(
                        fused
                            .run_add(&x, Some(&scales), None, addend, &mut pool)
                            .unwrap(),
                    );
                    assert_eq!(got.shape(), want.shape());
                    let bits = |a: &ArrayD<f32>| a.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
                    assert_eq!(
                        bits(&got),
                        bits(&want),
                        "{mode:?} ×{sy}, addend {addend_shape:?}, owned {owned}"
                    );
                }
            }
        }
    }
}
