//! 3×3 stride-1 convolution by Winograd's minimal filtering, F(2×2, 3×3).
//!
//! Why: a 3×3 conv with few output channels is the detectors' costliest node (v4 det's
//! five 96 → 24 convs are a third of its time; v6 det's one at 240² a tenth), and on a
//! core without AVX-512 the direct kernel reaches only about 60 % of peak on them.
//! F(2×2, 3×3) computes each 2×2 block of output pixels from its 4×4 input patch with
//! 16 products per channel pair instead of 36: the multiply-adds shrink 2.25×, paid for
//! by cheap additions before (input transform, `Bᵀ d B`) and after (output transform,
//! `Aᵀ m A`). The 16 products of every (output, input) channel pair over a run of tiles
//! are 16 independent GEMMs `U[ξ] · V[ξ]`, run by our packed SGEMM: `U` (the transformed
//! weights, `G g Gᵀ`) is packed once at load, `V` is written straight into panel layout.
//!
//! Numerics: not the bits of the direct path (different operations), but the transforms
//! only add and subtract (and halve, exactly, in `G`), so the error stays at the level of
//! a few roundings: the unit test bounds it against an f64 reference, and the whole
//! models still match onnxruntime within 1e-4. The arithmetic per output element does not
//! depend on how the work is split over threads.

use super::conv::{odd_lines, split_pairs, ConvWeights, Geometry, Planes, Resolved};
use super::elementwise::{apply_chain, Chain};
use crate::packed::{gemm_tile, panel_index, BSrc, PackedA, NR};
use crate::simd::multiversion;
use rayon::prelude::*;

/// Tiles (2×2 output blocks) per run, the GEMMs' column count: eight B panels, a whole
/// tile row of a 240-pixel-wide map. Runs of 32 tiles keep the transformed input in L2
/// (16 × 96 × 32 floats, 192 KiB) but read every input row in 66-float pieces from
/// 4 × cin places, and measured 20 % slower on v4 det's 96 → 24 conv at 240² (isolated,
/// alternating builds); 64 measured the same as 128.
const RUN: usize = 128;

/// Whether a conv takes the Winograd path: 3×3, stride 1, no dilation, one group, and
/// channel counts for which the 2.25× fewer multiply-adds outweigh the transforms.
pub(crate) fn suits(geo: &Geometry, group: usize, cin_g: usize, cout: usize) -> bool {
    geo.kernel == [3, 3]
        && geo.strides == [1, 1]
        && geo.dilations == [1, 1]
        && group == 1
        && cin_g >= 16
        && cout >= 16
}

/// Output widths from which a call takes F(4×4, 3×3) ([`super::winograd4`]) instead of
/// F(2×2, 3×3). Its 4× fewer multiply-adds (against 2.25×) pay for its heavier transforms
/// on wide maps: the 96 → 24 conv at 240² 0.79 of F(2×2), at 120² 0.88; but at 96²
/// 1.2, at 80² 1.17 and at 60² 1.1 (runs of tiles padded to whole panels, and fewer
/// tasks per thread), at 30² 2.1 (in-process pairs, 1 and 2 threads alike).
const F4_MIN_WIDTH: usize = 112;

/// Whether a conv whose output is `ow` wide takes F(4×4, 3×3) (given its operands; banded
/// chains drop them, see `Bands::new`).
pub(crate) fn takes_f4(ow: usize) -> bool {
    ow >= F4_MIN_WIDTH
}

/// Builds both Winograd operand sets of `wts` when the conv [`suits`] (else clears them).
pub(crate) fn prepare(wts: &mut ConvWeights, geo: &Geometry, group: usize) {
    if suits(geo, group, wts.cin_g, wts.cout) {
        wts.winograd = transform_weights(&wts.w, wts.cout, wts.cin_g);
        wts.winograd4 = super::winograd4::transform_weights(&wts.w, wts.cout, wts.cin_g);
    } else {
        wts.winograd.clear();
        wts.winograd4.clear();
    }
}

/// The transformed weights `U[ξ] = (G g Gᵀ)[ξ]`, one packed `cout × cin` operand per
/// position ξ of the 4×4 tile. `w` is ONNX's `[cout, cin, 3, 3]`.
pub(crate) fn transform_weights(w: &[f32], cout: usize, cin: usize) -> Vec<PackedA> {
    const G: [[f64; 3]; 4] = [
        [1.0, 0.0, 0.0],
        [0.5, 0.5, 0.5],
        [0.5, -0.5, 0.5],
        [0.0, 0.0, 1.0],
    ];
    transform_weights_by(w, cout, cin, &G)
}

