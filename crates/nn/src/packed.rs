//! Our own packed SGEMM for convolutions: `C[m×n] = A[m×k] · B[k×n] (+ bias)`.
//!
//! Why not just the `gemm` crate? Conv weights (`A`) are constant, so we pack them once
//! at load time, and `B` (the im2col matrix) can be written straight into packed panel
//! layout, skipping an intermediate buffer. Measured on the PP-OCR convs this is ~3×
//! faster than calling a general GEMM per tile (see docs/performance.md).
//!
//! Layout (BLIS-style): `A` is cut into `KC`-deep blocks, each into `MR`-row panels
//! stored k-major (`MR` values per k). `B` tiles are `NR`-column panels, also k-major.
//! The micro-kernel multiplies one `MR×kc` panel by one `kc×NR` panel into an
//! `MR×NR` tile of `C` held in registers (AVX2+FMA, with a portable fallback).
//!
//! The k loop order is fixed by `k` alone, so every element of `C` sees the same
//! sequence of operations however the work is split across threads.

use crate::ops::elementwise::{apply_chain, Step};

/// Rows per A panel.
pub(crate) const MR: usize = 6;
/// Columns per B panel.
pub(crate) const NR: usize = 16;
/// Depth of one k block.
pub(crate) const KC: usize = 256;

/// `A` packed for the micro-kernel (zero-padded to a multiple of `MR` rows).
#[derive(Clone, Debug)]
pub(crate) struct PackedA {
    data: Vec<f32>,
    pub m: usize,
    pub k: usize,
    mp: usize,
}

impl PackedA {
    /// Packs the row-major `m × k` matrix `a` (row stride `lda`).
    pub fn new(a: &[f32], m: usize, k: usize, lda: usize) -> PackedA {
        let panels = m.div_ceil(MR);
        let mp = panels * MR;
        let mut data = vec![0f32; mp * k];
        let mut k0 = 0;
        while k0 < k {
            let kc = KC.min(k - k0);
            let block = &mut data[k0 * mp..(k0 + kc) * mp];
            for p in 0..panels {
                let panel = &mut block[p * kc * MR..(p + 1) * kc * MR];
                for r in 0..MR {
                    let row = p * MR + r;
                    if row >= m {
                        continue;
                    }
                    for kk in 0..kc {
                        panel[kk * MR + r] = a[row * lda + k0 + kk];
                    }
                }
            }
            k0 += kc;
        }
        PackedA { data, m, k, mp }
    }

    fn panel(&self, k0: usize, kc: usize, p: usize) -> &[f32] {
        &self.data[k0 * self.mp + p * kc * MR..][..kc * MR]
    }
}

/// `B` (`k × n`) packed once, for constant right-hand sides (MatMul weights): same
/// layout as a packed tile, for all columns, per `KC` block.
#[derive(Clone, Debug)]
pub(crate) struct PackedB {
    data: Vec<f32>,
    pub k: usize,
    pub n: usize,
    np: usize,
}

impl PackedB {
    pub fn new(b: &[f32], k: usize, n: usize) -> PackedB {
        let np = n.div_ceil(NR) * NR;
        let mut data = vec![0f32; k * np];
        let src = MatB { data: b, ld: n };
        let mut k0 = 0;
        while k0 < k {
            let kc = KC.min(k - k0);
            src.pack(k0, kc, 0, n, &mut data[k0 * np..(k0 + kc) * np]);
            k0 += kc;
        }
        PackedB { data, k, n, np }
    }

    /// The packed panels of k block `k0..k0+kc` from column `j0` (a multiple of `NR`).
    fn block(&self, k0: usize, kc: usize, j0: usize) -> &[f32] {
        debug_assert!(j0.is_multiple_of(NR));
        &self.data[k0 * self.np + j0 * kc..(k0 + kc) * self.np]
    }
}

/// The `B` operand of [`gemm_tile`]: packed per tile on the fly, or pre-packed.
#[derive(Clone, Copy)]
pub(crate) enum BSrc<'a> {
    Pack(&'a dyn PackB),
    Pre(&'a PackedB),
    /// Already in packed layout for columns `0..n` (`n` rounded up to whole panels, the
    /// `usize`), written there by the caller (see [`panel_index`]); `j0` must be 0.
    Panels(&'a [f32], usize),
}

/// Where element `(kk, j)` of a `k × n` B operand lies in packed layout (`KC`-deep blocks
/// of `NR`-column panels, k-major; `np` = `n` rounded up to a multiple of `NR`): what
/// [`BSrc::Panels`] expects. Runs of `NR` columns are contiguous.
pub(crate) fn panel_index(k: usize, np: usize, kk: usize, j: usize) -> usize {
    let k0 = kk / KC * KC;
    let kc = KC.min(k - k0);
    k0 * np + ((j / NR) * kc + (kk - k0)) * NR + j % NR
}

/// Where `B` comes from: fills one packed `kc × nc` tile (`NR`-column panels, k-major,
/// zero-padded to whole panels) for rows `k0..k0+kc`, columns `j0..j0+nc`.
pub(crate) trait PackB: Sync {
    fn pack(&self, k0: usize, kc: usize, j0: usize, nc: usize, out: &mut [f32]);
}

/// A plain strided matrix as `B`.
#[derive(Clone, Copy)]
pub(crate) struct MatB<'a> {
    pub data: &'a [f32],
    pub ld: usize,
}

impl PackB for MatB<'_> {
    fn pack(&self, k0: usize, kc: usize, j0: usize, nc: usize, out: &mut [f32]) {
        let panels = nc.div_ceil(NR);
        let out = &mut out[..panels * kc * NR];
        // Rows outer: each source row is read as one contiguous run (which the hardware
        // prefetcher follows) and scattered over the panels, instead of 64 bytes from
        // each of `kc` rows per panel (a stream per row: 7 % of v6 det on Zen 3).
        for kk in 0..kc {
            let row = &self.data[(k0 + kk) * self.ld + j0..][..nc];
            // The row after next is requested now: a run of 16 lines is too short for the
            // hardware prefetcher to get ahead of the copy.
            #[cfg(target_arch = "x86_64")]
            if let Some(ahead) = self.data.get((k0 + kk + 2) * self.ld + j0..) {
                for line in ahead[..nc.min(ahead.len())].chunks(16) {
                    // SAFETY: a prefetch of an address inside `data`; it has no effect on
                    // memory.
                    unsafe {
                        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
                        _mm_prefetch::<_MM_HINT_T0>(line.as_ptr().cast());
                    }
                }
            }
            for (q, src) in row.chunks(NR).enumerate() {
                let dst: &mut [f32; NR] = (&mut out[(q * kc + kk) * NR..][..NR])
                    .try_into()
                    .expect("NR-sized");
                if let Ok(full) = <&[f32; NR]>::try_from(src) {
                    // Fixed-size copy: compiles to a few vector moves, not a memcpy call.
                    *dst = *full;
                } else {
                    *dst = [0.0; NR];
                    dst[..src.len()].copy_from_slice(src);
                }
            }
        }
    }
}

