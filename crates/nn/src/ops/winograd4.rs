//! 3×3 stride-1 convolution by Winograd's F(4×4, 3×3): each 4×4 block of output pixels
//! from its 6×6 input patch, 36 products per channel pair instead of 144 (4× fewer
//! multiply-adds; [`super::winograd`]'s F(2×2, 3×3) saves 2.25×).
//!
//! Why: the detectors' 96 → 24 convs at 240² (v4 det's two, v6 det's one) spend about
//! half their time in the GEMMs even after F(2×2). Here the 36 GEMMs `U[ξ] · V[ξ]` shrink
//! them to 0.56× for the same output; the transforms cost about as much per output pixel
//! as F(2×2)'s (more arithmetic per value, fewer values: 2.25 transformed inputs per
//! output pixel and channel instead of 4). Measured on the 96 → 24 conv alone: 0.79 of
//! F(2×2) at 240², 0.88 at 120²; on narrower maps F(2×2) stays faster, see
//! `winograd::F4_MIN_WIDTH`, which picks between them by output width. v4 det: 0.97 at
//! 1 thread, 0.95 at 2 (in-process pairs).
//!
//! Layout as in F(2×2): a task is one row of tile blocks (4 output rows) × `RUN` tiles;
//! each input row is split into four phase arrays `P_c[t] = row[4t + c]`, so that tile t's patch row is `P0..P3[t], P0[t+1], P1[t+1]` and
//! `Bᵀ` runs down and then across them on whole vectors of tiles.
//!
//! Numerics: the transforms scale by 4, 5, 8 and (in `G`) 1/6 and 1/24, so the error is
//! about ten times F(2×2)'s (the unit test bounds it at 1e-5 of the products' magnitude,
//! measured ≤ 2e-6); the whole detectors still match onnxruntime within 1e-4. A block's
//! rows depend numerically on all six patch rows, so a block cut off by the end of a
//! call differs from the same block computed whole: banded chains keep to F(2×2)
//! (`Bands::new`).

use super::conv::{odd_lines, ConvWeights, Planes, Resolved};
use super::elementwise::Chain;
use super::winograd::{for_each_run, products, store_rows, transform_weights_by, Scratch, Tile};
use crate::packed::{panel_index, PackedA, NR};
use crate::simd::multiversion;

/// Tiles (4×4 output blocks) per run: 256 output pixels of a row, as F(2×2)'s 128. The
/// transformed input (36 × cin × 64 floats, 885 KB at 96 channels) outgrows L2 as
/// F(2×2)'s does; shorter runs measured slower there.
const RUN: usize = 64;
/// Channels ahead whose input rows are requested early (see `winograd::AHEAD`).
const AHEAD: usize = 2;

/// `U[ξ] = (G g Gᵀ)[ξ]` for the 36 positions of the 6×6 tile, packed `cout × cin`.
pub(crate) fn transform_weights(w: &[f32], cout: usize, cin: usize) -> Vec<PackedA> {
    const G: [[f64; 3]; 6] = [
        [1.0 / 4.0, 0.0, 0.0],
        [-1.0 / 6.0, -1.0 / 6.0, -1.0 / 6.0],
        [-1.0 / 6.0, 1.0 / 6.0, -1.0 / 6.0],
        [1.0 / 24.0, 1.0 / 12.0, 1.0 / 6.0],
        [1.0 / 24.0, -1.0 / 12.0, 1.0 / 6.0],
        [0.0, 0.0, 1.0],
    ];
    transform_weights_by(w, cout, cin, &G)
}

/// The conv `x` (`[n, c, h, w]`) → `out` with `wts.winograd4` (from
/// [`transform_weights`]), `wts.bias` and the fused `post` chain.
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
    let u = &wts.winograd4[..];
    assert!(u.len() == 36 && u[0].m == wts.cout && u[0].k == c);
    // SAFETY: forwarded contract; `run_tile` (whose contract `for_each_run` meets) writes
    // only its tile's rows and columns.
    unsafe {
        for_each_run(
            x,
            out,
            wts.cout,
            [n, c, h, w],
            [r.oh, r.ow],
            4,
            RUN,
            |xb, ob, tile, s| {
                // `ob` and the tile's region, from `for_each_run`.
                run_tile(xb, ob, out.stride, wts, r, [c, h, w], tile, post, s)
            },
        )
    };
}

