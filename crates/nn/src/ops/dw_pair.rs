//! Two rows of a stride-1 (horizontally) depthwise convolution at a time, in AVX2.
//!
//! Why: summed one output row at a time, each input vector is loaded once per kernel tap
//! that reads it: on the Zen 1 EPYC measured (two 128-bit load ports) that ran at ~1.9
//! cycles per vector and tap, where the multiplies and adds need one. Two output rows
//! `sh` apart read `kh - sh` of their input rows in common; here each such input vector
//! is loaded once and feeds both rows' sums: a 7×7 depthwise conv on 96 × 60² in 0.91 of
//! the time, on 96 × 240² in 0.94 (~1.5 cycles per vector and tap; what holds back the
//! rest is not known).
//!
//! Same bits as one row at a time: each output is the bias, then `w · x` (a multiply, then
//! an add) per tap, kernel rows then columns in order, whichever path sums it. The
//! compiler did not keep two rows' accumulators in registers when this was written as
//! plain Rust (1.2–1.8× slower than one row at a time), hence the intrinsics.

/// Whether [`rows2`] may run on this CPU for output rows of `width` pixels.
pub(super) fn fits(width: usize) -> bool {
    width >= LANES && available()
}

#[cfg(target_arch = "x86_64")]
fn available() -> bool {
    crate::simd::has_avx2_fma()
}

#[cfg(not(target_arch = "x86_64"))]
fn available() -> bool {
    false
}

/// Floats per AVX2 vector.
const LANES: usize = 8;

/// Most input rows one call reads (the fast depthwise path's 8 kernel rows, stride 2).
pub(super) const MAX_ROWS: usize = 10;

/// `out0[x] = bias + Σ_{ky<kh} Σ_{kx<K} kern[ky·K + kx] · rows[ky][x + kx]` and `out1` the
/// same over `rows[sh..]`, where `kh = rows.len() - sh`.
///
/// # Panics
/// Unless [`fits`]`(out0.len())`, `out1.len() == out0.len()`, `1 ≤ sh < kh`, `rows.len() ≤`
/// 10, every row holds `out0.len() + K - 1` floats and `kern` `kh · K`. (The caller's
/// geometry guarantees all of it; the checks keep the kernel's raw reads in bounds.)
pub(super) fn rows2<const K: usize>(
    out0: &mut [f32],
    out1: &mut [f32],
    rows: &[&[f32]],
    kern: &[f32],
    bias: f32,
    sh: usize,
) {
    let n = out0.len();
    assert!(fits(n) && out1.len() == n, "dw_pair: {n} outputs");
    assert!(
        rows.len() <= MAX_ROWS && sh >= 1 && 2 * sh < rows.len(),
        "dw_pair: rows"
    );
    let kh = rows.len() - sh;
    assert!(kern.len() >= kh * K, "dw_pair: kernel");
    let mut ptrs = [std::ptr::null::<f32>(); MAX_ROWS];
    for (p, row) in ptrs.iter_mut().zip(rows) {
        assert!(row.len() >= n + K - 1, "dw_pair: row");
        *p = row.as_ptr();
    }
    let (o0, o1) = (out0.as_mut_ptr(), out1.as_mut_ptr());
    let ptrs = &ptrs[..rows.len()];
    // SAFETY: AVX2 and FMA are present (`fits`); every block of `row_pair` reads columns
    // `ox..ox + width + K - 1` of each row and writes `ox..ox + width` of both outputs with
    // `ox + width ≤ n`, inside the lengths asserted above; `out0` and `out1` are distinct
    // `&mut` slices.
    #[cfg(target_arch = "x86_64")]
    unsafe {
        row_pair::<K>(o0, o1, ptrs, kern.as_ptr(), bias, sh, n)
    };
    // (`fits` is false off x86-64, so the asserts above have already panicked there.)
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (o0, o1, ptrs, bias);
}

/// Both output rows of [`rows2`], `n` pixels, in blocks: one dispatched call per row pair,
/// the blocks inlined into it (a call per block cost a 3×3 kernel's load savings).
///
/// # Safety
/// As [`block2`] for every block: `ox + width ≤ n` throughout.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn row_pair<const K: usize>(
    o0: *mut f32,
    o1: *mut f32,
    rows: &[*const f32],
    kern: *const f32,
    bias: f32,
    sh: usize,
    n: usize,
) {
    // SAFETY: forwarded contract; every block lies within the row's `n` pixels.
    unsafe {
        let block = |ox: usize, v: usize| match v {
            5 => block2::<K, 5>(o0, o1, rows, kern, bias, sh, ox),
            4 => block2::<K, 4>(o0, o1, rows, kern, bias, sh, ox),
            2 => block2::<K, 2>(o0, o1, rows, kern, bias, sh, ox),
            _ => block2::<K, 1>(o0, o1, rows, kern, bias, sh, ox),
        };
        // Rows of a multiple of 40 (the recognizers' 80) in 5-vector blocks; others in
        // blocks of 4 vectors, then 2, then 1, and the tail as one more block ending at the
        // row's end (pixels it shares with the block before get the same sums again).
        let mut ox = 0;
        let widths: &[usize] = if n.is_multiple_of(5 * LANES) {
            &[5]
        } else {
            &[4, 2, 1]
        };
        for &v in widths {
            while ox + v * LANES <= n {
                block(ox, v);
                ox += v * LANES;
            }
        }
        if ox < n {
            block(n - LANES, 1);
        }
    }
}

