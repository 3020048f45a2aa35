//! MaxPool, AveragePool and GlobalAveragePool (2-D, NCHW).

use super::conv::{Geometry, Resolved};
use crate::exec::BufPool;
use crate::simd::multiversion;
use crate::tensor::{checked_numel, data, f32_array, Tensor};
use ndarray::ArrayD;
use rayon::prelude::*;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PoolKind {
    Max,
    /// `count_include_pad`
    Avg(bool),
}

#[derive(Clone, Debug)]
pub(crate) struct Pool2d {
    pub kind: PoolKind,
    pub geo: Geometry,
    pub ceil_mode: bool,
}

impl Pool2d {
    pub fn run(&self, x: &ArrayD<f32>, alloc: &mut BufPool) -> Result<Tensor, String> {
        let out_shape = self.output_shape(x)?;
        let mut out = alloc.take(checked_numel(&out_shape)?);
        self.write(x, &mut out)?;
        Ok(Tensor::F32(f32_array(&out_shape, out)))
    }

    /// The output shape for input `x` (NCHW).
    pub fn output_shape(&self, x: &ArrayD<f32>) -> Result<[usize; 4], String> {
        Ok(self.geometry(x)?.0)
    }

    /// The output shape and the resolved window geometry for input `x` (NCHW).
    fn geometry(&self, x: &ArrayD<f32>) -> Result<([usize; 4], Resolved), String> {
        let s = x.shape();
        if s.len() != 4 {
            return Err(format!("expected a rank-4 NCHW input, got shape {s:?}"));
        }
        let r = self.geo.resolve(s[2], s[3], self.ceil_mode)?;
        Ok(([s[0], s[1], r.oh, r.ow], r))
    }