/// Computes rows `m0..m0+mn` (a multiple of `MR` or the end of `A`) and columns
/// `j0..j0+nc` of `C = post(A·B + bias)`, with `C` row-major (row stride `ldc`); `c`
/// points at element `(0, j0)`. `scratch` holds the packed B tile. `post` (an elementwise
/// chain) is applied to each register tile of the last k block before it is stored: a
/// second pass over a tile of `C` whose rows lie a multiple of 4 KiB apart (480² and 240²
/// channel planes) found them evicted from L1 by each other.
///
/// # Safety
/// `c` must be valid for writes over rows `m0..m0+mn`, columns `0..nc` relative to it
/// (row stride `ldc`), and no other thread may touch that region during the call.
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn gemm_tile(
    a: &PackedA,
    b: BSrc<'_>,
    bias: Option<&[f32]>,
    m0: usize,
    mn: usize,
    j0: usize,
    nc: usize,
    c: *mut f32,
    ldc: usize,
    scratch: &mut Vec<f32>,
    post: &[Step],
) {
    let k = a.k;
    let (in_kernel, after) = split_post(post);
    let npanels = nc.div_ceil(NR);
    let p0 = m0 / MR;
    let p1 = (m0 + mn).div_ceil(MR);
    let avx = crate::simd::has_avx2_fma();
    #[cfg(target_arch = "x86_64")]
    let avx512 = crate::simd::has_avx512();
    let mut k0 = 0;
    let mut first = true;
    let need = match b {
        BSrc::Pack(_) => npanels * KC.min(k).max(1) * NR,
        BSrc::Pre(_) | BSrc::Panels(..) => 0,
    };
    if scratch.len() < need {
        scratch.resize(need, 0.0);
    }
    if let BSrc::Panels(data, np) = b {
        assert!(
            j0 == 0 && np >= nc && data.len() >= k * np,
            "B panels too short"
        );
    }
    loop {
        let kc = KC.min(k - k0);
        let tile: &[f32] = match b {
            BSrc::Pack(src) => {
                if kc > 0 {
                    src.pack(k0, kc, j0, nc, scratch);
                }
                scratch
            }
            BSrc::Pre(pb) => pb.block(k0, kc, j0),
            BSrc::Panels(data, np) => &data[k0 * np..(k0 + kc) * np],
        };
        let block = KBlock {
            a,
            k0,
            kc,
            panels: p0..p1,
            tile,
            nc,
            bias,
            c,
            ldc,
            first,
            prefetch: matches!(b, BSrc::Pre(_)),
            post: if k0 + kc >= k { in_kernel } else { &[] },
        };
        #[cfg(target_arch = "x86_64")]
        if avx512 {
            // SAFETY: AVX-512F checked at run time; the caller's contract covers the
            // C region (rows of panels p0..p1, columns 0..nc).
            unsafe { tile_avx512(&block) };
        } else {
            // SAFETY: forwarded contract.
            unsafe { tile_portable(avx, &block) };
        }
        #[cfg(not(target_arch = "x86_64"))]
        // SAFETY: forwarded contract.
        unsafe {
            tile_portable(avx, &block)
        };
        first = false;
        k0 += kc;
        if k0 >= k {
            break;
        }
    }
    if !after.is_empty() {
        for r in m0..(m0 + mn).min(a.m) {
            // SAFETY: row r, columns 0..nc: the caller's region, written above.
            apply_chain(after, unsafe {
                std::slice::from_raw_parts_mut(c.add(r * ldc), nc)
            });
        }
    }
}

/// One k block of [`gemm_tile`]: what both micro-kernel loops read and write.
struct KBlock<'a> {
    a: &'a PackedA,
    k0: usize,
    kc: usize,
    /// A panels (of `MR` rows) to compute.
    panels: std::ops::Range<usize>,
    /// The packed B tile of this k block (`NR`-column panels, k-major).
    tile: &'a [f32],
    /// Valid columns of the tile.
    nc: usize,
    bias: Option<&'a [f32]>,
    /// `C` at the tile's first column (row stride `ldc`).
    c: *mut f32,
    ldc: usize,
    /// Start from the bias (first k block) instead of the values in `C`.
    first: bool,
    /// `tile` runs on past this tile's columns (a B packed at load): prefetch the next
    /// B pair while multiplying this one (x86-64 kernels only).
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    prefetch: bool,
    /// The elementwise chain to apply before storing (the last k block's), else empty.
    post: &'a [Step],
}

impl KBlock<'_> {
    /// A panel `p` of this k block (empty when the block is empty).
    fn a_panel(&self, p: usize) -> &[f32] {
        if self.kc > 0 {
            self.a.panel(self.k0, self.kc, p)
        } else {
            &[][..]
        }
    }

    /// B panel `q` of the tile.
    fn b_panel(&self, q: usize) -> &[f32] {
        &self.tile[q * self.kc * NR..(q + 1) * self.kc * NR]
    }

    /// The bias of `rows` rows from panel `p` on, zero-padded to `N`.
    fn bias_rows<const N: usize>(&self, p: usize, rows: usize) -> [f32; N] {
        let mut out = [0f32; N];
        if let Some(bias) = self.bias {
            out[..rows].copy_from_slice(&bias[p * MR..p * MR + rows]);
        }
        out
    }

    /// Rows of `A` from panel `p` on, at most `max`.
    fn rows_from(&self, p: usize, max: usize) -> usize {
        max.min(self.a.m - p * MR)
    }
}

/// One k block of [`gemm_tile`] with the AVX2 (or portable) 6×16 kernel. B panels
/// outer, A panels inner: the B panel being multiplied stays in L1 while the small A
/// panels stream from L2. Each C tile gets exactly one kernel call per k block, so the
/// arithmetic does not depend on this order. Edge tiles: see [`kernel`].
///
/// # Safety
/// As [`gemm_tile`]: `blk.c` is valid for the rows of `blk.panels` and columns
/// `0..blk.nc` (row stride `blk.ldc`), and no other thread touches them during the call.
unsafe fn tile_portable(avx: bool, blk: &KBlock<'_>) {
    let (kc, ldc, first) = (blk.kc, blk.ldc, blk.first);
    // A B packed at load comes from DRAM (v6 rec's head: 9 MB, read once per run), and the
    // hardware prefetcher did not keep up with it: the next panel is fetched in shares, one
    // before each A panel's call on this one (the head MatMul 0.93–0.94 of before, 1 and
    // 2 threads; the whole at once, before the first call, was slower).
    let shares = blk.panels.len().max(1);
    let lines = (kc * NR * 4).div_ceil(64);
    let per_call = lines.div_ceil(shares);
    for q in 0..blk.nc.div_ceil(NR) {
        let cols = NR.min(blk.nc - q * NR);
        let bp = blk.b_panel(q);
        let next = if blk.prefetch {
            blk.tile.get((q + 1) * kc * NR..(q + 2) * kc * NR)
        } else {
            None
        };
        for (i, p) in blk.panels.clone().enumerate() {
            if let Some(next) = next {
                prefetch_lines(next, i * per_call..((i + 1) * per_call).min(lines));
            }
            let rows = blk.rows_from(p, MR);
            let ap = blk.a_panel(p);
            // A full panel's bias is borrowed in place: a variable-length copy into a
            // local array (a memcpy call per tile) stalled the kernel's first loads on
            // store forwarding (7 % of v6 det on Zen 3).
            let edge;
            let bias_r: &[f32; MR] = match blk.bias.and_then(|b| b.get(p * MR..p * MR + MR)) {
                Some(b) if rows == MR => b.try_into().expect("MR values"),
                _ => {
                    edge = blk.bias_rows::<MR>(p, rows);
                    &edge
                }
            };
            // SAFETY: rows p*MR..p*MR+rows and columns q*NR..+cols lie inside the
            // caller's region, and panels hold kc*MR / kc*NR values.
            unsafe {
                let cptr = blk.c.add(p * MR * ldc + q * NR);
                kernel(
                    avx,
                    kc,
                    ap,
                    bp,
                    NR,
                    cptr,
                    ldc,
                    [rows, cols],
                    first,
                    bias_r,
                    blk.post,
                )
            };
        }
    }
}

