//! Depthwise convolution (one input and one output channel per group): direct kernels
//! whose inner loops run over contiguous output pixels, so they vectorize. For 3×3, 5×5
//! and 7×7 kernels input rows are first copied into zero-padded (stride 2: even/odd
//! de-interleaved) buffers, so that every tap is in bounds, and each output row is summed
//! in registers over all its taps; with AVX2, two rows at a time where their kernels
//! overlap ([`super::dw_pair`]). Other geometries take one pass per tap over the plane.
//!
//! Every path sums each output in the same order (the bias, then a multiply and an add
//! per tap inside the input, kernel rows then columns), so their results are the same
//! bits and independent of how planes are split over threads.

use super::conv::{split_pairs, with_scratch, ConvWeights, Geometry, Planes, Resolved};
use super::dw_pair;
use super::elementwise::{apply_chain, Chain};
use crate::simd::multiversion;
use rayon::prelude::*;

/// Direct depthwise convolution (one input channel per output channel).
///
/// # Safety
/// As [`Conv::compute`](super::conv::Conv::compute): `out`'s `n · c` planes are valid for `oh · ow` floats each and
/// exclusively this call's.
pub(super) unsafe fn depthwise(
    x: &[f32],
    out: Planes,
    wts: &ConvWeights,
    geo: &Geometry,
    r: Resolved,
    dims: [usize; 4],
    post: &Chain,
) {
    let [_, c, h, w] = dims;
    let (oh, ow) = (r.oh, r.ow);
    let [kh, kw] = geo.kernel;
    let plane = |bc: usize, dst: &mut [f32]| {
        let ch = bc % c;
        let src = &x[bc * h * w..(bc + 1) * h * w];
        let kern = &wts.w[ch * kh * kw..(ch + 1) * kh * kw];
        with_scratch(|s| {
            let fast = dw_fast_geometry(geo);
            // One call site for every specialized kernel width.
            type Fast =
                fn(&[f32], &mut [f32], &[f32], f32, [usize; 4], &Geometry, Resolved, &mut Vec<f32>);
            let specialized: Option<Fast> = match (fast, kw) {
                (true, 3) => Some(dw_plane_fast::<3>),
                (true, 5) => Some(dw_plane_fast::<5>),
                (true, 7) => Some(dw_plane_fast::<7>),
                _ => None,
            };
            match specialized {
                Some(f) => f(
                    src,
                    dst,
                    kern,
                    wts.bias[ch],
                    [h, w, oh, ow],
                    geo,
                    r,
                    &mut s.1,
                ),
                None => dw_plane(src, dst, kern, wts.bias[ch], h, w, oh, ow, geo, r, &mut s.1),
            }
        });
        apply_chain(post, dst);
    };
    let planes = dims[0] * c;
    // SAFETY: plane bc of the contract's planes, one task per plane.
    let dst = |bc: usize| unsafe { out.plane(bc, oh * ow) };
    if super::threads() > 1 && planes * oh * ow > 4096 {
        (0..planes)
            .into_par_iter()
            .for_each(|bc| plane(bc, dst(bc)));
    } else {
        (0..planes).for_each(|bc| plane(bc, dst(bc)));
    }
}

/// Tallest kernel the fast depthwise path handles (its row ring is a fixed array).
const MAX_FAST_KH: usize = 8;

/// Tallest vertical stride at which [`dw_plane_fast`] sums two output rows at a time
/// ([`super::dw_pair`]).
const MAX_PAIR_STRIDE: usize = 2;

/// Most input rows one step of [`dw_plane_fast`] reads: a row pair's.
const MAX_STEP_ROWS: usize = MAX_FAST_KH + MAX_PAIR_STRIDE;
const _: () = assert!(MAX_STEP_ROWS <= dw_pair::MAX_ROWS);

/// Padded planes of up to this many floats (32 KiB, an L1 cache) are padded whole by
/// [`dw_plane_fast`] instead of one input row at a time into a ring: on the recognizers'
/// 80-pixel rows, keeping the ring (a division and a few copies per output row) took as
/// long as the arithmetic.
pub(super) const DW_WHOLE_PLANE: usize = 8192;