    /// Pools `x` into `out` (exactly the output's size): into a new buffer, or into its
    /// slice of a Concat's output (see `ops/concat.rs`).
    pub fn write(&self, x: &ArrayD<f32>, out: &mut [f32]) -> Result<(), String> {
        let (out_shape, r) = self.geometry(x)?;
        if out.len() != out_shape.iter().product::<usize>() {
            return Err(format!(
                "pool output {out_shape:?} does not fit {} values",
                out.len()
            ));
        }
        if out.is_empty() {
            return Ok(());
        }
        let s = x.shape();
        let (h, w) = (s[2], s[3]);
        let (oh, ow) = (r.oh, r.ow);
        let xd = data(x);
        let [kh, kw] = self.geo.kernel;
        let [sh, sw] = self.geo.strides;
        let [dh, dw] = self.geo.dilations;
        let (pt, pl) = (r.pt as isize, r.pl as isize);
        let geo = &self.geo;
        let kind = self.kind;
        // Valid output x range for kernel column kx: 0 <= ox*sw + kx*dw - pl < w.
        let xrange = |kx: usize| -> (usize, usize) {
            let off = (kx * dw) as isize - pl;
            let lo = if off >= 0 {
                0
            } else {
                ((-off) as usize).div_ceil(sw)
            };
            let hi = if off >= w as isize {
                0
            } else {
                ((w as isize - off) as usize).div_ceil(sw)
            };
            (lo.min(ow), hi.min(ow).max(lo.min(ow)))
        };
        // count_include_pad divides by the window clipped to the padded input only.
        let padded_extent =
            |o: usize, k: usize, s: usize, d: usize, p: isize, n: usize, pe: usize| -> usize {
                (0..k)
                    .filter(|&i| {
                        let v = (o * s + i * d) as isize - p;
                        v >= -p && v < (n + pe) as isize
                    })
                    .count()
            };
        // A 2×2 MaxPool window, undilated, not padded at the top or left.
        let max2x2_window = kind == PoolKind::Max
            && [kh, kw] == [2, 2]
            && [dh, dw] == [1, 1]
            && r.pt == 0
            && r.pl == 0;
        // Stride 1, padded at the end only (v6 det's stem, SAME_UPPER): one pass per output
        // row instead of a fill and four read-modify-write passes.
        let max2x2 = max2x2_window && [sh, sw] == [1, 1] && oh <= h && ow <= w;
        // Stride 2, windows inside the input (cls's): one pass per plane instead of a fill
        // and four strided passes per output row (0.28 ms of cls's 11.8, onnxruntime 0.04).
        let max2x2s2 = max2x2_window && [sh, sw] == [2, 2] && 2 * oh <= h && 2 * ow <= w;
        let plane = |pc: usize, dst: &mut [f32]| {
            let src = &xd[pc * h * w..(pc + 1) * h * w];
            if max2x2s2 {
                max_2x2_s2_plane(dst, src, w, ow);
                return;
            }
            if max2x2 {
                for (oy, orow) in dst.chunks_exact_mut(ow).enumerate() {
                    let r0 = &src[oy * w..][..w];
                    // Below the last row lies padding: the window holds one row.
                    let r1 = src.get((oy + 1) * w..(oy + 2) * w).unwrap_or(r0);
                    max_2x2_row(orow, r0, r1);
                }
                return;
            }
            // Window counts: only average pooling without padding in the count needs them.
            let counted = kind == PoolKind::Avg(false);
            let mut cnt_row = if counted { vec![0u32; ow] } else { Vec::new() };
            for oy in 0..oh {
                let orow = &mut dst[oy * ow..(oy + 1) * ow];
                orow.fill(if kind == PoolKind::Max {
                    f32::NEG_INFINITY
                } else {
                    0.0
                });
                if counted {
                    cnt_row.fill(0);
                }
                let mut rows_valid = 0;
                for ky in 0..kh {
                    let iy = (oy * sh + ky * dh) as isize - pt;
                    if iy < 0 || iy >= h as isize {
                        continue;
                    }
                    rows_valid += 1;
                    let irow = &src[iy as usize * w..(iy as usize + 1) * w];
                    for kx in 0..kw {
                        let (lo, hi) = xrange(kx);
                        let off = (kx * dw) as isize - pl;
                        pool_row(
                            kind == PoolKind::Max,
                            &mut orow[lo..hi],
                            irow,
                            (lo * sw) as isize + off,
                            sw,
                        );
                        if counted && rows_valid == 1 {
                            cnt_row[lo..hi].iter_mut().for_each(|c| *c += 1);
                        }
                    }
                }
                match kind {
                    PoolKind::Max => {}
                    PoolKind::Avg(false) => {
                        for (v, &c) in orow.iter_mut().zip(&cnt_row) {
                            *v /= (c as usize * rows_valid).max(1) as f32;
                        }
                    }
                    PoolKind::Avg(true) => {
                        let ny = padded_extent(oy, kh, sh, dh, pt, h, geo.pads[2]);
                        for (ox, v) in orow.iter_mut().enumerate() {
                            let nx = padded_extent(ox, kw, sw, dw, pl, w, geo.pads[3]);
                            *v /= (ny * nx).max(1) as f32;
                        }
                    }
                }
            }
        };
        if max2x2s2 && h == 2 * oh && ow > 0 {
            // Every pair of input rows makes one output row, across planes too: one call
            // per run of rows rather than per plane (cls's planes have 48 outputs).
            const ROWS: usize = 256;
            let body = |(i, d): (usize, &mut [f32])| {
                max_2x2_s2_plane(d, &xd[i * ROWS * 2 * w..], w, ow);
            };
            if rayon::current_num_threads() > 1 && out.len() > 4096 {
                out.par_chunks_mut(ROWS * ow).enumerate().for_each(body);
            } else {
                out.chunks_mut(ROWS * ow).enumerate().for_each(body);
            }
        } else if rayon::current_num_threads() > 1 && out.len() > 4096 {
            out.par_chunks_mut(oh * ow)
                .enumerate()
                .for_each(|(i, d)| plane(i, d));
        } else {
            out.chunks_mut(oh * ow)
                .enumerate()
                .for_each(|(i, d)| plane(i, d));
        }
        Ok(())
    }
}