/// `U[ξ] = (G g Gᵀ)[ξ]` for a `T × 3` matrix `G` (in f64, rounded once): `T²` packed
/// `cout × cin` operands, position `ξ = i·T + j`.
pub(super) fn transform_weights_by<const T: usize>(
    w: &[f32],
    cout: usize,
    cin: usize,
    g_mat: &[[f64; 3]; T],
) -> Vec<PackedA> {
    let mut u = vec![vec![0f32; cout * cin]; T * T];
    for co in 0..cout {
        for ci in 0..cin {
            let g = &w[(co * cin + ci) * 9..][..9];
            for i in 0..T {
                for j in 0..T {
                    let mut s = 0f64;
                    for a in 0..3 {
                        for b in 0..3 {
                            s += g_mat[i][a] * g[a * 3 + b] as f64 * g_mat[j][b];
                        }
                    }
                    u[i * T + j][co * cin + ci] = s as f32;
                }
            }
        }
    }
    u.iter().map(|m| PackedA::new(m, cout, cin, cin)).collect()
}

/// Per-thread buffers of either variant, kept across calls.
#[derive(Default)]
pub(super) struct Scratch {
    /// One channel's input rows split by column phase, then `Bᵀ` down them (F(2×2): 16
    /// arrays of `np + 1` floats; F(4×4): 48).
    pub rows: Vec<f32>,
    /// `V`: 16 or 36 packed `cin × np` B operands, `vreg` floats apart.
    pub v: Vec<f32>,
    /// `M = U·V`: 16 or 36 row-major `cout × np` products, `mreg` floats apart.
    pub m: Vec<f32>,
    /// The GEMM's own scratch (unused with pre-packed B, kept for its signature).
    pub gemm: Vec<f32>,
}

thread_local! {
    static SCRATCH: std::cell::RefCell<Scratch> = std::cell::RefCell::new(Scratch::default());
}

/// Calls `run(xb, ob, tile, scratch)` for every run of up to `run_len` tiles of every row
/// of `block × block` output blocks of every image of `x` (`[n, c, h, w]`), in parallel
/// on the current pool: `xb` is the image's input, `ob` its first output plane (`cout`
/// planes, `out.stride` apart).
///
/// # Safety
/// As [`super::conv::Conv::compute`] for `out`; `run` writes only its tile's output rows
/// `block·ty..` and columns `block·tx0..block·(tx0 + nt)` (clipped to `oh × ow`).
#[allow(clippy::too_many_arguments)]
pub(super) unsafe fn for_each_run(
    x: &[f32],
    out: Planes,
    cout: usize,
    [n, c, h, w]: [usize; 4],
    [oh, ow]: [usize; 2],
    block: usize,
    run_len: usize,
    run: impl Fn(&[f32], *mut f32, Tile, &mut Scratch) + Sync,
) {
    assert!(x.len() >= n * c * h * w);
    let (th, tw) = (oh.div_ceil(block), ow.div_ceil(block));
    let runs = tw.div_ceil(run_len);
    let tasks = n * th * runs;
    let (optr, ps) = (out.ptr, out.stride);
    let task = |t: usize| {
        let (b, rest) = (t / (th * runs), t % (th * runs));
        let (ty, tx0) = (rest / runs, (rest % runs) * run_len);
        let xb = &x[b * c * h * w..][..c * h * w];
        let tile = Tile {
            ty,
            tx0,
            nt: run_len.min(tw - tx0),
        };
        SCRATCH.with(|s| {
            // SAFETY: image b's planes, by the contract; the tile's region is this
            // task's alone.
            let ob = unsafe { optr.get().add(b * cout * ps) };
            run(xb, ob, tile, &mut s.borrow_mut())
        });
    };
    if tasks > 1 && super::threads() > 1 {
        (0..tasks).into_par_iter().for_each(task);
    } else {
        (0..tasks).for_each(task);
    }
}