/// Prefetches cache lines `lines` (64-byte steps from its start) of `data` into L1; lines
/// past its end are left out. A no-op off x86-64.
#[inline(always)]
fn prefetch_lines(data: &[f32], lines: std::ops::Range<usize>) {
    #[cfg(target_arch = "x86_64")]
    for l in lines {
        if let Some(v) = data.get(l * 16) {
            // SAFETY: a prefetch of an address inside `data`; it never faults and does not
            // change memory.
            unsafe {
                std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
                    (v as *const f32).cast(),
                )
            };
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (data, lines);
}

/// One k block of [`gemm_tile`] with AVX-512: tiles of up to 12 rows (two A panels) ×
/// 32 columns (two B panels), 24 zmm accumulators (per k: 2 B loads and 12 broadcasts
/// for 24 FMAs). Partial tiles use masked loads and stores instead of a copy (the packed
/// operands are zero-padded, so the extra lanes read valid memory and are never
/// stored). B pairs outer, A pairs inner: the B pair stays in L1 while A streams from
/// L2. Every element sees the same fused multiply-adds in the same k order as
/// [`kernel_generic`], so results are identical. (Measured no faster than 6×32 tiles
/// on the v6 recognizer; it replaced them because it also covers the edge tiles.)
///
/// # Safety
/// The CPU must support AVX-512F; otherwise as [`tile_portable`].
#[cfg(target_arch = "x86_64")]
unsafe fn tile_avx512(blk: &KBlock<'_>) {
    let npanels = blk.nc.div_ceil(NR);
    let mut q = 0;
    while q < npanels {
        let cols = (blk.nc - q * NR).min(2 * NR);
        let b0 = blk.b_panel(q);
        // A lone last panel: its partner is itself, with every lane masked off.
        let b1 = if q + 1 < npanels {
            blk.b_panel(q + 1)
        } else {
            b0
        };
        // The next B pair, fetched during the first kernel call on this one.
        let next = (q + 2) * blk.kc * NR;
        let pf = (blk.prefetch && next + 2 * blk.kc * NR <= blk.tile.len())
            .then(|| &blk.tile[next..next + 2 * blk.kc * NR]);
        let mut p = blk.panels.start;
        while p < blk.panels.end {
            let pf = if p == blk.panels.start { pf } else { None };
            let two = p + 1 < blk.panels.end;
            let rows = blk.rows_from(p, if two { 2 * MR } else { MR });
            let bias_r = blk.bias_rows::<{ 2 * MR }>(p, rows);
            let tile_c = Tile {
                // SAFETY: rows p*MR.. and columns q*NR.. start inside the caller's region.
                c: unsafe { blk.c.add(p * MR * blk.ldc + q * NR) },
                ldc: blk.ldc,
                rows,
                cols,
                first: blk.first,
            };
            let (ap, kc) = (|i| blk.a_panel(i), blk.kc);
            // SAFETY: AVX-512F guaranteed by the caller; `rows` × `cols` lies inside
            // the caller's region.
            unsafe {
                if two {
                    kernel_512([ap(p), ap(p + 1)], kc, b0, b1, pf, tile_c, &bias_r);
                } else {
                    kernel_512([ap(p)], kc, b0, b1, pf, tile_c, &bias_r);
                }
                post_rows(blk.post, tile_c);
            }
            p += if two { 2 } else { 1 };
        }
        q += 2;
    }
}

/// The destination of one micro-kernel call: `rows` × `cols` of `C` at `c`.
#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy)]
struct Tile {
    c: *mut f32,
    ldc: usize,
    /// Valid rows: 1..=6·P for the AVX-512 kernel (P A panels), 1..=6 for the AVX2 one.
    rows: usize,
    /// Valid columns: 1..=2·NR for the AVX-512 kernel, 1..=NR for the AVX2 one.
    cols: usize,
    /// Start from the bias (first k block) instead of the values in `C`.
    first: bool,
}

/// Checks the operand sizes of one AVX-512 kernel call, then runs it.
///
/// # Safety
/// AVX-512F; `t.c` must be valid for `t.rows` rows × `t.cols` columns (row stride
/// `t.ldc`), untouched by other threads.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn kernel_512<const P: usize>(
    a: [&[f32]; P],
    kc: usize,
    b0: &[f32],
    b1: &[f32],
    prefetch: Option<&[f32]>,
    t: Tile,
    bias: &[f32; 2 * MR],
) {
    assert!(a.iter().all(|p| p.len() >= kc * MR) && b0.len() >= kc * NR && b1.len() >= kc * NR);
    assert!(prefetch.is_none_or(|p| p.len() >= kc * 2 * NR));
    assert!(P <= 2 && t.rows >= 1 && t.rows <= P * MR && t.cols >= 1 && t.cols <= 2 * NR);
    let ap = a.map(|p| p.as_ptr());
    let (b0, b1) = (b0.as_ptr(), b1.as_ptr());
    // SAFETY: operand sizes asserted above; the C region is the caller's contract.
    unsafe {
        match prefetch {
            Some(pf) => {
                let b = PackedPair::<true> {
                    b0,
                    b1,
                    pf: pf.as_ptr(),
                };
                kernel_avx512::<P, _>(kc, ap, b, t, col_masks(t.cols), bias)
            }
            None => {
                let b = PackedPair::<false> {
                    b0,
                    b1,
                    pf: std::ptr::null(),
                };
                kernel_avx512::<P, _>(kc, ap, b, t, col_masks(t.cols), bias)
            }
        }
    }
}

/// Store masks of the two 16-column halves of a tile `cols` wide.
#[cfg(target_arch = "x86_64")]
fn col_masks(cols: usize) -> [u16; 2] {
    let mask = |w: usize| -> u16 {
        if w >= NR {
            u16::MAX
        } else {
            ((1u32 << w) - 1) as u16
        }
    };
    [mask(cols.min(NR)), mask(cols.saturating_sub(NR))]
}

/// Where a micro-kernel call reads row `k` of its `B`: two pointers, 16 floats each for the
/// AVX-512 kernel's 32 columns; the AVX2 kernel reads its 16 columns at the first.
#[cfg(target_arch = "x86_64")]
trait BRows: Copy {
    /// The halves of row `k` (and any prefetch for a later call).
    ///
    /// # Safety
    /// `k` is below the call's `kc`; the reads are covered by the kernel's contract.
    unsafe fn row(self, k: usize) -> (*const f32, *const f32);
}

/// Two packed B panels (`NR` floats per k each); with `PF`, the next pair (`2·NR` floats
/// per k at `pf`) is prefetched two cache lines per k step, all of it by the call's end.
#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy)]
struct PackedPair<const PF: bool> {
    b0: *const f32,
    b1: *const f32,
    pf: *const f32,
}

#[cfg(target_arch = "x86_64")]
impl<const PF: bool> BRows for PackedPair<PF> {
    #[inline(always)]
    unsafe fn row(self, k: usize) -> (*const f32, *const f32) {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        // SAFETY: within the panels (and the next pair) by the caller's contract.
        unsafe {
            if PF {
                let pf = self.pf.add(k * 2 * NR);
                _mm_prefetch::<_MM_HINT_T0>(pf.cast());
                _mm_prefetch::<_MM_HINT_T0>(pf.add(NR).cast());
            }
            (self.b0.add(k * NR), self.b1.add(k * NR))
        }
    }
}

/// A packed `B` panel of the GEMM: row `k` at `b + k·ldb` (the AVX2 kernel's 16 columns).
#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy)]
struct Panel {
    b: *const f32,
    ldb: usize,
}

#[cfg(target_arch = "x86_64")]
impl BRows for Panel {
    #[inline(always)]
    unsafe fn row(self, k: usize) -> (*const f32, *const f32) {
        // SAFETY: k < kc, and the kernel's contract covers `kc` rows at stride `ldb`.
        let p = unsafe { self.b.add(k * self.ldb) };
        (p, p.wrapping_add(NR))
    }
}

/// The taps of a direct convolution: row `k` is the 32 (AVX-512) or 16 (AVX2) floats at
/// `b + koff[k]`.
#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy)]
struct Taps<'a> {
    koff: &'a [usize],
    b: *const f32,
}

#[cfg(target_arch = "x86_64")]
impl BRows for Taps<'_> {
    #[inline(always)]
    unsafe fn row(self, k: usize) -> (*const f32, *const f32) {
        // SAFETY: k < koff.len() and the 32 floats are readable, by the caller's contract.
        unsafe {
            let src = self.b.add(*self.koff.get_unchecked(k));
            (src, src.add(NR))
        }
    }
}

/// The AVX-512 micro-kernel: a `6·P × 32` register tile over `kc` k steps, starting from
/// the bias (`t.first`) or from `C` and stored back to `C`. Used by the GEMM (packed `B`)
/// and by the direct convolution (`B` read from the input's taps).
///
/// # Safety
/// AVX-512F; `a[i]` points at `kc*MR` floats; `b.row(k)` readable for `k < kc` (32 floats);
/// `t` as in [`kernel_512`]; `masks` select the valid columns of each 16-column half.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[allow(clippy::needless_range_loop)] // fixed-size register tile, indexed on purpose
unsafe fn kernel_avx512<const P: usize, B: BRows>(
    kc: usize,
    a: [*const f32; P],
    b: B,
    t: Tile,
    masks: [u16; 2],
    bias: &[f32; 2 * MR],
) {
    use std::arch::x86_64::*;
    // SAFETY (whole body): pointer offsets stay within the extents in the contract;
    // masked-off lanes of C are neither read nor written.
    unsafe {
        let mut acc = [[_mm512_setzero_ps(); 2]; 2 * MR];
        for r in 0..P * MR {
            if t.first {
                let v = _mm512_set1_ps(bias[r]);
                acc[r] = [v, v];
            } else if r < t.rows {
                let row = t.c.add(r * t.ldc);
                acc[r] = [
                    _mm512_maskz_loadu_ps(masks[0], row),
                    _mm512_maskz_loadu_ps(masks[1], row.add(NR)),
                ];
            }
        }
        let mut ap = a;
        for k in 0..kc {
            let (p0, p1) = b.row(k);
            let v0 = _mm512_loadu_ps(p0);
            let v1 = _mm512_loadu_ps(p1);
            for i in 0..P {
                for r in 0..MR {
                    let av = _mm512_set1_ps(*ap[i].add(r));
                    let x = &mut acc[i * MR + r];
                    x[0] = _mm512_fmadd_ps(av, v0, x[0]);
                    x[1] = _mm512_fmadd_ps(av, v1, x[1]);
                }
                ap[i] = ap[i].add(MR);
            }
        }
        for r in 0..t.rows {
            let row = t.c.add(r * t.ldc);
            _mm512_mask_storeu_ps(row, masks[0], acc[r][0]);
            _mm512_mask_storeu_ps(row.add(NR), masks[1], acc[r][1]);
        }
    }
}