/// `V` vectors of both output rows of [`rows2`] from column `ox`: input rows `0..sh` feed
/// only the first row's sums, `sh..kh` both (one load, two products), `kh..` only the
/// second's. Accumulators: `2 · V` registers (10 at most, with the input and two weights).
///
/// # Safety
/// AVX2 and FMA present; each `rows[j]` readable for `ox + 8V + K - 1` floats, `kern` for
/// `(rows.len() - sh) · K`; `o0` and `o1` writable for `ox + 8V` floats and not aliased.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[inline]
#[allow(clippy::needless_range_loop)] // fixed-size register blocks, indexed on purpose
unsafe fn block2<const K: usize, const V: usize>(
    o0: *mut f32,
    o1: *mut f32,
    rows: &[*const f32],
    kern: *const f32,
    bias: f32,
    sh: usize,
    ox: usize,
) {
    use std::arch::x86_64::*;
    let kh = rows.len() - sh;
    let b = _mm256_set1_ps(bias);
    let mut a0 = [b; V];
    let mut a1 = [b; V];
    // SAFETY (every raw access below): in bounds by the contract.
    unsafe {
        for j in 0..rows.len() {
            let r = rows[j].add(ox);
            for kx in 0..K {
                let x = |v: usize| _mm256_loadu_ps(r.add(kx + v * LANES));
                if j < sh {
                    let w = _mm256_set1_ps(*kern.add(j * K + kx));
                    for v in 0..V {
                        a0[v] = _mm256_add_ps(a0[v], _mm256_mul_ps(w, x(v)));
                    }
                } else if j < kh {
                    let w0 = _mm256_set1_ps(*kern.add(j * K + kx));
                    let w1 = _mm256_set1_ps(*kern.add((j - sh) * K + kx));
                    for v in 0..V {
                        let xv = x(v);
                        a0[v] = _mm256_add_ps(a0[v], _mm256_mul_ps(w0, xv));
                        a1[v] = _mm256_add_ps(a1[v], _mm256_mul_ps(w1, xv));
                    }
                } else {
                    let w = _mm256_set1_ps(*kern.add((j - sh) * K + kx));
                    for v in 0..V {
                        a1[v] = _mm256_add_ps(a1[v], _mm256_mul_ps(w, x(v)));
                    }
                }
            }
        }
        for v in 0..V {
            _mm256_storeu_ps(o0.add(ox + v * LANES), a0[v]);
            _mm256_storeu_ps(o1.add(ox + v * LANES), a1[v]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The bias, then a multiply and an add per tap, kernel rows then columns in order.
    fn reference(rows: &[Vec<f32>], kern: &[f32], k: usize, bias: f32, n: usize) -> Vec<f32> {
        (0..n)
            .map(|x| {
                let mut a = bias;
                for (row, wk) in rows.iter().zip(kern.chunks_exact(k)) {
                    for (kx, &w) in wk.iter().enumerate() {
                        a += w * row[x + kx];
                    }
                }
                a
            })
            .collect()
    }

    fn case<const K: usize>(rnd: &mut impl FnMut(usize) -> usize, n: usize, kh: usize, sh: usize) {
        let val = |i: usize, m: usize| ((i * 7919 + m * 104_729) % 2003) as f32 / 1001.0 - 1.0;
        let rows: Vec<Vec<f32>> = (0..kh + sh)
            .map(|j| (0..n + K - 1).map(|i| val(i + 1000 * j, 3)).collect())
            .collect();
        let kern: Vec<f32> = (0..kh * K).map(|i| val(i, 5 + rnd(50))).collect();
        let bias = val(rnd(100), 11);
        let refs: Vec<&[f32]> = rows.iter().map(Vec::as_slice).collect();
        let (mut out0, mut out1) = (vec![f32::NAN; n], vec![f32::NAN; n]);
        rows2::<K>(&mut out0, &mut out1, &refs, &kern, bias, sh);
        let want0 = reference(&rows[..kh], &kern, K, bias, n);
        let want1 = reference(&rows[sh..], &kern, K, bias, n);
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        let case = (K, n, kh, sh);
        assert_eq!(bits(&out0), bits(&want0), "first row {case:?}");
        assert_eq!(bits(&out1), bits(&want1), "second row {case:?}");
    }

    /// Every block width, tails and row lengths (multiples of 40 or not, 8 to 130
    /// pixels), kernel widths 3, 5 and 7, 2 to 8 kernel rows, strides 1 and 2: both rows
    /// bit for bit the ordered sum. (Skipped where the CPU has no AVX2.)
    #[test]
    fn pairs_have_the_bits_of_the_ordered_sum() {
        if !fits(LANES) {
            return;
        }
        let mut rnd = super::super::xorshift(0x2545_f491_4f6c_dd1d);
        let mut ran = 0;
        for n in (8..=130).chain([160, 200, 240]) {
            let kh = 2 + rnd(7);
            let sh = 1 + rnd(2).min(kh - 2);
            match n % 3 {
                0 => case::<3>(&mut rnd, n, kh, sh),
                1 => case::<5>(&mut rnd, n, kh, sh),
                _ => case::<7>(&mut rnd, n, kh, sh),
            }
            ran += 1;
        }
        assert_eq!(ran, 126);
    }

    /// Outputs narrower than a vector are not taken; a short row is refused, not read past.
    #[test]
    fn narrow_rows_are_not_taken_and_short_rows_are_refused() {
        assert!(!fits(LANES - 1));
        if !fits(LANES) {
            return;
        }
        let row = vec![0.0; LANES + 1]; // K = 3 needs LANES + 2
        let rows = [row.as_slice(), row.as_slice(), row.as_slice()];
        let (mut a, mut b) = (vec![0.0; LANES], vec![0.0; LANES]);
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            rows2::<3>(&mut a, &mut b, &rows, &[0.0; 6], 0.0, 1)
        }));
        assert!(r.is_err());
    }
}