/// The GEMMs `M[ξ] = U[ξ] · V[ξ]` of one run of `nt` tiles (`np` columns per operand).
pub(super) fn products(
    u: &[PackedA],
    s: &mut Scratch,
    [vreg, mreg]: [usize; 2],
    np: usize,
    nt: usize,
) {
    let (c, cout) = (u[0].k, u[0].m);
    assert!(s.v.len() >= u.len() * vreg && s.m.len() >= u.len() * mreg && mreg >= cout * np);
    for (xi, ux) in u.iter().enumerate() {
        let v = &s.v[xi * vreg..][..c * np];
        // SAFETY: `m` holds `mreg` floats per product (checked above); this writes rows
        // 0..cout, columns 0..nt of product xi (row stride np).
        unsafe {
            gemm_tile(
                ux,
                BSrc::Panels(v, np),
                None,
                0,
                cout,
                0,
                nt,
                s.m.as_mut_ptr().add(xi * mreg),
                np,
                &mut s.gemm,
                &[],
            )
        };
    }
}

/// Stores output rows `rows` (the first `cols` values of each) of channel `co` from row
/// `oy0`, column `ox0` on, and applies `post` to them.
///
/// # Safety
/// `ob` is one image's output (planes `ps` apart, rows `ow` long); the rows lie inside it
/// and in this task's region.
#[allow(clippy::too_many_arguments)]
pub(super) unsafe fn store_rows<'a>(
    ob: *mut f32,
    [ps, ow]: [usize; 2],
    co: usize,
    [oy0, ox0]: [usize; 2],
    rows: impl Iterator<Item = &'a [f32]>,
    cols: usize,
    post: &Chain,
) {
    for (a, ya) in rows.enumerate() {
        // SAFETY: by the contract.
        let dst =
            unsafe { std::slice::from_raw_parts_mut(ob.add(co * ps + (oy0 + a) * ow + ox0), cols) };
        dst.copy_from_slice(&ya[..cols]);
        if !post.is_empty() {
            apply_chain(post, dst);
        }
    }
}

/// The conv `x` (`[n, c, h, w]`) → `out` (`n · cout` planes of `oh × ow`) with
/// `wts.winograd` from [`transform_weights`], `wts.bias` and the fused `post` chain.
///
/// # Safety
/// As [`super::conv::Conv::compute`]: `out`'s planes are valid for `oh · ow` floats each
/// and exclusively this call's.
pub(crate) unsafe fn conv(
    x: &[f32],
    out: Planes,
    wts: &ConvWeights,
    r: Resolved,
    [n, c, h, w]: [usize; 4],
    post: &Chain,
) {
    let u = &wts.winograd[..];
    assert!(u.len() == 16 && u[0].m == wts.cout && u[0].k == c);
    // SAFETY: forwarded contract; `run_tile` (whose contract `for_each_run` meets) writes
    // only its tile's rows and columns.
    unsafe {
        for_each_run(
            x,
            out,
            wts.cout,
            [n, c, h, w],
            [r.oh, r.ow],
            2,
            RUN,
            |xb, ob, tile, s| {
                // `ob` and the tile's region, from `for_each_run`.
                run_tile(xb, ob, out.stride, wts, r, [c, h, w], tile, post, s)
            },
        )
    };
}

/// One run of tiles: tile row `ty`, tiles `tx0..tx0 + nt`.
#[derive(Clone, Copy)]
pub(super) struct Tile {
    pub ty: usize,
    pub tx0: usize,
    pub nt: usize,
}