/// Whether a depthwise conv's geometry suits [`dw_plane_fast`] (given a kernel width it is
/// specialized for: 3, 5 or 7): dilation 1, horizontal stride 1 or 2, at most
/// [`MAX_FAST_KH`] kernel rows.
pub(super) fn dw_fast_geometry(geo: &Geometry) -> bool {
    geo.dilations == [1, 1]
        && (geo.strides[1] == 1 || geo.strides[1] == 2)
        && (1..=MAX_FAST_KH).contains(&geo.kernel[0])
}

multiversion! {
    /// Depthwise plane for kernel width `K`, dilation 1, horizontal stride 1 or 2.
    ///
    /// Input rows are copied once into zero-padded (and, for stride 2, even/odd
    /// de-interleaved) buffers, so every tap of every output pixel is in bounds; each output
    /// row is then summed over all its `kh × K` taps in registers ([`dw_out_row`]) and
    /// stored once. The whole plane is one dispatched call: per-row calls cost as much as
    /// the arithmetic on the 80-pixel rows of a line recognizer.
    #[allow(clippy::too_many_arguments)]
    fn dw_plane_fast<const K: usize>(
        src: &[f32],
        dst: &mut [f32],
        kern: &[f32],
        bias: f32,
        dims: [usize; 4],
        geo: &Geometry,
        r: Resolved,
        scratch: &mut Vec<f32>,
    ) {
        let [h, w, oh, ow] = dims;
        let kh = geo.kernel[0];
        let [sh, sw] = geo.strides;
        // Padded row: index i holds input column i - pl (zero outside).
        let pw = (ow - 1) * sw + K;
        let half = pw.div_ceil(2);
        let row_len = if sw == 2 { 2 * half } else { pw };
        // Two output rows at a time where their kernels overlap (see `dw_pair`).
        let pairs = sw == 1 && sh <= MAX_PAIR_STRIDE && sh < kh && dw_pair::fits(ow);
        // Whether output row `oy` and the next both lie over `kh` input rows.
        let full_pair = |oy: usize| {
            pairs && oy + 1 < oh && {
                let (lo, hi, _) = dw_kernel_rows(oy, sh, r.pt, kh, h);
                let (lo1, hi1, _) = dw_kernel_rows(oy + 1, sh, r.pt, kh, h);
                lo == 0 && hi == kh && lo1 == 0 && hi1 == kh
            }
        };
        // Sums output row `oy` (and `oy + 1` for a full pair) from the input rows `taps`
        // its kernel rows `ky` read; returns how many output rows it wrote.
        let mut emit = |oy: usize, taps: &[&[f32]], pair: bool, ky: std::ops::Range<usize>| {
            if pair {
                let (out0, out1) = dst[oy * ow..(oy + 2) * ow].split_at_mut(ow);
                dw_pair::rows2::<K>(out0, out1, taps, kern, bias, sh);
                2
            } else {
                let out = &mut dst[oy * ow..(oy + 1) * ow];
                dw_out_row::<K>(out, taps, &kern[ky.start * K..ky.end * K], bias, sw, half);
                1
            }
        };
        if h * row_len <= DW_WHOLE_PLANE {
            // A small plane is padded whole, one input row after another, and each output
            // row reads its input rows where they lie: no ring to keep per output row.
            scratch.resize(h * row_len, 0.0);
            for (buf, row) in scratch.chunks_exact_mut(row_len).zip(src.chunks_exact(w)) {
                fill_padded(buf, row, r.pl, sw, half);
            }
            let padded = &scratch[..];
            let mut oy = 0;
            while oy < oh {
                let (ky_lo, ky_hi, first) = dw_kernel_rows(oy, sh, r.pt, kh, h);
                let mut taps: [&[f32]; MAX_STEP_ROWS] = [&[]; MAX_STEP_ROWS];
                let pair = full_pair(oy);
                let n = if pair { kh + sh } else { ky_hi - ky_lo };
                // (An output row over padding rows only reads none: `first` may lie past
                // the last input row then.)
                let below = &padded[(first * row_len).min(padded.len())..];
                for (tap, row) in taps.iter_mut().zip(below.chunks_exact(row_len)).take(n) {
                    *tap = row;
                }
                oy += emit(oy, &taps[..n], pair, ky_lo..ky_hi);
            }
            return;
        }
        // Slots: one per input row a step reads (a ring keyed by input row).
        let slots = if pairs { kh + sh } else { kh };
        scratch.resize(slots * row_len, 0.0);
        let rows = &mut scratch[..];
        let mut slot_row = [usize::MAX; MAX_STEP_ROWS];
        let mut oy = 0;
        while oy < oh {
            let (ky_lo, ky_hi, first) = dw_kernel_rows(oy, sh, r.pt, kh, h);
            let pair = full_pair(oy);
            let n = if pair { kh + sh } else { ky_hi - ky_lo };
            // Input row `iy` lives in ring slot `iy % slots`: one division per step, then
            // steps (a division per kernel row, twice, was most of the time outside the
            // arithmetic on the recognizers' 80-pixel planes). `kh ≥ 1` on this path.
            let slot0 = first % slots;
            let next = |slot: usize| if slot + 1 == slots { 0 } else { slot + 1 };
            // Bring this step's input rows into the ring.
            let mut slot = slot0;
            for iy in first..first + n {
                if slot_row[slot] != iy {
                    let buf = &mut rows[slot * row_len..(slot + 1) * row_len];
                    fill_padded(buf, &src[iy * w..(iy + 1) * w], r.pl, sw, half);
                    slot_row[slot] = iy;
                }
                slot = next(slot);
            }
            let mut taps: [&[f32]; MAX_STEP_ROWS] = [&[]; MAX_STEP_ROWS];
            let mut slot = slot0;
            for tap in &mut taps[..n] {
                *tap = &rows[slot * row_len..(slot + 1) * row_len];
                slot = next(slot);
            }
            oy += emit(oy, &taps[..n], pair, ky_lo..ky_hi);
        }
    }
}