/// Input transform, 36 GEMMs, output transform (+ bias, + `post`) for one run of tiles:
/// tile row `ty`, tiles `tx0..tx0 + nt`.
///
/// # Safety
/// `ob` is one image's output (`cout` planes of `oh × ow`, `ps` apart); no other thread
/// touches rows `4ty..4ty+4` × columns `4tx0..4(tx0+nt)` (clipped) of any channel.
#[allow(clippy::too_many_arguments)]
unsafe fn run_tile(
    xb: &[f32],
    ob: *mut f32,
    ps: usize,
    wts: &ConvWeights,
    r: Resolved,
    [c, h, w]: [usize; 3],
    Tile { ty, tx0, nt }: Tile,
    post: &Chain,
    s: &mut Scratch,
) {
    let (oh, ow, cout) = (r.oh, r.ow, wts.cout);
    let np = nt.div_ceil(NR) * NR;
    let stride = np + 1;
    s.rows.resize(48 * stride, 0.0);
    let (vreg, mreg) = (odd_lines(c * np), odd_lines(cout * np));
    s.v.resize(36 * vreg, 0.0);
    s.m.resize(36 * mreg, 0.0);
    let x0 = (4 * tx0) as isize - r.pl as isize;
    let iy0 = (4 * ty) as isize - r.pt as isize;
    transform_run(xb, [c, h, w], [iy0, x0], np, &mut s.rows, &mut s.v, vreg);
    products(&wts.winograd4, s, [vreg, mreg], np, nt);
    let (oy0, ox0) = (4 * ty, 4 * tx0);
    let rows_out = 4.min(oh - oy0);
    let cols_out = (4 * nt).min(ow - ox0);
    let mut y = [[0f32; 4 * RUN]; 4];
    for co in 0..cout {
        output_transform(&s.m, mreg, co * np, np, wts.bias[co], &mut y);
        let rows = y.iter().take(rows_out).map(|r| &r[..]);
        // SAFETY: rows oy0.. < oh of channel co, columns ox0..ox0 + cols_out ≤ ow: this
        // task's region, by the contract.
        unsafe { store_rows(ob, [ps, ow], co, [oy0, ox0], rows, cols_out, post) };
    }
}

multiversion! {
    /// `V` of one run of `np` tiles whose 6×6 patches start at input row `iy0`, padded
    /// column `x0`, every input channel, into the 36 packed operands (`vreg` apart).
    #[allow(clippy::too_many_arguments)]
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
            super::winograd::prefetch_rows(xb, [c, h, w], ci + AHEAD, iy0, 6, x0, 4 * np + 2);
            for rr in 0..6 {
                let iy = iy0 + rr as isize;
                let p = &mut rows[4 * rr * stride..][..4 * stride];
                if iy < 0 || iy >= h as isize {
                    p.fill(0.0);
                } else {
                    let row = &plane[iy as usize * w..][..w];
                    split_quads(row, x0, p, stride);
                }
            }
            let first = panel_index(c, np, ci, 0);
            let kc_nr = panel_index(c, np, ci, NR) - first;
            input_transform(rows, stride, np / NR, v, vreg, first, kc_nr);
        }
    }
}

/// `p[c·stride + t] = row[x0 + 4t + c]` (zero outside the row) for `t < stride`,
/// c = 0..4: whole quads as one stride-4 copy loop (it vectorizes into shuffles), the
/// few columns at the edges one by one, zeros past the row. (Two rounds of even/odd
/// splitting through a buffer measured 1.6 % slower on the whole conv.)
#[inline(always)]
fn split_quads(row: &[f32], x0: isize, p: &mut [f32], stride: usize) {
    let n = stride;
    let w = row.len() as isize;
    let lo = if x0 < 0 { ((-x0 + 3) / 4) as usize } else { 0 }.min(n);
    let hi = if w - x0 >= 4 {
        ((w - x0) / 4) as usize
    } else {
        0
    }
    .clamp(lo, n);
    let at = |j: isize| {
        let ix = x0 + j;
        if ix >= 0 && ix < w {
            row[ix as usize]
        } else {
            0.0
        }
    };
    for t in 0..lo {
        for cc in 0..4 {
            p[cc * stride + t] = at(4 * t as isize + cc as isize);
        }
    }
    // Past the row's last whole quad: the few columns left, then zeros.
    let mut t = hi;
    while t < n && x0 + 4 * (t as isize) < w {
        for cc in 0..4 {
            p[cc * stride + t] = at(4 * t as isize + cc as isize);
        }
        t += 1;
    }
    for cc in 0..4 {
        p[cc * stride + t..(cc + 1) * stride].fill(0.0);
    }
    if hi > lo {
        let start = (x0 + 4 * lo as isize) as usize;
        let src = &row[start..start + 4 * (hi - lo)];
        let (p0, rest) = p.split_at_mut(stride);
        let (p1, rest) = rest.split_at_mut(stride);
        let (p2, p3) = rest.split_at_mut(stride);
        for ((((q, a), b), c), d) in src
            .chunks_exact(4)
            .zip(&mut p0[lo..hi])
            .zip(&mut p1[lo..hi])
            .zip(&mut p2[lo..hi])
            .zip(&mut p3[lo..hi])
        {
            *a = q[0];
            *b = q[1];
            *c = q[2];
            *d = q[3];
        }
    }
}

/// `Bᵀ` of six values (rows or columns of a patch), in the operations' fixed order.
#[inline(always)]
fn bt6(d: [f32; 6]) -> [f32; 6] {
    let [d0, d1, d2, d3, d4, d5] = d;
    [
        (4.0 * d0 + d4) - 5.0 * d2,
        (d3 + d4) - 4.0 * (d1 + d2),
        (d4 - d3) + 4.0 * (d1 - d2),
        (d4 - d2) + 2.0 * (d3 - d1),
        (d4 - d2) - 2.0 * (d3 - d1),
        (4.0 * d1 + d5) - 5.0 * d3,
    ]
}