/// Output pixels per direct-convolution micro-kernel call on this CPU: 32 with AVX-512F,
/// 16 with AVX2+FMA, `None` where there is no direct kernel (im2col + GEMM instead).
#[cfg(target_arch = "x86_64")]
pub(crate) fn direct_block() -> Option<usize> {
    if crate::simd::has_avx512() {
        Some(2 * NR)
    } else if crate::simd::has_avx2_fma() {
        Some(NR)
    } else {
        None
    }
}

/// `C = post(A·B + bias)` where row `k` of `B` at column `j` is `src[koff[k] + j]`: the im2col
/// matrix of a convolution read straight from zero-padded input rows laid out so that each
/// tap's pixels are contiguous, for the output pixels of one row (`koff[k]` is tap `k`'s
/// offset into `src`, relative to that output row's first pixel). Computes rows `m_rows` of `A`
/// (starting on a multiple of `2 · MR`) and columns `0..nc` into `c` (row stride `ldc`; `c`
/// points at row 0). Runs the AVX-512 kernel (12 × 32 tiles) or the AVX2 one (6 × 16 tiles), per
/// [`direct_block`]; callers fall back to im2col + GEMM where there is neither.
///
/// Why: a conv with few output channels uses each im2col value for only that many FMAs,
/// so building the im2col matrix cost more than the arithmetic (v4 det's 96 → 24 3×3 convs
/// at 240² ran at 28 % of peak). Every element gets the bias and then the same fused
/// multiply-adds in the same k order as [`gemm_tile`] (which only stores and reloads the
/// accumulators between k blocks), so the results are bit for bit those of the GEMM path.
///
/// Panics without a direct kernel, or unless `koff.len() == a.k`, `bias.len() >= a.m`,
/// `m_rows` lies in `0..a.m` and starts on a multiple of `2 · MR`, and every load (`koff[k] + j`
/// for `j` up to `nc` rounded up to the block) lies inside `src`.
///
/// # Safety
/// `c` must be valid for writes of rows `m_rows` (row stride `ldc`), columns `0..nc`, and no
/// other thread may access those elements during the call.
#[cfg(target_arch = "x86_64")]
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn direct_rows(
    a: &PackedA,
    m_rows: std::ops::Range<usize>,
    koff: &[usize],
    src: &[f32],
    bias: &[f32],
    nc: usize,
    c: *mut f32,
    ldc: usize,
    post: &[Step],
) {
    if m_rows.is_empty() || nc == 0 {
        return;
    }
    let block = direct_block().expect("direct conv needs AVX2+FMA or AVX-512F");
    let wide = block == 2 * NR;
    assert!(koff.len() == a.k && bias.len() >= a.m);
    assert!(
        m_rows.end <= a.m && m_rows.start.is_multiple_of(2 * MR),
        "direct conv: bad rows"
    );
    let reach = nc.div_ceil(block) * block;
    let last = koff.iter().max().copied().unwrap_or(0);
    assert!(last + reach <= src.len(), "direct conv: B out of bounds");
    let (p_first, panels) = (m_rows.start / MR, m_rows.end.div_ceil(MR));
    let (in_kernel, after) = split_post(post);
    // k blocks outermost: one block's A panels (12 KiB per pair) and the input rows its
    // taps reach stay in L1 across the row's column blocks; the accumulators go through C
    // between blocks (an exact store and reload, so the bits do not change).
    let mut k0 = 0;
    while k0 < a.k {
        let kc = KC.min(a.k - k0);
        let post = if k0 + kc >= a.k { in_kernel } else { &[] };
        let mut q = 0;
        while q < nc {
            let cols = (nc - q).min(block);
            let mut p = p_first;
            while p < panels {
                let two = wide && p + 1 < panels;
                let rows = (a.m - p * MR).min(if two { 2 * MR } else { MR });
                let bias_r = || {
                    let mut b = [0f32; 2 * MR];
                    b[..rows].copy_from_slice(&bias[p * MR..p * MR + rows]);
                    b
                };
                let t = Tile {
                    // SAFETY: row p*MR, column q are inside the caller's region.
                    c: unsafe { c.add(p * MR * ldc + q) },
                    ldc,
                    rows,
                    cols,
                    first: k0 == 0,
                };
                let taps = Taps {
                    koff: &koff[k0..k0 + kc],
                    // SAFETY: offset q of `src`; loads bounded by the `reach` assert.
                    b: unsafe { src.as_ptr().add(q) },
                };
                // SAFETY: the ISA checked by `direct_block`; B loads bounded by the `reach`
                // assert; the tile's rows × cols lie inside the caller's region (rows
                // `m_rows`: its panels start on an even panel and end at its end or at `m`;
                // columns 0..nc).
                unsafe {
                    if !wide {
                        let ap = a.panel(k0, kc, p).as_ptr();
                        // A full panel borrows its bias in place: a variable-length copy
                        // into a local array is a memcpy call per kernel call, and the
                        // kernel's first loads of it stall on store forwarding.
                        let edge;
                        let bias6: &[f32; MR] = match bias.get(p * MR..p * MR + MR) {
                            Some(b) if rows == MR => b.try_into().expect("MR values"),
                            _ => {
                                edge = bias_r();
                                edge[..MR].try_into().expect("MR values")
                            }
                        };
                        kernel_avx2(kc, ap, taps, t, bias6, post);
                    } else if two {
                        let ap = [a.panel(k0, kc, p), a.panel(k0, kc, p + 1)];
                        let masks = col_masks(cols);
                        kernel_avx512::<2, _>(
                            kc,
                            ap.map(<[f32]>::as_ptr),
                            taps,
                            t,
                            masks,
                            &bias_r(),
                        );
                        post_rows(post, t);
                    } else {
                        let ap = [a.panel(k0, kc, p).as_ptr()];
                        kernel_avx512::<1, _>(kc, ap, taps, t, col_masks(cols), &bias_r());
                        post_rows(post, t);
                    }
                }
                p += if two { 2 } else { 1 };
            }
            q += block;
        }
        k0 += kc;
    }
    if !after.is_empty() {
        for r in m_rows {
            // SAFETY: row r, columns 0..nc: the caller's region, written above.
            apply_chain(after, unsafe {
                std::slice::from_raw_parts_mut(c.add(r * ldc), nc)
            });
        }
    }
}

/// Rows per block when the `m` rows of a GEMM output are cut into blocks on top of `tasks`
/// other tasks (column tiles, images): halved, in whole `MR`-row panels, until there are two
/// tasks per thread or single panels. Row blocks never change an element's arithmetic.
/// One thread gets one block: each block of a column tile packs that tile's B again, and
/// v6 rec's one-tile convs (240 pixels) ran 1.5–2 % slower in two.
pub(crate) fn row_block(m: usize, tasks: usize, threads: usize) -> usize {
    let panels = m.div_ceil(MR);
    let mut blocks = 1;
    while threads > 1 && tasks * blocks < 2 * threads && panels >= 2 * blocks {
        blocks *= 2;
    }
    (panels.div_ceil(blocks) * MR).max(MR)
}

/// Column tile width for [`matmul`].
const MATMUL_TILE: usize = 256;

/// Applied to each finished column tile of [`matmul`]'s `C`, one row segment at a time:
/// `(first column, segment)`.
pub(crate) type ColEpilogue<'a> = &'a (dyn Fn(usize, &mut [f32]) + Sync);