/// The kernel rows of output row `oy` that lie over input rows inside the plane, one run
/// `ky_lo..ky_hi`, and the input row the first of them reads (`first`; past the last input
/// row when the run is empty). Kernel rows over padding rows are left out: they add only
/// zeros (±0, which leaves every sum as it is), and on small planes they are most of the
/// work (cls's 5×5 depthwise on 2-row planes: 3 of 5 rows).
#[inline(always)]
fn dw_kernel_rows(oy: usize, sh: usize, pt: usize, kh: usize, h: usize) -> (usize, usize, usize) {
    let top = (oy * sh) as isize - pt as isize;
    let ky_lo = (-top).clamp(0, kh as isize) as usize;
    let ky_hi = (h as isize - top).clamp(ky_lo as isize, kh as isize) as usize;
    (ky_lo, ky_hi, (top + ky_lo as isize).max(0) as usize)
}

/// Output pixels summed per register block in [`dw_out_row`]: four AVX2 vectors, so that
/// four independent sums hide the add latency (with two, a 7×7 kernel's 49-long chain of
/// dependent adds set the pace; eight spill to the stack), then blocks of two vectors for
/// what is left of the row.
const DW_WIDE: usize = 32;
const DW_BLOCK: usize = 16;
/// Rows whose length is a multiple of 40 (the recognizers' 80-pixel rows) go in blocks of
/// five vectors instead: 32 + 32 + 16 left a 2-vector block whose two sums waited on the
/// add latency (v4 rec's 5×5 depthwise convs 0.95×, v6 rec's 3×3 0.93×; blocks of 6 or 10
/// vectors spilled and ran 1.3–1.7× slower).
pub(super) const DW_FIVE: usize = 40;

