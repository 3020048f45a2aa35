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
        for q in 0..panels {
            let c0 = j0 + q * NR;
            let w = NR.min(j0 + nc - c0);
            let panel = &mut out[q * kc * NR..(q + 1) * kc * NR];
            for kk in 0..kc {
                let src = &self.data[(k0 + kk) * self.ld + c0..][..w];
                let dst: &mut [f32; NR] = (&mut panel[kk * NR..kk * NR + NR])
                    .try_into()
                    .expect("NR-sized");
                if w == NR {
                    // Fixed-size copy: compiles to a few vector moves, not a memcpy call.
                    *dst = src.try_into().expect("NR-sized");
                } else {
                    *dst = [0.0; NR];
                    dst[..w].copy_from_slice(src);
                }
            }
        }
    }
}

/// Computes rows `m0..m0+mn` (a multiple of `MR` or the end of `A`) and columns
/// `j0..j0+nc` of `C = A·B + bias`, with `C` row-major (row stride `ldc`); `c` points
/// at element `(0, j0)`. `scratch` holds the packed B tile.
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
) {
    let k = a.k;
    let npanels = nc.div_ceil(NR);
    let p0 = m0 / MR;
    let p1 = (m0 + mn).div_ceil(MR);
    let avx = crate::simd::has_avx2_fma();
    let avx512 = crate::simd::has_avx512();
    let mut k0 = 0;
    let mut first = true;
    let need = match b {
        BSrc::Pack(_) => npanels * KC.min(k).max(1) * NR,
        BSrc::Pre(_) => 0,
    };
    if scratch.len() < need {
        scratch.resize(need, 0.0);
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
        };
        // B panel q as (slice, row stride); the kernel also takes strided panels.
        let panel = |q: usize| -> (&[f32], usize) { (&tile[q * kc * NR..(q + 1) * kc * NR], NR) };
        // B panels outer, A panels inner: the B panel (pair) being multiplied stays in L1
        // while the small A panels stream from L2. (B is the wider operand of the
        // micro-kernel: 16 or 32 floats per k against 6.) Each C tile still gets exactly
        // one kernel call per k block, so the arithmetic does not depend on this order.
        let mut q = 0;
        while q < npanels {
            #[cfg(target_arch = "x86_64")]
            let pair = avx512 && nc >= (q + 2) * NR;
            #[cfg(not(target_arch = "x86_64"))]
            let pair = false;
            for p in p0..p1 {
                let rows = MR.min(a.m - p * MR);
                let ap = if kc > 0 { a.panel(k0, kc, p) } else { &[][..] };
                let mut bias_r = [0f32; MR];
                if let Some(bias) = bias {
                    bias_r[..rows].copy_from_slice(&bias[p * MR..p * MR + rows]);
                }
                #[cfg(target_arch = "x86_64")]
                if pair && rows == MR {
                    // Two full panels side by side: one 6×32 tile.
                    let (bp, ldb) = panel(q);
                    let (bp1, _) = panel(q + 1);
                    // SAFETY: AVX-512F checked at run time; the full MR×2NR tile at rows
                    // p*MR.., columns j0+q*NR.. is inside the caller's region (both panels
                    // are full); kernel_x2 asserts the operand sizes.
                    unsafe {
                        let cptr = c.add(p * MR * ldc + q * NR);
                        kernel_x2(kc, ap, bp, bp1, ldb, cptr, ldc, first, &bias_r)
                    };
                    continue;
                }
                for qq in q..q + if pair { 2 } else { 1 } {
                    let cols = NR.min(nc - qq * NR);
                    let (bp, ldb) = panel(qq);
                    // SAFETY: rows p*MR..p*MR+rows and columns j0+qq*NR..+cols lie inside
                    // the caller's region (rows ⊂ m0..m0+mn because m0 is panel-aligned).
                    let cptr = unsafe { c.add(p * MR * ldc + qq * NR) };
                    if rows == MR && cols == NR {
                        // SAFETY: full tile in bounds; panels hold kc*MR / kc*NR values.
                        unsafe { kernel(avx, kc, ap, bp, ldb, cptr, ldc, first, &bias_r) };
                    } else {
                        // Edge tile: compute into a local full tile, copy the valid part.
                        let mut tmp = [0f32; MR * NR];
                        for r in 0..rows {
                            for cc in 0..cols {
                                // SAFETY: (r, cc) is within the valid edge region.
                                tmp[r * NR + cc] = unsafe { *cptr.add(r * ldc + cc) };
                            }
                        }
                        // SAFETY: tmp is a full MR×NR tile with row stride NR.
                        unsafe {
                            kernel(avx, kc, ap, bp, ldb, tmp.as_mut_ptr(), NR, first, &bias_r)
                        };
                        for r in 0..rows {
                            for cc in 0..cols {
                                // SAFETY: as above.
                                unsafe { *cptr.add(r * ldc + cc) = tmp[r * NR + cc] };
                            }
                        }
                    }
                }
            }
            q += if pair { 2 } else { 1 };
        }
        let _ = avx512;
        first = false;
        k0 += kc;
        if k0 >= k {
            break;
        }
    }
}