multiversion! {
    /// `dst[t] = max(dst[t], src[start + t*step])` (or `+=` for average pooling).
    fn pool_row(max: bool, dst: &mut [f32], src: &[f32], start: isize, step: usize) {
        if dst.is_empty() {
            return;
        }
        let s0 = start as usize;
        if step == 1 {
            let s = &src[s0..s0 + dst.len()];
            if max {
                for (d, &v) in dst.iter_mut().zip(s) {
                    *d = nan_max(*d, v);
                }
            } else {
                for (d, &v) in dst.iter_mut().zip(s) {
                    *d += v;
                }
            }
        } else if step == 2 {
            // Pairs of the source: no per-element index arithmetic or bounds check, so the
            // loop vectorizes (cls's 2×2 stride-2 MaxPool ran at ~4 cycles per tap).
            let s = &src[s0..];
            let pairs = (s.len() / 2).min(dst.len());
            let (head, tail) = dst.split_at_mut(pairs);
            for (d, p) in head.iter_mut().zip(s.chunks_exact(2)) {
                *d = if max { nan_max(*d, p[0]) } else { *d + p[0] };
            }
            for (t, d) in tail.iter_mut().enumerate() {
                let v = s[2 * (pairs + t)];
                *d = if max { nan_max(*d, v) } else { *d + v };
            }
        } else {
            for (t, d) in dst.iter_mut().enumerate() {
                let v = src[s0 + t * step];
                if max {
                    *d = nan_max(*d, v);
                } else {
                    *d += v;
                }
            }
        }
    }
}

multiversion! {
    /// `dst[x]` = the NaN-propagating max of `r0` and `r1` at columns `x` and `x + 1`
    /// (only `x` where `x + 1` is past the row: end padding). `dst` is at most as long as
    /// the rows.
    fn max_2x2_row(dst: &mut [f32], r0: &[f32], r1: &[f32]) {
        let w = r0.len().min(r1.len());
        let body = dst.len().min(w.saturating_sub(1));
        let (a0, a1, b0, b1) = (&r0[..body], &r0[1..=body], &r1[..body], &r1[1..=body]);
        for (x, d) in dst[..body].iter_mut().enumerate() {
            *d = nan_max(nan_max(a0[x], b0[x]), nan_max(a1[x], b1[x]));
        }
        for (x, d) in dst.iter_mut().enumerate().skip(body) {
            *d = nan_max(r0[x], r1[x]);
        }
    }
}

multiversion! {
    /// `dst` (rows of `ow`) = the NaN-propagating max over each 2×2 block of `src` (rows of
    /// `w ≥ 2·ow`), the blocks at stride 2 from the top left.
    fn max_2x2_s2_plane(dst: &mut [f32], src: &[f32], w: usize, ow: usize) {
        for (oy, orow) in dst.chunks_exact_mut(ow).enumerate() {
            let r0 = &src[2 * oy * w..][..2 * ow];
            let r1 = &src[(2 * oy + 1) * w..][..2 * ow];
            for (d, (a, b)) in orow.iter_mut().zip(r0.chunks_exact(2).zip(r1.chunks_exact(2))) {
                *d = nan_max(nan_max(a[0], b[0]), nan_max(a[1], b[1]));
            }
        }
    }
}

/// The larger of `a` and `b`, NaN if either is NaN (like onnxruntime's MaxPool). Written
/// so that neither arm of the select is the destination's old value: `if v > d { v } else
/// { d }` was compiled to masked stores, which are microcoded on AMD CPUs (v6 det's
/// MaxPool ran at 5× onnxruntime's time on Zen 3).
#[inline(always)]
fn nan_max(a: f32, b: f32) -> f32 {
    if a.is_nan() || b.is_nan() {
        f32::NAN
    } else {
        a.max(b)
    }
}