/// One depthwise output row: `out[ox] = bias + Σ_ky Σ_kx w[ky][kx] · rows[ky][ox·sw + kx]`,
/// with the padded (stride 2: de-interleaved at `half`) input rows of [`fill_padded`].
/// Inlined into the dispatched plane, where the block loop vectorizes.
#[inline(always)]
fn dw_out_row<const K: usize>(
    out: &mut [f32],
    rows: &[&[f32]],
    kern: &[f32],
    bias: f32,
    sw: usize,
    half: usize,
) {
    let n = out.len();
    // Where tap kx of output pixel 0 sits in a padded row: stride 2 reads even taps from
    // the even half and odd taps from the odd half, both contiguous in ox.
    let start = |kx: usize| {
        if sw == 1 {
            kx
        } else {
            (kx % 2) * half + kx / 2
        }
    };
    let mut ox = 0;
    if n.is_multiple_of(DW_FIVE) {
        while ox + DW_FIVE <= n {
            dw_block::<K, DW_FIVE>(out, rows, kern, bias, ox, &start);
            ox += DW_FIVE;
        }
        return;
    }

    while ox + DW_WIDE <= n {
        dw_block::<K, DW_WIDE>(out, rows, kern, bias, ox, &start);
        ox += DW_WIDE;
    }
    while ox + DW_BLOCK <= n {
        dw_block::<K, DW_BLOCK>(out, rows, kern, bias, ox, &start);
        ox += DW_BLOCK;
    }
    if ox < n && n >= DW_BLOCK {
        // The tail as one more block ending at the row's end: the pixels it shares with
        // the previous block get the same sums again (same operations, same bits), and
        // rows like 30 or 60 pixels no longer spend half their time in the scalar loop.
        dw_block::<K, DW_BLOCK>(out, rows, kern, bias, n - DW_BLOCK, &start);
        return;
    }
    for (o, x) in out[ox..].iter_mut().zip(ox..) {
        let mut a = bias;
        for (row, wk) in rows.iter().zip(kern.chunks_exact(K)) {
            for (kx, &wv) in wk.iter().enumerate() {
                a += wv * row[start(kx) + x];
            }
        }
        *o = a;
    }
}

/// The `B` output pixels from `ox` of [`dw_out_row`], summed in registers.
#[inline(always)]
fn dw_block<const K: usize, const B: usize>(
    out: &mut [f32],
    rows: &[&[f32]],
    kern: &[f32],
    bias: f32,
    ox: usize,
    start: &impl Fn(usize) -> usize,
) {
    let mut acc = [bias; B];
    for (row, wk) in rows.iter().zip(kern.chunks_exact(K)) {
        for (kx, &wv) in wk.iter().enumerate() {
            let s = &row[start(kx) + ox..start(kx) + ox + B];
            for (a, &v) in acc.iter_mut().zip(s) {
                *a += wv * v;
            }
        }
    }
    out[ox..ox + B].copy_from_slice(&acc);
}

/// Writes `row` into `buf` shifted right by `pl` with zero borders; for stride 2 the
/// result is stored de-interleaved (even columns, then odd columns at `half`).
#[inline(always)] // into the dispatched plane, so that the pair copies vectorize
fn fill_padded(buf: &mut [f32], row: &[f32], pl: usize, sw: usize, half: usize) {
    if sw == 1 {
        // Only the borders need zeros; the middle is overwritten.
        let n = row.len().min(buf.len().saturating_sub(pl));
        let pl = pl.min(buf.len());
        buf[..pl].fill(0.0);
        buf[pl..pl + n].copy_from_slice(&row[..n]);
        buf[pl + n..].fill(0.0);
    } else {
        buf.fill(0.0);
        let (ev, od) = buf.split_at_mut(half);
        // Padded position p = i + pl goes to ev[p/2] (p even) or od[p/2] (p odd). Input
        // pair (2j, 2j+1) lands at position j + pl/2 of one half and the next position of
        // the other (same half index when pl is even, one further when pl is odd).
        let m = pl / 2;
        let (first, second, next) = if pl.is_multiple_of(2) {
            (ev, od, 0)
        } else {
            (od, ev, 1)
        };
        let (fl, sl) = (first.len(), second.len());
        let a = &mut first[m.min(fl)..];
        let b = &mut second[(m + next).min(sl)..];
        let pairs = split_pairs(row, a, b);
        // What is left (an odd last column, or columns past a shorter half): one by one.
        for (i, &v) in row.iter().enumerate().skip(2 * pairs) {
            let dst = if i % 2 == 0 { &mut *a } else { &mut *b };
            if let Some(d) = dst.get_mut(i / 2) {
                *d = v;
            }
        }
    }
}