/// Column tile width for [`matmul`].
const MATMUL_TILE: usize = 256;

/// `C[m×n] = A[m×k]·B[k×n]` for row-major A (row stride `lda`), B (`ldb`; or `pre`, B
/// packed at load, in which case `b` is not read) and C (`ldc`), packing A on the fly; column tiles run in parallel when `parallel` is set (the
/// arithmetic per element is the same either way).
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
    let cptr = SendPtr(c.as_mut_ptr());
    let tile = |t: usize, scratch: &mut Vec<f32>| {
        let j0 = t * MATMUL_TILE;
        let nc = MATMUL_TILE.min(n - j0);
        // SAFETY: each tile owns columns j0..j0+nc of all m rows; in bounds by the asserts.
        unsafe {
            gemm_tile(
                &pa,
                src,
                None,
                0,
                m,
                j0,
                nc,
                cptr.get().add(j0),
                ldc,
                scratch,
            )
        };
    };
    if parallel && ntiles > 1 && rayon::current_num_threads() > 1 {
        use rayon::prelude::*;
        (0..ntiles)
            .into_par_iter()
            .for_each_init(Vec::new, |s, t| tile(t, s));
    } else {
        let mut s = Vec::new();
        (0..ntiles).for_each(|t| tile(t, &mut s));
    }
}

/// A raw pointer that may cross threads (tasks write disjoint regions).
#[derive(Clone, Copy)]
struct SendPtr(*mut f32);
// SAFETY: only used to hand disjoint output regions to parallel tasks.
unsafe impl Send for SendPtr {}
unsafe impl Sync for SendPtr {}
impl SendPtr {
    fn get(self) -> *mut f32 {
        self.0
    }
}