/// `C[m×n] = A[m×k]·B[k×n]` for row-major A (row stride `lda`), B (`ldb`; or `pre`, B
/// packed at load, in which case `b` is not read) and C (`ldc`), packing A on the fly;
/// column tiles run in parallel when `parallel` is set (the arithmetic per element is the
/// same either way). `epilogue` (a column bias, an activation) runs on each tile while it
/// is still in cache, instead of in a second pass over `C`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn matmul(
    m: usize,
    n: usize,
    k: usize,
    a: &[f32],
    lda: usize,
    b: &[f32],
    ldb: usize,
    pre: Option<&PackedB>,
    c: &mut [f32],
    ldc: usize,
    parallel: bool,
    epilogue: Option<ColEpilogue<'_>>,
) {
    if m == 0 || n == 0 {
        return;
    }
    assert!((m - 1) * ldc + n <= c.len(), "matmul: C out of bounds");
    assert!(
        pre.is_some() || k == 0 || (k - 1) * ldb + n <= b.len(),
        "matmul: B out of bounds"
    );
    assert!(
        k == 0 || (m - 1) * lda + k <= a.len(),
        "matmul: A out of bounds"
    );
    let pa = PackedA::new(a, m, k, lda);
    let mat = MatB { data: b, ld: ldb };
    let src = match pre {
        Some(pb) => {
            assert!(
                pb.k == k && pb.n == n,
                "matmul: pre-packed B has the wrong shape"
            );
            BSrc::Pre(pb)
        }
        None => BSrc::Pack(&mat),
    };
    let ntiles = n.div_ceil(MATMUL_TILE);
    let threads = if parallel {
        rayon::current_num_threads()
    } else {
        1
    };
    // Too few column tiles for the threads (the recognizers' 40 × 120 → 240 layers have
    // one): the rows are split too. Each part of a column tile packs that tile's B again
    // unless B was packed at load.
    let part_rows = row_block(m, ntiles, threads);
    let parts = m.div_ceil(part_rows);
    let cptr = SyncPtr(c.as_mut_ptr());
    let tile = |t: usize, scratch: &mut Vec<f32>| {
        let (ti, part) = (t / parts, t % parts);
        let j0 = ti * MATMUL_TILE;
        let nc = MATMUL_TILE.min(n - j0);
        let m0 = part * part_rows;
        let mn = part_rows.min(m - m0);
        // SAFETY: each task owns columns j0..j0+nc of rows m0..m0+mn; in bounds by the
        // asserts.
        unsafe {
            gemm_tile(
                &pa,
                src,
                None,
                m0,
                mn,
                j0,
                nc,
                cptr.get().add(j0),
                ldc,
                scratch,
                &[],
            )
        };
        if let Some(f) = epilogue {
            for r in m0..m0 + mn {
                // SAFETY: row r, columns j0..j0+nc: this task's own region, written above.
                let seg =
                    unsafe { std::slice::from_raw_parts_mut(cptr.get().add(r * ldc + j0), nc) };
                f(j0, seg);
            }
        }
    };
    let tasks = ntiles * parts;
    if tasks > 1 && threads > 1 {
        use rayon::prelude::*;
        (0..tasks)
            .into_par_iter()
            .for_each_init(Vec::new, |s, t| tile(t, s));
    } else {
        let mut s = Vec::new();
        (0..tasks).for_each(|t| tile(t, &mut s));
    }
}

/// A raw pointer that may cross threads; used only for disjoint tile writes (the GEMM's
/// column tiles, the convolutions' output tiles).
#[derive(Clone, Copy)]
pub(crate) struct SyncPtr(pub(crate) *mut f32);
// SAFETY: only used to hand disjoint output regions to parallel tasks.
unsafe impl Send for SyncPtr {}
unsafe impl Sync for SyncPtr {}
impl SyncPtr {
    /// The pointer (a method, so that closures capture the whole `Sync` wrapper).
    pub(crate) fn get(self) -> *mut f32 {
        self.0
    }
}

/// Multiplies one packed A panel (`kc` k-steps of `MR` values) by each `kc × NR` B panel of
/// `b` in turn, each into its own `MR × NR` tile of `c`: the GEMM micro-kernel streaming B
/// from wherever `b` lives, for the roofline's cache-level table. Returns the flops done.
/// Panics unless `a` holds `kc · MR` values and `c` one tile per whole panel of `b`.
pub(crate) fn kernel_over_b(kc: usize, a: &[f32], b: &[f32], c: &mut [f32]) -> usize {
    let panels = if kc == 0 { 0 } else { b.len() / (kc * NR) };
    assert!(a.len() >= kc * MR && c.len() >= panels * MR * NR);
    let avx = crate::simd::has_avx2_fma();
    for (q, tile) in c.chunks_exact_mut(MR * NR).take(panels).enumerate() {
        // SAFETY: `tile` is a whole MR × NR tile (row stride NR) this call owns; the
        // kernel asserts the operands' extents.
        unsafe {
            kernel(
                avx,
                kc,
                a,
                &b[q * kc * NR..],
                NR,
                tile.as_mut_ptr(),
                NR,
                [MR, NR],
                q % 2 == 0,
                &[0.0; MR],
                &[],
            )
        };
    }
    panels * kc * MR * NR * 2
}

/// Dispatches to the AVX2 micro-kernel or the portable one, for a tile of `rows` (1..=MR)
/// × `cols` (1..=NR) of `C`. The AVX2 kernel masks the missing rows and columns of an edge
/// tile; the portable one computes it in a local full tile and copies the valid part (a copy
/// through a local tile on AVX2 too took 18 % of v6 rec's 40-row head MatMul).
///
/// # Safety
/// `c` must be valid for a `rows × cols` tile with row stride `ldc`; `a` holds `kc`
/// k-steps of `MR` values, `b` `kc` rows of `NR` values at row stride `ldb`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn kernel(
    avx: bool,
    kc: usize,
    a: &[f32],
    b: &[f32],
    ldb: usize,
    c: *mut f32,
    ldc: usize,
    [rows, cols]: [usize; 2],
    first: bool,
    bias: &[f32; MR],
    post: &[Step],
) {
    // Bounds of the packed operands are checked here, once per call.
    assert!(a.len() >= kc * MR && (kc == 0 || b.len() >= (kc - 1) * ldb + NR));
    assert!((1..=MR).contains(&rows) && (1..=NR).contains(&cols));
    #[cfg(target_arch = "x86_64")]
    if avx {
        // SAFETY: AVX2+FMA checked by the caller; operand bounds asserted above; the C
        // tile is the caller's contract.
        unsafe {
            let t = Tile {
                c,
                ldc,
                rows,
                cols,
                first,
            };
            let b = Panel { b: b.as_ptr(), ldb };
            kernel_avx2(kc, a.as_ptr(), b, t, bias, post)
        };
        return;
    }
    let _ = avx;
    if rows == MR && cols == NR {
        // SAFETY: forwarded contract.
        unsafe { kernel_generic(kc, a, b, ldb, c, ldc, first, bias) };
        for r in 0..rows {
            // SAFETY: row r of the tile, inside the caller's region.
            apply_chain(post, unsafe {
                std::slice::from_raw_parts_mut(c.add(r * ldc), cols)
            });
        }
        return;
    }
    let mut tmp = [0f32; MR * NR];
    for r in 0..rows {
        for cc in 0..cols {
            // SAFETY: (r, cc) is within the valid edge region.
            tmp[r * NR + cc] = unsafe { *c.add(r * ldc + cc) };
        }
    }
    // SAFETY: tmp is a full MR×NR tile with row stride NR.
    unsafe { kernel_generic(kc, a, b, ldb, tmp.as_mut_ptr(), NR, first, bias) };
    apply_chain(post, &mut tmp);
    for r in 0..rows {
        for cc in 0..cols {
            // SAFETY: as above.
            unsafe { *c.add(r * ldc + cc) = tmp[r * NR + cc] };
        }
    }
}

/// Portable micro-kernel (also the reference for the AVX2 one in tests).
///
/// # Safety
/// As [`kernel`].
#[allow(clippy::too_many_arguments)]
unsafe fn kernel_generic(
    kc: usize,
    a: &[f32],
    b: &[f32],
    ldb: usize,
    c: *mut f32,
    ldc: usize,
    first: bool,
    bias: &[f32; MR],
) {
    let mut acc = [[0f32; NR]; MR];
    for (r, row) in acc.iter_mut().enumerate() {
        for (j, v) in row.iter_mut().enumerate() {
            // SAFETY: (r, j) inside the MR×NR tile.
            *v = if first {
                bias[r]
            } else {
                unsafe { *c.add(r * ldc + j) }
            };
        }
    }
    for kk in 0..kc {
        let av = &a[kk * MR..kk * MR + MR];
        let bv = &b[kk * ldb..kk * ldb + NR];
        for r in 0..MR {
            for j in 0..NR {
                acc[r][j] = av[r].mul_add(bv[j], acc[r][j]);
            }
        }
    }
    for (r, row) in acc.iter().enumerate() {
        for (j, v) in row.iter().enumerate() {
            // SAFETY: (r, j) inside the MR×NR tile.
            unsafe { *c.add(r * ldc + j) = *v };
        }
    }
}

/// Steps the AVX2 kernel applies to its registers before storing a tile: the activations
/// of the PP-OCR detectors and v4 recognizer (Relu, Clip, HardSigmoid, HardSwish) and
/// constant arithmetic.
fn register_step(s: &Step) -> bool {
    matches!(
        s,
        Step::Relu
            | Step::Clip(..)
            | Step::HardSigmoid { .. }
            | Step::HardSwish { .. }
            | Step::AddC(_)
            | Step::RSubC(_)
            | Step::MulC(_)
            | Step::DivC(_)
            | Step::RDivC(_)
    )
}