multiversion! {
    /// One depthwise output plane. Each kernel tap is a pass of `out[lo..hi] += w·in[..]`
    /// over contiguous memory; for stride 2 the input row is first split into even and
    /// odd columns so those passes stay contiguous (and vectorize) too.
    #[allow(clippy::too_many_arguments)]
    fn dw_plane(src: &[f32], dst: &mut [f32], kern: &[f32], bias: f32, h: usize, w: usize, oh: usize, ow: usize, geo: &Geometry, r: Resolved, split: &mut Vec<f32>) {
        let [kh, kw] = geo.kernel;
        let [sh, sw] = geo.strides;
        let [dh, dw] = geo.dilations;
        let deint = sw == 2;
        let half = w.div_ceil(2);
        if deint {
            split.resize(2 * half, 0.0);
        }
        let mut split_row = usize::MAX;
        for oy in 0..oh {
            let orow = &mut dst[oy * ow..(oy + 1) * ow];
            orow.fill(bias);
            for ky in 0..kh {
                let iy = (oy * sh + ky * dh) as isize - r.pt as isize;
                if iy < 0 || iy >= h as isize {
                    continue;
                }
                let irow = &src[iy as usize * w..(iy as usize + 1) * w];
                if deint && split_row != iy as usize {
                    let (ev, od) = split.split_at_mut(half);
                    for (i, v) in irow.iter().enumerate() {
                        if i % 2 == 0 {
                            ev[i / 2] = *v;
                        } else {
                            od[i / 2] = *v;
                        }
                    }
                    split_row = iy as usize;
                }
                for kx in 0..kw {
                    let wv = kern[ky * kw + kx];
                    let off = (kx * dw) as isize - r.pl as isize;
                    // Valid ox: 0 <= ox*sw + off < w.
                    let lo = if off >= 0 { 0 } else { ((-off) as usize).div_ceil(sw) };
                    let hi_excl = if (w as isize) - off <= 0 { 0 } else { ((w as isize - off) as usize).div_ceil(sw) };
                    let hi = hi_excl.min(ow);
                    if lo >= hi {
                        continue;
                    }
                    let start = ((lo * sw) as isize + off) as usize;
                    let n = hi - lo;
                    let s: &[f32] = if sw == 1 {
                        &irow[start..start + n]
                    } else if deint {
                        // Columns start, start+2, ... live in one half at start/2.
                        let base = if start.is_multiple_of(2) { 0 } else { half };
                        &split[base + start / 2..base + start / 2 + n]
                    } else {
                        &[]
                    };
                    if sw == 1 || deint {
                        for (o, &i) in orow[lo..hi].iter_mut().zip(s) {
                            *o += wv * i;
                        }
                    } else {
                        for (t, o) in orow[lo..hi].iter_mut().enumerate() {
                            *o += wv * irow[start + t * sw];
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padded_rows_match_a_plain_shift_and_split() {
        for len in [1usize, 2, 7, 16, 33] {
            let row: Vec<f32> = (0..len).map(|i| i as f32 + 1.0).collect();
            for pl in 0..4 {
                for buf_len in [len + pl, len + pl + 3, (len + pl) / 2 + 1] {
                    for sw in [1, 2] {
                        let half = buf_len.div_ceil(2);
                        // Padded position p holds row[p - pl]; with stride 2 the buffer
                        // holds even positions, then odd ones from `half`.
                        let padded = |p: usize| {
                            if p >= pl && p - pl < len {
                                row[p - pl]
                            } else {
                                0.0
                            }
                        };
                        let want: Vec<f32> = (0..buf_len)
                            .map(|k| match sw {
                                1 => padded(k),
                                _ if k < half => padded(2 * k),
                                _ => padded(2 * (k - half) + 1),
                            })
                            .collect();
                        let mut got = vec![f32::NAN; buf_len];
                        fill_padded(&mut got, &row, pl, sw, half);
                        assert_eq!(got, want, "len {len} pl {pl} buf {buf_len} sw {sw}");
                    }
                }
            }
        }
    }
}