/// Dispatches to the AVX2 micro-kernel or the portable one.
///
/// # Safety
/// `c` must be valid for an `MR × NR` tile with row stride `ldc`; `a` holds `kc`
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
    first: bool,
    bias: &[f32; MR],
) {
    // Bounds of the packed operands are checked here, once per call.
    assert!(a.len() >= kc * MR && (kc == 0 || b.len() >= (kc - 1) * ldb + NR));
    #[cfg(target_arch = "x86_64")]
    if avx {
        // SAFETY: AVX2+FMA checked by the caller; operand bounds asserted above.
        unsafe { kernel_avx2(kc, a.as_ptr(), b.as_ptr(), ldb, c, ldc, first, bias) };
        return;
    }
    let _ = avx;
    // SAFETY: forwarded contract.
    unsafe { kernel_generic(kc, a, b, ldb, c, ldc, first, bias) }
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

/// 6×16 AVX2/FMA micro-kernel: 12 accumulators, 2 B loads and 6 broadcasts per k.
///
/// # Safety
/// The CPU must support AVX2 and FMA; `a` points at `kc*MR` floats, `b` at `kc` rows
/// of `NR` floats with row stride `ldb`, `c` at an `MR×NR` tile with row stride `ldc`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::needless_range_loop)] // fixed-size register tile, indexed on purpose
#[allow(clippy::too_many_arguments)]
unsafe fn kernel_avx2(
    kc: usize,
    a: *const f32,
    b: *const f32,
    ldb: usize,
    c: *mut f32,
    ldc: usize,
    first: bool,
    bias: &[f32; MR],
) {
    use std::arch::x86_64::*;
    // SAFETY (whole body): pointer offsets stay within the extents in the contract.
    unsafe {
        let mut acc = [[_mm256_setzero_ps(); 2]; MR];
        for r in 0..MR {
            if first {
                let v = _mm256_set1_ps(bias[r]);
                acc[r] = [v, v];
            } else {
                acc[r] = [
                    _mm256_loadu_ps(c.add(r * ldc)),
                    _mm256_loadu_ps(c.add(r * ldc + 8)),
                ];
            }
        }
        let (mut ap, mut bp) = (a, b);
        for _ in 0..kc {
            let b0 = _mm256_loadu_ps(bp);
            let b1 = _mm256_loadu_ps(bp.add(8));
            for r in 0..MR {
                let av = _mm256_broadcast_ss(&*ap.add(r));
                acc[r][0] = _mm256_fmadd_ps(av, b0, acc[r][0]);
                acc[r][1] = _mm256_fmadd_ps(av, b1, acc[r][1]);
            }
            ap = ap.add(MR);
            bp = bp.add(ldb);
        }
        for r in 0..MR {
            _mm256_storeu_ps(c.add(r * ldc), acc[r][0]);
            _mm256_storeu_ps(c.add(r * ldc + 8), acc[r][1]);
        }
    }
}

/// Two adjacent `NR`-column panels at once with AVX-512 (a 6×32 tile): per k, two
/// 16-wide B loads, 6 broadcasts and 12 FMAs into 12 zmm accumulators, twice the work per
/// instruction of the AVX2 kernel. Every element sees the same fused multiply-adds in
/// the same k order as [`kernel_generic`], so the results are identical.
///
/// # Safety
/// The CPU must support AVX-512F; `c` must be valid for an `MR × 2·NR` tile with row
/// stride `ldc`.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn kernel_x2(
    kc: usize,
    a: &[f32],
    b0: &[f32],
    b1: &[f32],
    ldb: usize,
    c: *mut f32,
    ldc: usize,
    first: bool,
    bias: &[f32; MR],
) {
    let fits = |b: &[f32]| kc == 0 || b.len() >= (kc - 1) * ldb + NR;
    assert!(a.len() >= kc * MR && fits(b0) && fits(b1));
    // SAFETY: AVX-512F guaranteed by the caller; operand bounds asserted above.
    unsafe {
        kernel_avx512_x2(
            kc,
            a.as_ptr(),
            b0.as_ptr(),
            b1.as_ptr(),
            ldb,
            c,
            ldc,
            first,
            bias,
        )
    }
}