/// Input transform, 16 GEMMs, output transform (+ bias, + `post`) for one run of tiles.
///
/// # Safety
/// `ob` is one image's output (`cout` planes of `oh × ow`, `ps` apart); no other thread
/// touches the rows `2ty..2ty+2` × columns `2tx0..2(tx0+nt)` (clipped to `oh × ow`) of any
/// channel.
#[allow(clippy::too_many_arguments)]
unsafe fn run_tile(
    xb: &[f32],
    ob: *mut f32,
    ps: usize,
    wts: &ConvWeights,
    r: Resolved,
    [c, h, w]: [usize; 3],
    tile: Tile,
    post: &Chain,
    s: &mut Scratch,
) {
    let (oh, ow, cout) = (r.oh, r.ow, wts.cout);
    let np = tile.nt.div_ceil(NR) * NR;
    // Row buffers: E_r[t] = padded column 2(tx0+t), O_r[t] = 2(tx0+t)+1, for t up to np.
    let stride = np + 1;
    s.rows.resize(16 * stride, 0.0);
    // The 16 operands and products are written and read side by side; spaced an odd
    // number of cache lines apart (not a multiple of 4 KiB, e.g. 96 × 32 floats), they do
    // not all fall into the same L1 sets.
    let (vreg, mreg) = (odd_lines(c * np), odd_lines(cout * np));
    s.v.resize(16 * vreg, 0.0);
    s.m.resize(16 * mreg, 0.0);
    let x0 = (2 * tile.tx0) as isize - r.pl as isize;
    let iy0 = (2 * tile.ty) as isize - r.pt as isize;
    transform_run(xb, [c, h, w], [iy0, x0], np, &mut s.rows, &mut s.v, vreg);
    products(&wts.winograd, s, [vreg, mreg], np, tile.nt);
    let oy0 = 2 * tile.ty;
    let ox0 = 2 * tile.tx0;
    let rows_out = 2.min(oh - oy0);
    let cols_out = (2 * tile.nt).min(ow - ox0);
    let mut y = [[0f32; 2 * RUN]; 2];
    for co in 0..cout {
        let [y0, y1] = &mut y;
        output_transform(&s.m, mreg, co * np, np, wts.bias[co], y0, y1);
        let rows = y.iter().take(rows_out).map(|r| &r[..]);
        // SAFETY: rows oy0.. < oh of channel co, columns ox0..ox0 + cols_out ≤ ow: this
        // task's region, by the contract.
        unsafe { store_rows(ob, [ps, ow], co, [oy0, ox0], rows, cols_out, post) };
    }
}

multiversion! {
    /// `V` of one run of `np` tiles whose 4×4 patches start at input row `iy0`, padded
    /// column `x0` (may be negative: padding), every input channel: the input transform
    /// into the 16 packed operands (`vreg` floats apart), through the row buffers `rows`
    /// (`E_r`, `O_r` for r = 0..4, `np + 1` floats each).
    fn transform_run(
        xb: &[f32],
        dims: [usize; 3],
        at: [isize; 2],
        np: usize,
        rows: &mut [f32],
        v: &mut [f32],
        vreg: usize,
    ) {
        let [c, h, w] = dims;
        let [iy0, x0] = at;
        let stride = np + 1;
        for ci in 0..c {
            let plane = &xb[ci * h * w..][..h * w];
            prefetch_rows(xb, [c, h, w], ci + AHEAD, iy0, 4, x0, 2 * np + 2);
            for rr in 0..4 {
                let iy = iy0 + rr as isize;
                let (e, o) = rows[2 * rr * stride..][..2 * stride].split_at_mut(stride);
                if iy < 0 || iy >= h as isize {
                    e.fill(0.0);
                    o.fill(0.0);
                } else {
                    let row = &plane[iy as usize * w..][..w];
                    split_padded(row, x0, e, o);
                }
            }
            let first = panel_index(c, np, ci, 0);
            let kc_nr = panel_index(c, np, ci, NR) - first;
            input_transform(rows, stride, np / NR, v, vreg, first, kc_nr);
        }
    }
}

/// Channels ahead whose input rows [`transform_run`] requests before it needs them.
///
/// Why: each channel's four rows are separate runs of ~1 KB (two of them new to the
/// cache for each tile row), too short for the hardware prefetcher to get ahead of; the
/// transform stalled on their first loads. Requesting them two channels early: 0.91 of
/// the 96 → 24 conv at 240² alone (in-process pairs, 1 and 2 threads), 0.97–0.975 of
/// v4 and v6 det. One channel ahead measured the same, four or eight no better; shorter
/// runs of tiles (32, 64) stayed 2–7 % slower even with it.
const AHEAD: usize = 2;

