//! Resize (opset 11+ input form `X, roi, scales[, sizes]`, and opset 10 `X, scales`).
//! Supports `nearest` (all `nearest_mode`s) and `linear` (bilinear over the last two
//! axes) with the common coordinate transformations.

use crate::exec::BufPool;
use crate::tensor::{checked_numel, data, f32_array, Tensor};
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
        if s.contains(&0) {
            return Ok(Tensor::F32(f32_array(
                &out_shape,
                alloc.take(checked_numel(&out_shape)?),
            )));
        }
        // Only the last two axes may change (true for every image model we target).
        if r < 2 || out_shape[..r - 2] != s[..r - 2] {
            return Err(format!(
                "only spatial (last two axes) resizing is supported, {s:?} -> {out_shape:?}"
            ));
        }
        let (h, w) = (s[r - 2], s[r - 1]);
        let (oh, ow) = (out_shape[r - 2], out_shape[r - 1]);
        let planes: usize = s[..r - 2].iter().product();
        let mut out = alloc.take(checked_numel(&out_shape)?);
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
                par_planes(&mut out, oh * ow, f);
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
                            dst[oy * ow + ox] = a * (1.0 - fy) + b * fy;
                        }
                    }
                };
                par_planes(&mut out, oh * ow, f);
            }
        }
        let _ = planes;
        Ok(Tensor::F32(f32_array(&out_shape, out)))
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