/// Mean over all spatial positions: `[N, C, ...] -> [N, C, 1, ...]`.
pub(crate) fn global_avg_pool(x: &ArrayD<f32>, alloc: &mut BufPool) -> Result<Tensor, String> {
    let s = x.shape();
    if s.len() < 3 {
        return Err(format!("expected rank ≥ 3, got shape {s:?}"));
    }
    let nc = s[0] * s[1];
    let hw: usize = s[2..].iter().product();
    let mut out = alloc.take(nc);
    let xd = data(x);
    let f = |i: usize, o: &mut f32| {
        *o = (super::reduce::sum_f64(&xd[i * hw..(i + 1) * hw]) / hw.max(1) as f64) as f32;
    };
    if rayon::current_num_threads() > 1 && x.len() > 1 << 15 {
        out.par_iter_mut().enumerate().for_each(|(i, o)| f(i, o));
    } else {
        out.iter_mut().enumerate().for_each(|(i, o)| f(i, o));
    }
    let mut shape = vec![s[0], s[1]];
    shape.extend(std::iter::repeat_n(1, s.len() - 2));
    Ok(Tensor::F32(f32_array(&shape, out)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::conv::AutoPad;

    /// kernel, strides, pads (top, left, bottom, right), height, width.
    type Case = ([usize; 2], [usize; 2], [usize; 4], usize, usize);

    /// MaxPool (NaN wherever the window holds one) and AveragePool without padding in the
    /// count, against a plain window loop: strides 1, 2 (the pair path and its tail) and 3,
    /// odd and even widths, padding on either side.
    #[test]
    fn pools_match_a_plain_window_loop() {
        let cases: &[Case] = &[
            ([2, 2], [1, 1], [0, 0, 1, 1], 7, 11),
            ([2, 2], [1, 1], [0, 0, 0, 0], 6, 40),
            ([2, 2], [1, 1], [0, 0, 1, 1], 5, 1),
            ([2, 2], [1, 1], [1, 0, 0, 1], 4, 9),
            ([2, 2], [2, 2], [0, 0, 0, 0], 6, 9),
            ([2, 2], [2, 2], [0, 0, 0, 0], 5, 10),
            // Two planes of 200 output rows: the row runs of 256 cross a plane.
            ([2, 2], [2, 2], [0, 0, 0, 0], 400, 9),
            ([3, 3], [2, 2], [1, 1, 1, 1], 9, 13),
            ([3, 2], [3, 2], [0, 0, 0, 0], 6, 17),
            ([3, 3], [3, 3], [1, 2, 0, 1], 8, 19),
        ];
        for &(kernel, strides, pads, h, w) in cases {
            let x: Vec<f32> = (0..2 * h * w)
                .map(|i| match i % 23 {
                    5 => f32::NAN,
                    v => (v as f32 - 11.0) * 0.37,
                })
                .collect();
            let xa = f32_array(&[1, 2, h, w], x.clone());
            for kind in [PoolKind::Max, PoolKind::Avg(false)] {
                let pool = Pool2d {
                    kind,
                    geo: Geometry {
                        kernel,
                        strides,
                        pads,
                        dilations: [1, 1],
                        auto_pad: AutoPad::NotSet,
                    },
                    ceil_mode: false,
                };
                let got = pool.run(&xa, &mut BufPool::default()).unwrap();
                let got = got.as_f32().unwrap();
                let (oh, ow) = (got.shape()[2], got.shape()[3]);
                let got = got.as_slice().unwrap();
                for c in 0..2 {
                    for oy in 0..oh {
                        for ox in 0..ow {
                            let mut vals = Vec::new();
                            for ky in 0..kernel[0] {
                                for kx in 0..kernel[1] {
                                    let iy = (oy * strides[0] + ky) as isize - pads[0] as isize;
                                    let ix = (ox * strides[1] + kx) as isize - pads[1] as isize;
                                    if (0..h as isize).contains(&iy)
                                        && (0..w as isize).contains(&ix)
                                    {
                                        vals.push(x[(c * h + iy as usize) * w + ix as usize]);
                                    }
                                }
                            }
                            let g = got[(c * oh + oy) * ow + ox];
                            let at = format!(
                                "{kind:?} {kernel:?} {strides:?} {pads:?} {h}x{w} c{c} ({oy},{ox})"
                            );
                            if vals.iter().any(|v| v.is_nan()) {
                                assert!(g.is_nan(), "{at}: {g}, want NaN");
                            } else if kind == PoolKind::Max {
                                let want = vals.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                                assert_eq!(g, want, "{at}");
                            } else {
                                let want = vals.iter().sum::<f32>() / vals.len() as f32;
                                assert!((g - want).abs() < 1e-5, "{at}: {g}, want {want}");
                            }
                        }
                    }
                }
            }
        }
    }
}