/// Requests the `nrows` input rows of channel `ci` (if any) that the patches starting at
/// row `iy0` read, columns `x0..x0 + span` clipped to the row.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(super) fn prefetch_rows(
    xb: &[f32],
    [c, h, w]: [usize; 3],
    ci: usize,
    iy0: isize,
    nrows: usize,
    x0: isize,
    span: usize,
) {
    if ci >= c {
        return;
    }
    let lo = x0.max(0) as usize;
    let hi = ((x0 + span as isize).max(0) as usize).min(w);
    if lo >= hi {
        return;
    }
    for rr in 0..nrows {
        let iy = iy0 + rr as isize;
        if iy < 0 || iy >= h as isize {
            continue;
        }
        let row = &xb[(ci * h + iy as usize) * w..][lo..hi];
        #[cfg(target_arch = "x86_64")]
        for line in row.chunks(16) {
            // SAFETY: a prefetch of an address inside `xb`; it has no effect on memory.
            unsafe {
                use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
                _mm_prefetch::<_MM_HINT_T0>(line.as_ptr().cast());
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = row;
    }
}

/// `e[t] = row[x0 + 2t]`, `o[t] = row[x0 + 2t + 1]` (zero outside the row) for
/// `t < e.len()`: one input row's even and odd padded columns from `x0` on.
#[inline(always)]
fn split_padded(row: &[f32], x0: isize, e: &mut [f32], o: &mut [f32]) {
    let n = e.len().min(o.len());
    let w = row.len() as isize;
    // Pairs t whose two columns both lie inside the row.
    let lo = if x0 < 0 { ((-x0 + 1) / 2) as usize } else { 0 }.min(n);
    let hi = if w - x0 >= 2 {
        ((w - x0) / 2) as usize
    } else {
        0
    }
    .clamp(lo, n);
    let at = |t: usize| {
        let ix = x0 + t as isize;
        if ix >= 0 && ix < w {
            row[ix as usize]
        } else {
            0.0
        }
    };
    for t in (0..lo).chain(hi..n) {
        e[t] = at(2 * t);
        o[t] = at(2 * t + 1);
    }
    if hi > lo {
        let start = (x0 + 2 * lo as isize) as usize;
        split_pairs(
            &row[start..start + 2 * (hi - lo)],
            &mut e[lo..hi],
            &mut o[lo..hi],
        );
    }
}

/// `out[t] = x[t] + y[t]` (`PLUS`) or `x[t] - y[t]` over one panel of tiles. Plain
/// indexed loops over fixed lengths: inlined into the dispatched kernels, they vectorize
/// (`array::from_fn` and 64-byte `copy_from_slice` did not get inlined there).
#[inline(always)]
fn combine<const PLUS: bool>(out: &mut [f32], x: &[f32], y: &[f32]) {
    let (out, x, y) = (&mut out[..NR], &x[..NR], &y[..NR]);
    for t in 0..NR {
        out[t] = if PLUS { x[t] + y[t] } else { x[t] - y[t] };
    }
}

/// `V = Bᵀ d B` of one input channel for `panels · NR` tiles, written into the 16
/// packed operands (`region` floats apart) at `first` (+ `kc_nr` per panel).
/// `rows` holds `E_r`, `O_r` (r = 0..4) at `stride`: tile t's 4×4 patch is row r's
/// `E_r[t], O_r[t], E_r[t+1], O_r[t+1]`; the 8 arrays after them are scratch.
#[inline(always)]
fn input_transform(
    rows: &mut [f32],
    stride: usize,
    panels: usize,
    v: &mut [f32],
    region: usize,
    first: usize,
    kc_nr: usize,
) {
    let len = panels * NR + 1;
    let (d, a) = rows.split_at_mut(8 * stride);
    // Bᵀ down the patch columns, once per padded column (even and odd arrays alike):
    // a_i = row i of Bᵀ d, stored like the E/O rows (a_i's E at 2i, O at 2i + 1).
    for ph in 0..2 {
        let r = |rr: usize| &d[(2 * rr + ph) * stride..][..len];
        let (r0, r1, r2, r3) = (r(0), r(1), r(2), r(3));
        let (a0, rest) = a[ph * stride..].split_at_mut(2 * stride);
        let (a1, rest) = rest.split_at_mut(2 * stride);
        let (a2, a3) = rest.split_at_mut(2 * stride);
        let (a0, a1, a2, a3) = (
            &mut a0[..len],
            &mut a1[..len],
            &mut a2[..len],
            &mut a3[..len],
        );
        for t in 0..len {
            a0[t] = r0[t] - r2[t];
            a1[t] = r1[t] + r2[t];
            a2[t] = r2[t] - r1[t];
            a3[t] = r1[t] - r3[t];
        }
    }
    // Then B across: tile t's row i is a_i's E[t], O[t], E[t+1], O[t+1].
    #[cfg(target_arch = "x86_64")]
    let avx = crate::simd::has_avx2_fma();
    for q in 0..panels {
        let (t0, at) = (q * NR, first + q * kc_nr);
        for i in 0..4 {
            let e = &a[2 * i * stride + t0..][..NR + 1];
            let o = &a[(2 * i + 1) * stride + t0..][..NR + 1];
            let out = &mut v[4 * i * region + at..][..3 * region + NR];
            #[cfg(target_arch = "x86_64")]
            if avx {
                // SAFETY: AVX2 checked at run time; `e` and `o` hold NR + 1 floats and
                // `out` NR floats at 0, region, 2·region and 3·region (slice lengths
                // above).
                unsafe { across_avx2(e.as_ptr(), o.as_ptr(), out.as_mut_ptr(), region) };
                continue;
            }
            across(e, o, out, region);
        }
    }
}

/// `Bᵀ` across row i of `Bᵀ d` for one panel of tiles: `out` at `j · region` gets
/// `e[t] − e[t+1]`, `o[t] + e[t+1]`, `e[t+1] − o[t]`, `o[t] − o[t+1]` (j = 0..4).
#[inline(always)]
fn across(e: &[f32], o: &[f32], out: &mut [f32], region: usize) {
    combine::<false>(out, e, &e[1..]);
    combine::<true>(&mut out[region..], o, &e[1..]);
    combine::<false>(&mut out[2 * region..], &e[1..], o);
    combine::<false>(&mut out[3 * region..], o, &o[1..]);
}

/// [`across`] with AVX2 (the same four IEEE adds and subtractions per element, so the
/// same bits): auto-vectorized, the shifted reads `e[t+1]` were rebuilt from aligned ones
/// by shuffles, and this loop was a third of the conv's time.
///
/// # Safety
/// The CPU supports AVX2; `e` and `o` are readable for `NR + 1` floats; `out` is writable
/// for `NR` floats at offsets 0, `region`, `2·region` and `3·region`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn across_avx2(e: *const f32, o: *const f32, out: *mut f32, region: usize) {
    use std::arch::x86_64::*;
    // SAFETY (whole body): offsets within the extents in the contract.
    unsafe {
        for h in [0, 8] {
            let (e0, e1) = (_mm256_loadu_ps(e.add(h)), _mm256_loadu_ps(e.add(h + 1)));
            let (o0, o1) = (_mm256_loadu_ps(o.add(h)), _mm256_loadu_ps(o.add(h + 1)));
            _mm256_storeu_ps(out.add(h), _mm256_sub_ps(e0, e1));
            _mm256_storeu_ps(out.add(region + h), _mm256_add_ps(o0, e1));
            _mm256_storeu_ps(out.add(2 * region + h), _mm256_sub_ps(e1, o0));
            _mm256_storeu_ps(out.add(3 * region + h), _mm256_sub_ps(o0, o1));
        }
    }
}

multiversion! {
    /// `Y = Aᵀ m A + bias` of output channel row `at` of the 16 products (`region`
    /// floats apart, `np` tiles, a multiple of `NR`): output rows `y0`, `y1` of the run,
    /// columns interleaved (tile t's pixels at 2t, 2t+1).
    fn output_transform(
        m: &[f32],
        region: usize,
        at: usize,
        np: usize,
        bias: f32,
        y0: &mut [f32],
        y1: &mut [f32],
    ) {
        for q in 0..np / NR {
            // s[a][j][t]: Aᵀ down the columns of the 4×4 product (a = output row).
            let mut s = [[[0f32; NR]; 4]; 2];
            for j in 0..4 {
                let p = |i: usize| &m[(4 * i + j) * region + at + q * NR..][..NR];
                let (m0, m1, m2, m3) = (p(0), p(1), p(2), p(3));
                for t in 0..NR {
                    s[0][j][t] = m0[t] + m1[t] + m2[t];
                    s[1][j][t] = m1[t] - m2[t] - m3[t];
                }
            }
            for (sa, ya) in s.iter().zip([&mut *y0, &mut *y1]) {
                let ya = &mut ya[2 * q * NR..][..2 * NR];
                for (t, px) in ya.chunks_exact_mut(2).enumerate() {
                    px[0] = sa[0][t] + sa[1][t] + sa[2][t] + bias;
                    px[1] = sa[1][t] - sa[2][t] - sa[3][t] + bias;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::conv::AutoPad;

    /// cin, cout, h, w, pads (top, left, bottom, right), batch.
    type Case = (usize, usize, usize, usize, [usize; 4], usize);

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn across_avx2_has_the_bits_of_the_portable_loop() {
        if !crate::simd::has_avx2_fma() {
            return;
        }
        let region = 40;
        let e: Vec<f32> = (0..=NR).map(|i| (i as f32 * 0.37).sin() * 1e3).collect();
        let o: Vec<f32> = (0..=NR).map(|i| (i as f32 * 1.91).cos() * 1e-3).collect();
        let mut want = vec![f32::NAN; 3 * region + NR];
        let mut got = want.clone();
        across(&e, &o, &mut want, region);
        // SAFETY: AVX2 checked above; the slices have the lengths the contract asks.
        unsafe { across_avx2(e.as_ptr(), o.as_ptr(), got.as_mut_ptr(), region) };
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&got), bits(&want));
    }

    #[test]
    fn winograd_matches_an_f64_reference() {
        // Odd and even output sizes, runs shorter and longer than RUN tiles, no and
        // asymmetric padding, more than one k block (cin > 256), a batch of two.
        let cases: &[Case] = &[
            (16, 16, 7, 9, [1, 1, 1, 1], 1),
            (24, 17, 12, 80, [1, 1, 1, 1], 1),
            (19, 24, 5, 70, [0, 0, 0, 0], 2),
            (16, 18, 9, 33, [2, 0, 1, 2], 1),
            (300, 16, 4, 6, [1, 1, 1, 1], 1),
            (16, 16, 3, 301, [1, 1, 1, 1], 1),
        ];
        for &(c, cout, h, w, pads, n) in cases {
            let val = |i: usize, a: usize, b: usize| ((i * a) % b) as f32 / b as f32 - 0.5;
            let wv: Vec<f32> = (0..cout * c * 9).map(|i| val(i, 7, 31)).collect();
            let bias: Vec<f32> = (0..cout).map(|i| val(i, 3, 11)).collect();
            let x: Vec<f32> = (0..n * c * h * w).map(|i| val(i, 13, 97)).collect();
            let geo = Geometry {
                kernel: [3, 3],
                strides: [1, 1],
                pads,
                dilations: [1, 1],
                auto_pad: AutoPad::NotSet,
            };
            assert!(suits(&geo, 1, c, cout));
            let r = geo.resolve(h, w, false).unwrap();
            let mut wts = ConvWeights {
                w: wv.clone(),
                bias: bias.clone(),
                cout,
                cin_g: c,
                packed: vec![],
                winograd: vec![],
                winograd4: vec![],
            };
            prepare(&mut wts, &geo, 1);
            // Relu as the fused chain: checks that `post` reaches every written pixel.
            let post = vec![super::super::elementwise::Step::Relu];
            for f4 in [false, true] {
                let mut got = vec![f32::NAN; n * cout * r.oh * r.ow];
                let planes = Planes::of(&mut got, r.oh * r.ow);
                // SAFETY: the planes cover `got`.
                unsafe {
                    if f4 {
                        super::super::winograd4::conv(&x, planes, &wts, r, [n, c, h, w], &post)
                    } else {
                        conv(&x, planes, &wts, r, [n, c, h, w], &post)
                    }
                };

                for b in 0..n {
                    for co in 0..cout {
                        for oy in 0..r.oh {
                            for ox in 0..r.ow {
                                let mut acc = bias[co] as f64;
                                let mut mag = bias[co].abs() as f64;
                                for ci in 0..c {
                                    for ky in 0..3 {
                                        for kx in 0..3 {
                                            let iy = (oy + ky) as isize - r.pt as isize;
                                            let ix = (ox + kx) as isize - r.pl as isize;
                                            if iy < 0
                                                || ix < 0
                                                || iy >= h as isize
                                                || ix >= w as isize
                                            {
                                                continue;
                                            }
                                            let xv = x
                                                [((b * c + ci) * h + iy as usize) * w + ix as usize]
                                                as f64;
                                            let p = wv[(co * c + ci) * 9 + ky * 3 + kx] as f64 * xv;
                                            acc += p;
                                            mag += p.abs();
                                        }
                                    }
                                }
                                let want = acc.max(0.0);
                                let g = got[((b * cout + co) * r.oh + oy) * r.ow + ox] as f64;
                                // A few f32 roundings of the sum of magnitudes (F(4×4)'s
                                // transforms scale by up to 8 and 1/24: a few more).
                                let tol = if f4 { 1e-5 } else { 1e-6 };
                                assert!(
                                (g - want).abs() <= tol * mag.max(1.0),
                                "F4 {f4} case {:?} image {b} channel {co} pixel ({oy}, {ox}): {g} vs {want}",
                                (c, cout, h, w, pads, n)
                            );
                            }
                        }
                    }
                }
            }
        }
    }
}