/// The AVX-512 body of [`kernel_x2`].
///
/// # Safety
/// AVX-512F; `a` points at `kc*MR` floats, `b0`/`b1` at `kc` rows of `NR` floats with
/// row stride `ldb`, `c` at an `MR × 2·NR` tile with row stride `ldc`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[allow(clippy::needless_range_loop)] // fixed-size register tile, indexed on purpose
#[allow(clippy::too_many_arguments)]
unsafe fn kernel_avx512_x2(
    kc: usize,
    a: *const f32,
    b0: *const f32,
    b1: *const f32,
    ldb: usize,
    c: *mut f32,
    ldc: usize,
    first: bool,
    bias: &[f32; MR],
) {
    use std::arch::x86_64::*;
    // SAFETY (whole body): pointer offsets stay within the extents in the contract.
    unsafe {
        let mut acc = [[_mm512_setzero_ps(); 2]; MR];
        for r in 0..MR {
            if first {
                let v = _mm512_set1_ps(bias[r]);
                acc[r] = [v, v];
            } else {
                acc[r] = [
                    _mm512_loadu_ps(c.add(r * ldc)),
                    _mm512_loadu_ps(c.add(r * ldc + NR)),
                ];
            }
        }
        let (mut ap, mut p0, mut p1) = (a, b0, b1);
        for _ in 0..kc {
            let v0 = _mm512_loadu_ps(p0);
            let v1 = _mm512_loadu_ps(p1);
            for r in 0..MR {
                let av = _mm512_set1_ps(*ap.add(r));
                acc[r][0] = _mm512_fmadd_ps(av, v0, acc[r][0]);
                acc[r][1] = _mm512_fmadd_ps(av, v1, acc[r][1]);
            }
            ap = ap.add(MR);
            p0 = p0.add(ldb);
            p1 = p1.add(ldb);
        }
        for r in 0..MR {
            _mm512_storeu_ps(c.add(r * ldc), acc[r][0]);
            _mm512_storeu_ps(c.add(r * ldc + NR), acc[r][1]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The AVX-512 two-panel kernel against the portable kernel on each panel: same bits.
    #[test]
    #[cfg(target_arch = "x86_64")]
    fn avx512_kernel_matches_portable() {
        if !std::arch::is_x86_feature_detected!("avx512f") {
            return;
        }
        for kc in [0usize, 1, 5, 256] {
            let a: Vec<f32> = (0..kc * MR)
                .map(|i| ((i * 37) % 17) as f32 / 17.0 - 0.5)
                .collect();
            let b: Vec<f32> = (0..kc * 2 * NR)
                .map(|i| ((i * 11) % 23) as f32 / 23.0 - 0.5)
                .collect();
            let (b0, b1) = b.split_at(kc * NR);
            let bias = [0.25f32, -1.0, 0.0, 2.0, 0.5, -0.125];
            for first in [true, false] {
                let init: Vec<f32> = (0..MR * 2 * NR).map(|i| i as f32 * 0.01).collect();
                let mut got = init.clone();
                // SAFETY: AVX-512F checked above; `got` is a full MR×2NR tile.
                unsafe { kernel_x2(kc, &a, b0, b1, NR, got.as_mut_ptr(), 2 * NR, first, &bias) };
                let mut want = init.clone();
                for (q, bq) in [b0, b1].into_iter().enumerate() {
                    // SAFETY: the q-th MR×NR half of `want`, row stride 2·NR.
                    unsafe {
                        kernel_generic(
                            kc,
                            &a,
                            bq,
                            NR,
                            want.as_mut_ptr().add(q * NR),
                            2 * NR,
                            first,
                            &bias,
                        )
                    };
                }
                assert_eq!(got, want, "kc={kc} first={first}");
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

    #[test]
    fn packed_gemm_matches_reference_and_kernels_agree() {
        for &(m, n, k) in &[
            (1, 1, 1),
            (6, 16, 8),
            (7, 17, 300),
            (13, 40, 513),
            (24, 100, 27),
        ] {
            let a: Vec<f32> = (0..m * k)
                .map(|i| ((i * 37) % 17) as f32 / 17.0 - 0.5)
                .collect();
            let b: Vec<f32> = (0..k * n)
                .map(|i| ((i * 11) % 23) as f32 / 23.0 - 0.5)
                .collect();
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
                    )
                };
            }
            for (x, y) in c.iter().zip(&want) {
                assert!(
                    (x - y).abs() <= 1e-5 * (1.0 + y.abs()) * (k as f32).sqrt(),
                    "{m}x{n}x{k}: {x} vs {y}"
                );
            }
            // The portable kernel computes the same fused multiply-adds in the same
            // order as the AVX2 one, so both agree bit for bit.
            let ap = pa.panel(0, KC.min(k), 0);
            let mut bp = vec![0f32; KC.min(k) * NR];
            MatB { data: &b, ld: n }.pack(0, KC.min(k), 0, n.min(NR), &mut bp);
            let mut t1 = [0f32; MR * NR];
            let mut t2 = [0f32; MR * NR];
            let bias6 = [0.5f32; MR];
            // SAFETY: full local tiles.
            unsafe {
                kernel(
                    false,
                    KC.min(k),
                    ap,
                    &bp,
                    NR,
                    t1.as_mut_ptr(),
                    NR,
                    true,
                    &bias6,
                );
                kernel(
                    crate::simd::has_avx2_fma(),
                    KC.min(k),
                    ap,
                    &bp,
                    NR,
                    t2.as_mut_ptr(),
                    NR,
                    true,
                    &bias6,
                );
            }
            assert_eq!(t1, t2);
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