/// `post` split into what the kernel applies to its registers and what a pass over each
/// finished row of `C` applies afterwards: the whole chain goes one way. In the kernel it
/// saves a pass over tiles whose rows lie a multiple of 4 KiB apart (480² and 240² channel
/// planes), which evict each other from L1 (v4 det 0.98, v4 rec ×8 0.96, in-process pairs);
/// a Gelu or Sigmoid there (an exp or erf per register, through a copy of the tile) was no
/// faster than the pass (v6 det 1.01–1.02).
fn split_post(post: &[Step]) -> (&[Step], &[Step]) {
    if cfg!(target_arch = "x86_64") && post.iter().all(register_step) {
        (post, &[])
    } else {
        (&[], post)
    }
}

/// Applies `post` to a 6×16 register tile `acc` inside [`kernel_avx2`] (a macro, so that
/// the accumulators stay in registers: taking their address, or calling a closure that
/// does not inherit the kernel's target features, put them on the stack and made every
/// conv slower). Only chains of [`register_step`]s come here; each runs on the registers
/// with the operations, in the order, of its scalar form in `apply_chain`, so the bits are
/// those of a pass over `C`.
#[cfg(target_arch = "x86_64")]
macro_rules! post_avx2 {
    ($post:expr, $acc:ident) => {{
        use std::arch::x86_64::*;
        macro_rules! each {
            (|$v:ident| $e:expr) => {
                for r in 0..$acc.len() {
                    for h in 0..2 {
                        let $v = $acc[r][h];
                        $acc[r][h] = $e;
                    }
                }
            };
        }
        let zero = _mm256_setzero_ps();
        let one = _mm256_set1_ps(1.0);
        for step in $post {
            // `if v < lo { lo } else { v }`, then `if v > hi { hi } else { v }`: maxps and
            // minps return their second operand when the comparison fails, so a NaN passes
            // through as it does there.
            match *step {
                // `v.max(0.0) + 0.0`: NaN and -0 become +0.
                Step::Relu => each!(|v| _mm256_add_ps(_mm256_max_ps(v, zero), zero)),
                Step::Clip(lo, hi) => {
                    let (lo, hi) = (_mm256_set1_ps(lo), _mm256_set1_ps(hi));
                    each!(|v| _mm256_min_ps(hi, _mm256_max_ps(lo, v)))
                }
                Step::HardSigmoid { alpha, beta } => {
                    let (a, b) = (_mm256_set1_ps(alpha), _mm256_set1_ps(beta));
                    each!(|v| {
                        let t = _mm256_add_ps(_mm256_mul_ps(a, v), b);
                        _mm256_min_ps(one, _mm256_max_ps(zero, t))
                    })
                }
                Step::HardSwish { alpha, beta } => {
                    let (a, b) = (_mm256_set1_ps(alpha), _mm256_set1_ps(beta));
                    each!(|v| {
                        let t = _mm256_add_ps(_mm256_mul_ps(a, v), b);
                        _mm256_mul_ps(v, _mm256_min_ps(one, _mm256_max_ps(zero, t)))
                    })
                }
                Step::AddC(c) => {
                    let c = _mm256_set1_ps(c);
                    each!(|v| _mm256_add_ps(v, c))
                }
                Step::RSubC(c) => {
                    let c = _mm256_set1_ps(c);
                    each!(|v| _mm256_sub_ps(c, v))
                }
                Step::MulC(c) => {
                    let c = _mm256_set1_ps(c);
                    each!(|v| _mm256_mul_ps(v, c))
                }
                Step::DivC(c) => {
                    let c = _mm256_set1_ps(c);
                    each!(|v| _mm256_div_ps(v, c))
                }
                Step::RDivC(c) => {
                    let c = _mm256_set1_ps(c);
                    each!(|v| _mm256_div_ps(c, v))
                }
                // Not a register step: `split_post` keeps such chains out of the kernel.
                _ => unreachable!("a chain with a step the kernel does not apply"),
            }
        }
    }};
}

/// 6×16 AVX2/FMA micro-kernel: 12 accumulators, 2 B loads and 6 broadcasts per k, over
/// `kc` k steps, starting from the bias (`t.first`) or from `C` and stored back to `C`.
/// Used by the GEMM (packed `B` panels, [`Panel`]) and by the direct convolution (`B` read
/// from the input's taps, [`Taps`]). Rows of all 16 columns use plain loads and stores
/// (a tile with fewer rows touches only its rows); rows with columns cut off go through
/// lane masks, which AMD CPUs microcode.
///
/// # Safety
/// The CPU must support AVX2 and FMA; `a` points at `kc*MR` floats; `b.row(k).0` readable
/// for 16 floats for `k < kc`; `t.c` valid for `t.rows` (1..=6) rows × `t.cols` (1..=16)
/// columns (row stride `t.ldc`), untouched by other threads.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn kernel_avx2<B: BRows>(
    kc: usize,
    a: *const f32,
    b: B,
    t: Tile,
    bias: &[f32; MR],
    post: &[Step],
) {
    // A tile of a last panel with fewer rows computes only as many rows as it needs, in
    // 2, 4 or 6 (v6 rec's 40-row head MatMul: its last panel has 4 rows, and computing 6
    // there is 5 % of the whole MatMul's arithmetic). Each row's arithmetic is the same.
    // SAFETY: forwarded contract.
    unsafe {
        match t.rows {
            0..=2 => kernel_avx2_rows::<B, 2>(kc, a, b, t, bias, post),
            3..=4 => kernel_avx2_rows::<B, 4>(kc, a, b, t, bias, post),
            _ => kernel_avx2_rows::<B, MR>(kc, a, b, t, bias, post),
        }
    }
}

/// [`kernel_avx2`] for tiles of at most `R` rows: `2 · R` accumulators.
///
/// # Safety
/// As [`kernel_avx2`], with `t.rows <= R`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::needless_range_loop)] // fixed-size register tile, indexed on purpose
unsafe fn kernel_avx2_rows<B: BRows, const R: usize>(
    kc: usize,
    a: *const f32,
    b: B,
    t: Tile,
    bias: &[f32; MR],
    post: &[Step],
) {
    use std::arch::x86_64::*;
    debug_assert!(t.rows >= 1 && t.rows <= R && R <= MR && t.cols >= 1 && t.cols <= NR);
    // Whole 16-column rows are loaded and stored plainly even when the tile has fewer than
    // MR rows: `vmaskmovps` is microcoded on AMD cores (Zen 3: one store per ~12 cycles),
    // and an A whose rows are not a multiple of 6 (32 output channels, a 4-row transposed
    // conv) would pay it on every tile of its last panel.
    let cols_full = t.cols == NR;
    let lanes = |w: usize| {
        let m: [i32; 8] = std::array::from_fn(|j| if j < w { -1 } else { 0 });
        // SAFETY: an unaligned load of 8 i32 from a local array.
        unsafe { _mm256_loadu_si256(m.as_ptr().cast()) }
    };
    let masks = if cols_full {
        [lanes(8), lanes(8)]
    } else {
        [lanes(t.cols.min(8)), lanes(t.cols.saturating_sub(8))]
    };
    // SAFETY (whole body): pointer offsets stay within the extents in the contract;
    // masked-off lanes of C are neither read nor written.
    unsafe {
        let mut acc = [[_mm256_setzero_ps(); 2]; R];
        if t.first && kc >= 32 {
            // The tile's lines of C are only written, at the end: fetch them for writing
            // now, so that the misses overlap the k loop instead of stalling the stores
            // (15 % of a 320-row MatMul whose C is larger than L2). Not before a k loop
            // under 32 steps (a 1×1 conv over 16–24 channels), which cannot hide them and to
            // whose few hundred instructions they add a dozen: without them cls ran in 0.983
            // of the time, v4 det 0.992, a 16 → 32 1×1 conv at 480² 0.976. 48 steps do hide
            // them: v6 det's 48 → 96 1×1 conv at 240², whose 22 MB output is written cold,
            // took 16.3 ms without them and 11.6 with them on a Zen 3 VM (v6 det 0.976,
            // 25 of 30 alternated runs faster; the models without such convs unchanged,
            // twentieth session). Only this tile's own
            // lines: also fetching the tile below for short k loops (0.96 of before on a
            // Zen 3 VM) cost up to twice the time on a Zen 1 VM, where the last panel's
            // tile below lies past the end of C and such a prefetch is slow; without it
            // v6 rec's head MatMul ran in 0.79 of the time and a 16 → 32 1×1 conv at 480²
            // in 0.51 (in-process alternation); inside C it gained nothing there.
            let fetch_row = |r: usize| {
                let row = t.c.wrapping_add(r * t.ldc);
                _mm_prefetch::<_MM_HINT_ET0>(row.cast());
                _mm_prefetch::<_MM_HINT_ET0>(row.wrapping_add(t.cols - 1).cast());
            };
            (0..t.rows).for_each(fetch_row);
        }
        for r in 0..R {
            let row = t.c.add(r * t.ldc);
            if t.first {
                let v = _mm256_set1_ps(bias[r]);
                acc[r] = [v, v];
            } else if r < t.rows && cols_full {
                acc[r] = [_mm256_loadu_ps(row), _mm256_loadu_ps(row.add(8))];
            } else if r < t.rows {
                acc[r] = [
                    _mm256_maskload_ps(row, masks[0]),
                    _mm256_maskload_ps(row.add(8), masks[1]),
                ];
            }
        }
        let mut ap = a;
        for k in 0..kc {
            let (bp, _) = b.row(k);
            let b0 = _mm256_loadu_ps(bp);
            let b1 = _mm256_loadu_ps(bp.add(8));
            for r in 0..R {
                let av = _mm256_broadcast_ss(&*ap.add(r));
                acc[r][0] = _mm256_fmadd_ps(av, b0, acc[r][0]);
                acc[r][1] = _mm256_fmadd_ps(av, b1, acc[r][1]);
            }
            ap = ap.add(MR);
        }
        if !post.is_empty() {
            post_avx2!(post, acc);
        }
        for r in 0..t.rows {
            let row = t.c.add(r * t.ldc);
            if cols_full {
                _mm256_storeu_ps(row, acc[r][0]);
                _mm256_storeu_ps(row.add(8), acc[r][1]);
            } else {
                _mm256_maskstore_ps(row, masks[0], acc[r][0]);
                _mm256_maskstore_ps(row.add(8), masks[1], acc[r][1]);
            }
        }
    }
}