/// `V = Bᵀ d B` of one input channel for `panels · NR` tiles into the 36 operands.
/// `rows` holds the phase arrays `P_c` of rows 0..6 (24 arrays), then 24 for `Bᵀ d`.
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
    let (d, a) = rows.split_at_mut(24 * stride);
    // Bᵀ down: a[(4i + ph)] = row i of Bᵀ d, phase ph.
    for ph in 0..4 {
        let r = |rr: usize| &d[(4 * rr + ph) * stride..][..len];
        let (r0, r1, r2, r3, r4, r5) = (r(0), r(1), r(2), r(3), r(4), r(5));
        // Row i of phase ph lies at (4i + ph)·stride: six arrays 4·stride apart.
        let [o0, o1, o2, o3, o4, o5] = six_mut(&mut a[ph * stride..], 4 * stride, len);
        for t in 0..len {
            let o = bt6([r0[t], r1[t], r2[t], r3[t], r4[t], r5[t]]);
            o0[t] = o[0];
            o1[t] = o[1];
            o2[t] = o[2];
            o3[t] = o[3];
            o4[t] = o[4];
            o5[t] = o[5];
        }
    }
    // B across: tile t's row i is P0[t], P1[t], P2[t], P3[t], P0[t+1], P1[t+1] of a_i.
    for q in 0..panels {
        let (t0, at) = (q * NR, first + q * kc_nr);
        for i in 0..6 {
            let p = |ph: usize| &a[(4 * i + ph) * stride + t0..][..NR + 1];
            let (p0, p1, p2, p3) = (p(0), p(1), p(2), p(3));
            // The six operands' runs for this row i, `region` apart.
            let [o0, o1, o2, o3, o4, o5] = six_mut(&mut v[6 * i * region + at..], region, NR);
            for t in 0..NR {
                let r = bt6([p0[t], p1[t], p2[t], p3[t], p0[t + 1], p1[t + 1]]);
                o0[t] = r[0];
                o1[t] = r[1];
                o2[t] = r[2];
                o3[t] = r[3];
                o4[t] = r[4];
                o5[t] = r[5];
            }
        }
    }
}

/// Six disjoint `len`-long slices of `buf`, `step` apart, for a loop that writes all six
/// per element: split explicitly and inlined, so that the loop keeps them in registers
/// and vectorizes (built through `array::from_fn`, and staged through a local array and
/// copied, the transform ran 0.93 / 0.96 of the speed on the 240² conv, 1 / 2 threads).
#[inline(always)]
fn six_mut(buf: &mut [f32], step: usize, len: usize) -> [&mut [f32]; 6] {
    let (o0, rest) = buf[..5 * step + len].split_at_mut(step);
    let (o1, rest) = rest.split_at_mut(step);
    let (o2, rest) = rest.split_at_mut(step);
    let (o3, rest) = rest.split_at_mut(step);
    let (o4, o5) = rest.split_at_mut(step);
    [
        &mut o0[..len],
        &mut o1[..len],
        &mut o2[..len],
        &mut o3[..len],
        &mut o4[..len],
        o5,
    ]
}

/// `Aᵀ` of six values.
#[inline(always)]
fn at6(m: [f32; 6]) -> [f32; 4] {
    let [m0, m1, m2, m3, m4, m5] = m;
    let (s12, d12, s34, d34) = (m1 + m2, m1 - m2, m3 + m4, m3 - m4);
    [
        (m0 + s12) + s34,
        d12 + 2.0 * d34,
        s12 + 4.0 * s34,
        (d12 + 8.0 * d34) + m5,
    ]
}

multiversion! {
    /// `Y = Aᵀ m A + bias` of output channel row `at` of the 36 products: output rows
    /// `y[0..4]`, tile t's pixels at 4t..4t+4.
    fn output_transform(
        m: &[f32],
        region: usize,
        at: usize,
        np: usize,
        bias: f32,
        y: &mut [[f32; 4 * RUN]; 4],
    ) {
        for q in 0..np / NR {
            // s[a][j][t]: Aᵀ down column j of the 6×6 product.
            let mut s = [[[0f32; NR]; 6]; 4];
            for j in 0..6 {
                let p = |i: usize| &m[(6 * i + j) * region + at + q * NR..][..NR];
                let (m0, m1, m2, m3, m4, m5) = (p(0), p(1), p(2), p(3), p(4), p(5));
                for t in 0..NR {
                    let r = at6([m0[t], m1[t], m2[t], m3[t], m4[t], m5[t]]);
                    for a in 0..4 {
                        s[a][j][t] = r[a];
                    }
                }
            }
            for (sa, ya) in s.iter().zip(y.iter_mut()) {
                let ya = &mut ya[4 * q * NR..][..4 * NR];
                for (t, px) in ya.chunks_exact_mut(4).enumerate() {
                    let r = at6([sa[0][t], sa[1][t], sa[2][t], sa[3][t], sa[4][t], sa[5][t]]);
                    for b in 0..4 {
                        px[b] = r[b] + bias;
                    }
                }
            }
        }
    }
}