/// Applies `post` to the `rows × cols` of `C` that one kernel call stored (the AVX-512
/// kernels' epilogue: a pass over the tile while it is in L1).
///
/// # Safety
/// `t.c` must be valid for `t.rows` rows × `t.cols` columns (row stride `t.ldc`),
/// untouched by other threads.
#[cfg(target_arch = "x86_64")]
unsafe fn post_rows(post: &[Step], t: Tile) {
    if post.is_empty() {
        return;
    }
    for r in 0..t.rows {
        // SAFETY: row r of the tile, by the contract.
        apply_chain(post, unsafe {
            std::slice::from_raw_parts_mut(t.c.add(r * t.ldc), t.cols)
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_split_only_to_feed_several_threads() {
        // One thread: the whole of m (in whole panels), whatever the other tasks.
        assert_eq!(row_block(768, 1, 1), 768);
        assert_eq!(row_block(40, 1, 1), 42);
        // Two threads and one column tile: halved twice, into four blocks.
        assert_eq!(row_block(768, 1, 2), 192);
        // Enough column tiles already: no split.
        assert_eq!(row_block(768, 4, 2), 768);
        // Never below one panel.
        assert_eq!(row_block(6, 1, 8), 6);
    }

    /// The AVX-512 kernel (one or two A panels, full and partial tiles) against the
    /// portable kernel on each 6×16 sub-tile: same bits, and nothing outside the valid
    /// rows × columns is written.
    #[test]
    #[cfg(target_arch = "x86_64")]
    fn avx512_kernel_matches_portable() {
        if !std::arch::is_x86_feature_detected!("avx512f") {
            return;
        }
        let val = |i: usize, m: usize, d: usize| ((i * m) % d) as f32 / d as f32 - 0.5;
        for kc in [0usize, 1, 5, 256] {
            let a: Vec<f32> = (0..kc * 2 * MR).map(|i| val(i, 37, 17)).collect();
            let (a0, a1) = a.split_at(kc * MR);
            let b: Vec<f32> = (0..kc * 2 * NR).map(|i| val(i, 11, 23)).collect();
            let (b0, b1) = b.split_at(kc * NR);
            let bias: [f32; 2 * MR] = std::array::from_fn(|i| i as f32 * 0.25 - 1.0);
            for (rows, cols) in [
                (12, 32),
                (6, 32),
                (12, 17),
                (7, 5),
                (3, 16),
                (1, 1),
                (9, 31),
            ] {
                for first in [true, false] {
                    let ld = 2 * NR + 3;
                    let init: Vec<f32> = (0..2 * MR * ld).map(|i| i as f32 * 0.01).collect();
                    let mut got = init.clone();
                    let t = Tile {
                        c: got.as_mut_ptr(),
                        ldc: ld,
                        rows,
                        cols,
                        first,
                    };
                    // SAFETY: AVX-512F checked above; `got` holds 12 rows of `ld` floats.
                    unsafe {
                        if rows > MR {
                            kernel_512([a0, a1], kc, b0, b1, Some(&b), t, &bias);
                        } else {
                            kernel_512([a0], kc, b0, b1, None, t, &bias);
                        }
                    }
                    // The portable kernel on each full 6×16 sub-tile of a copy…
                    let mut full = init.clone();
                    for (i, ap) in [a0, a1].into_iter().enumerate() {
                        let bias6: [f32; MR] = std::array::from_fn(|r| bias[i * MR + r]);
                        for (q, bq) in [b0, b1].into_iter().enumerate() {
                            // SAFETY: a 6×16 sub-tile of `full` (row stride `ld`).
                            unsafe {
                                kernel_generic(
                                    kc,
                                    ap,
                                    bq,
                                    NR,
                                    full.as_mut_ptr().add(i * MR * ld + q * NR),
                                    ld,
                                    first,
                                    &bias6,
                                )
                            };
                        }
                    }
                    // …taken inside rows × cols, the initial values outside.
                    for r in 0..2 * MR {
                        for j in 0..ld {
                            let inside = r < rows && j < cols;
                            let want = if inside {
                                full[r * ld + j]
                            } else {
                                init[r * ld + j]
                            };
                            assert_eq!(
                                got[r * ld + j].to_bits(),
                                want.to_bits(),
                                "kc={kc} rows={rows} cols={cols} first={first} at ({r}, {j})"
                            );
                        }
                    }
                }
            }
        }
    }

    fn reference(a: &[f32], b: &[f32], bias: &[f32], m: usize, n: usize, k: usize) -> Vec<f32> {
        let mut c = vec![0f32; m * n];
        for i in 0..m {
            for j in 0..n {
                let mut s = bias[i] as f64;
                for p in 0..k {
                    s += a[i * k + p] as f64 * b[p * n + j] as f64;
                }
                c[i * n + j] = s as f32;
            }
        }
        c
    }

    /// The chain applied inside the kernel (registers for the activation steps, a copy
    /// of the tile for the others) gives the bits of a pass over `C` afterwards: full and
    /// edge tiles, one k block and three, each step kind, NaN and ±0 in the mix.
    #[test]
    fn post_chain_in_the_kernel_matches_a_pass_afterwards() {
        let chains: Vec<Vec<Step>> = vec![
            vec![Step::Relu],
            vec![Step::HardSwish {
                alpha: 1.0 / 6.0,
                beta: 0.5,
            }],
            vec![
                Step::HardSwish {
                    alpha: 1.0 / 6.0,
                    beta: 0.5,
                },
                Step::MulC(1.7),
                Step::AddC(-0.3),
            ],
            vec![
                Step::HardSigmoid {
                    alpha: 0.2,
                    beta: 0.5,
                },
                Step::Clip(-0.25, 0.75),
            ],
            vec![Step::RSubC(2.0), Step::DivC(3.0), Step::RDivC(1.5)],
            vec![Step::Gelu],
            vec![Step::MulC(0.5), Step::Sigmoid, Step::Relu],
        ];
        for &(m, n, k) in &[(6, 16, 8), (13, 40, 600), (5, 7, 3)] {
            let (a, b) = operands(m, n, k);
            // Row 1's bias is NaN; row 2's is -0 (its dot products are not all zero, but
            // with k = 3 some are).
            let bias: Vec<f32> = (0..m)
                .map(|i| match i {
                    1 => f32::NAN,
                    2 => -0.0,
                    _ => i as f32 * 0.7 - 2.0,
                })
                .collect();
            let pa = PackedA::new(&a, m, k, k);
            for chain in &chains {
                let mut want = vec![0f32; m * n];
                let mut got = vec![0f32; m * n];
                let mut scratch = Vec::new();
                // SAFETY: both are m×n with ldc = n; single-threaded.
                unsafe {
                    let mat = MatB { data: &b, ld: n };
                    gemm_tile(
                        &pa,
                        BSrc::Pack(&mat),
                        Some(&bias),
                        0,
                        m,
                        0,
                        n,
                        want.as_mut_ptr(),
                        n,
                        &mut scratch,
                        &[],
                    );
                    gemm_tile(
                        &pa,
                        BSrc::Pack(&mat),
                        Some(&bias),
                        0,
                        m,
                        0,
                        n,
                        got.as_mut_ptr(),
                        n,
                        &mut scratch,
                        chain,
                    );
                }
                apply_chain(chain, &mut want);
                let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&got), bits(&want), "{m}×{n}×{k} {chain:?}");
            }
        }
    }

    /// Deterministic `A` (m × k) and `B` (k × n) operands with values in [-0.5, 0.5).
    fn operands(m: usize, n: usize, k: usize) -> (Vec<f32>, Vec<f32>) {
        let a = (0..m * k)
            .map(|i| ((i * 37) % 17) as f32 / 17.0 - 0.5)
            .collect();
        let b = (0..k * n)
            .map(|i| ((i * 11) % 23) as f32 / 23.0 - 0.5)
            .collect();
        (a, b)
    }

    /// `got` within f32 rounding of sums of `k` products of `want`.
    fn assert_near(got: &[f32], want: &[f32], k: usize, what: &str) {
        for (x, y) in got.iter().zip(want) {
            assert!(
                (x - y).abs() <= 1e-5 * (1.0 + y.abs()) * (k as f32).sqrt(),
                "{what}: {x} vs {y}"
            );
        }
    }

    /// `matmul` splits rows as well as column tiles when the tiles alone cannot feed the
    /// threads (a 40 × 240 output has one tile): every pool size gives the same bits, with B
    /// packed per tile or at load, and the column epilogue sees every row once.
    #[test]
    fn matmul_is_the_same_for_any_split() {
        for &(m, n, k) in &[
            (40, 240, 120),
            (320, 120, 240),
            (7, 600, 33),
            (1, 17, 5),
            (61, 300, 9),
        ] {
            let (a, b) = operands(m, n, k);
            let col_bias: Vec<f32> = (0..n).map(|j| j as f32 * 0.01).collect();
            let want: Vec<f32> = reference(&a, &b, &vec![0.0; m], m, n, k)
                .iter()
                .enumerate()
                .map(|(i, v)| v + col_bias[i % n])
                .collect();
            let epilogue = |j0: usize, seg: &mut [f32]| {
                seg.iter_mut()
                    .zip(&col_bias[j0..])
                    .for_each(|(v, b)| *v += b);
            };
            let pre = PackedB::new(&b, k, n);
            let mut first: Option<Vec<u32>> = None;
            for threads in [1, 2, 3, 4] {
                let pool = rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .build()
                    .unwrap();
                for packed in [false, true] {
                    let mut c = vec![f32::NAN; m * n];
                    pool.install(|| {
                        matmul(
                            m,
                            n,
                            k,
                            &a,
                            k,
                            &b,
                            n,
                            packed.then_some(&pre),
                            &mut c,
                            n,
                            true,
                            Some(&epilogue),
                        )
                    });
                    assert_near(&c, &want, k, &format!("{m}x{n}x{k}, {threads} threads"));
                    let bits: Vec<u32> = c.iter().map(|v| v.to_bits()).collect();
                    match &first {
                        Some(f) => assert!(
                            f == &bits,
                            "{m}x{n}x{k}, {threads} threads, packed {packed}"
                        ),
                        None => first = Some(bits),
                    }
                }
            }
        }
    }

    #[test]
    fn packed_gemm_matches_reference_and_kernels_agree() {
        for &(m, n, k) in &[
            (1, 1, 1),
            (6, 16, 8),
            (7, 17, 300),
            (13, 40, 513),
            (24, 100, 27),
        ] {
            let (a, b) = operands(m, n, k);
            let bias: Vec<f32> = (0..m).map(|i| i as f32 * 0.1).collect();
            let pa = PackedA::new(&a, m, k, k);
            let want = reference(&a, &b, &bias, m, n, k);
            let mut c = vec![f32::NAN; m * n];
            let mut scratch = Vec::new();
            // Two column tiles to exercise j0 offsets.
            let split = n / 2;
            for (j0, nc) in [(0, split), (split, n - split)] {
                if nc == 0 {
                    continue;
                }
                // SAFETY: c is m×n with ldc = n; single-threaded.
                unsafe {
                    gemm_tile(
                        &pa,
                        BSrc::Pack(&MatB { data: &b, ld: n }),
                        Some(&bias),
                        0,
                        m,
                        j0,
                        nc,
                        c.as_mut_ptr().add(j0),
                        n,
                        &mut scratch,
                        &[],
                    )
                };
            }
            assert_near(&c, &want, k, &format!("{m}x{n}x{k}"));
            // The portable kernel computes the same fused multiply-adds in the same
            // order as the AVX2 one, so both agree bit for bit.
            let ap = pa.panel(0, KC.min(k), 0);
            let mut bp = vec![0f32; KC.min(k) * NR];
            MatB { data: &b, ld: n }.pack(0, KC.min(k), 0, n.min(NR), &mut bp);
            let bias6 = [0.5f32; MR];
            // Full tiles and edge tiles of every row count (the AVX2 kernel computes 2, 4
            // or 6 rows for them) and cut columns, from the bias and on top of C: the same
            // bits as the portable kernel, and nothing outside the tile written.
            for rows in 1..=MR {
                for cols in [NR, 9] {
                    for first in [true, false] {
                        let start: [f32; MR * NR] = std::array::from_fn(|i| i as f32 * 0.25 - 3.0);
                        let (mut t1, mut t2) = (start, start);
                        // SAFETY: full local tiles; the kernels touch only rows × cols.
                        unsafe {
                            for (avx, t) in
                                [(false, &mut t1), (crate::simd::has_avx2_fma(), &mut t2)]
                            {
                                kernel(
                                    avx,
                                    KC.min(k),
                                    ap,
                                    &bp,
                                    NR,
                                    t.as_mut_ptr(),
                                    NR,
                                    [rows, cols],
                                    first,
                                    &bias6,
                                    &[],
                                );
                            }
                        }
                        assert_eq!(t1, t2, "{rows} x {cols} tile, first {first}");
                        for (i, v) in t2.iter().enumerate() {
                            if i / NR >= rows || i % NR >= cols {
                                assert_eq!(*v, start[i], "{rows} x {cols}: wrote outside");
                            }
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod bench {
    use super::*;
    use crate::gemm::{sgemm, Mat, Par};
    use std::time::Instant;

    /// Backend comparison on the engine's GEMM shapes (single thread). Run with
    /// `cargo test --release -p wenzi-nn --lib gemm_backends -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn gemm_backends() {
        for &(m, n, k) in &[
            (40, 6625, 120),
            (40, 360, 120),
            (320, 6625, 120),
            (24, 4096, 864),
            (96, 4096, 96),
            (240, 960, 240),
        ] {
            let a: Vec<f32> = (0..m * k).map(|i| (i % 7) as f32 * 0.1).collect();
            let b: Vec<f32> = (0..k * n).map(|i| (i % 5) as f32 * 0.1).collect();
            let mut c = vec![0f32; m * n];
            let reps = (2e9 / (m * n * k) as f64).clamp(3.0, 200.0) as usize;
            let t = Instant::now();
            for _ in 0..reps {
                sgemm(
                    m,
                    n,
                    k,
                    Mat::row_major(&a, k),
                    Mat::row_major(&b, n),
                    &mut c,
                    n,
                    false,
                    Par::Seq,
                );
            }
            let t_gemm = t.elapsed().as_secs_f64() / reps as f64;
            let t = Instant::now();
            for _ in 0..reps {
                // SAFETY: c is m×n.
                unsafe {
                    matrixmultiply::sgemm(
                        m,
                        k,
                        n,
                        1.0,
                        a.as_ptr(),
                        k as isize,
                        1,
                        b.as_ptr(),
                        n as isize,
                        1,
                        0.0,
                        c.as_mut_ptr(),
                        n as isize,
                        1,
                    )
                };
            }
            let t_mm = t.elapsed().as_secs_f64() / reps as f64;
            let t = Instant::now();
            let mut scratch = Vec::new();
            for _ in 0..reps {
                let pa = PackedA::new(&a, m, k, k);
                let mut j0 = 0;
                while j0 < n {
                    let nc = 256.min(n - j0);
                    // SAFETY: c is m×n, columns j0..j0+nc.
                    unsafe {
                        gemm_tile(
                            &pa,
                            BSrc::Pack(&MatB { data: &b, ld: n }),
                            None,
                            0,
                            m,
                            j0,
                            nc,
                            c.as_mut_ptr().add(j0),
                            n,
                            &mut scratch,
                            &[],
                        )
                    };
                    j0 += nc;
                }
            }
            let t_own = t.elapsed().as_secs_f64() / reps as f64;
            let gf = |t: f64| 2.0 * (m * n * k) as f64 / t / 1e9;
            println!(
                "m={m:4} n={n:5} k={k:4}: gemm {:6.1} GF/s, matrixmultiply {:6.1} GF/s, own packed {:6.1} GF/s",
                gf(t_gemm),
                gf(t_mm),
                gf(t_own)
            );
        }
    }
}
