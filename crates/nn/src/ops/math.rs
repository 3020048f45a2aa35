//! Scalar math used by the elementwise kernels: a branch-free `exp` that
//! auto-vectorizes (std's `expf` is a libm call and does not), `erf`, and friends.

/// `e^x` with ~1 ulp error (Cephes polynomial), branch-free so loops over it vectorize.
#[inline(always)]
pub(crate) fn exp(x: f32) -> f32 {
    // Keep 2^n representable as a normal float (NaN stays NaN).
    exp_reduced(x.clamp(-87.0, 88.0))
}

/// [`exp`] for arguments that cannot exceed 0 (softmax's `x - max`): only the lower
/// clamp, one operation fewer per element. NaN stays NaN.
#[inline(always)]
pub(crate) fn exp_nonpos(x: f32) -> f32 {
    #[allow(clippy::manual_clamp)] // one bound; NaN must pass through as it does in clamp
    let x = if x < -87.0 { -87.0 } else { x };
    exp_reduced(x)
}

/// `e^x` for `x` in [-87, 88]. The range reduction and the polynomial are fused
/// multiply-adds (one rounding on every ISA; instructions where the build has FMA): 17
/// vector operations per element, against 21 with the reduction unfused, and softmax is
/// bound by their count (a 40 × 18710 softmax 0.92 of before with `exp_nonpos`).
#[inline(always)]
fn exp_reduced(x: f32) -> f32 {
    let t = x.mul_add(std::f32::consts::LOG2_E, EXP_MAGIC);
    let n = t - EXP_MAGIC;
    // x - n·ln 2, with ln 2 split in two so that the first product is exact.
    let r = n.mul_add(EXP_LN2[0], x);
    let r = n.mul_add(EXP_LN2[1], r);
    let mut p = EXP_POLY[0];
    for c in &EXP_POLY[1..] {
        p = p.mul_add(r, *c);
    }
    let p = (p * r).mul_add(r, r) + 1.0;
    // n is in [-126, 127], and t = 1.5·2^23 + n holds it in its low bits: shifted into the
    // exponent field and biased by 127 they give 2^n (MAGIC's own bits shift out, so they
    // fold into the one constant).
    p * f32::from_bits((t.to_bits() << 23).wrapping_add(EXP_BIAS))
}

/// [`exp_reduced`]'s constants, shared with the AVX2 softmax step that computes the same
/// operations four vectors at a time (`reduce::exp_sum_32_avx2`). Round-to-nearest via the
/// 1.5·2^23 trick: SSE2-friendly, no libm `round`.
pub(crate) const EXP_MAGIC: f32 = 12_582_912.0;
/// −ln 2 as a high part (exact products with n) and a low part.
pub(crate) const EXP_LN2: [f32; 2] = [-0.693_359_4, 2.121_944_4e-4];
/// The polynomial in r, highest coefficient first (Horner).
pub(crate) const EXP_POLY: [f32; 6] = [
    1.987_569_1e-4,
    1.398_199_9e-3,
    8.333_452e-3,
    4.166_579_6e-2,
    1.666_666_5e-1,
    0.5,
];
/// Added to `t`'s bits shifted into the exponent field: 2^n's bias, less MAGIC's own bits.
pub(crate) const EXP_BIAS: u32 = 127u32.wrapping_sub(EXP_MAGIC.to_bits()) << 23;

#[inline(always)]
pub(crate) fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + exp(-x))
}

/// Error function as a rational minimax approximation on [-4, 4] (the form used by
/// Eigen/XLA): max |error| 4.5e-7 over the line, good relative accuracy near 0, no `exp`,
/// branch-free, so GELU loops vectorize. Both polynomials (in `x²`) are evaluated by
/// Estrin's scheme with fused multiply-adds: a dependency chain of 3 FMAs instead of 7
/// multiplies and 7 adds (Horner's, unfused), which lets the GELU loop overlap iterations.
/// `mul_add` rounds once on every ISA, so the bits are the same everywhere; it is an
/// instruction in the AVX2+FMA and AVX-512 builds (`multiversion!`), a libm call (slow,
/// like the portable GEMM kernel) only on CPUs without FMA.
#[inline(always)]
pub(crate) fn erf(x: f32) -> f32 {
    let x = x.clamp(-4.0, 4.0);
    let y = x * x;
    let y2 = y * y;
    let y4 = y2 * y2;
    let p01 = (-2.954_600_1e-3f32).mul_add(y, -1.609_603_3e-2);
    let p23 = (-5.692_506_5e-5f32).mul_add(y, -7.349_906_3e-4);
    let p45 = 2.770_681_4e-8f32.mul_add(y, -2.101_024e-6);
    let p46 = (-2.726_142_3e-10f32).mul_add(y2, p45);
    let p = y4.mul_add(p46, y2.mul_add(p23, p01));
    let q01 = (-7.373_329e-3f32).mul_add(y, -1.426_474e-2);
    let q23 = (-2.133_740_6e-4f32).mul_add(y, -1.682_827e-3);
    let q = y4.mul_add(-1.456_607_2e-5, y2.mul_add(q23, q01));
    x * p / q
}

/// `x · Φ(x)` (exact GELU): `½x + ½x · erf(x/√2)`, the last step one fused multiply-add.
#[inline(always)]
pub(crate) fn gelu(x: f32) -> f32 {
    let h = 0.5 * x;
    h.mul_add(erf(x * std::f32::consts::FRAC_1_SQRT_2), h)
}

/// `a^b` with fast paths for the exponents networks actually use.
#[inline]
pub(crate) fn pow(a: f32, b: f32) -> f32 {
    if b == 2.0 {
        a * a
    } else if b == 0.5 {
        a.sqrt()
    } else if b == 1.0 {
        a
    } else {
        a.powf(b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_is_accurate() {
        let mut x = -80.0f32;
        while x < 80.0 {
            let (got, want) = (exp(x), (x as f64).exp());
            assert!(
                ((got as f64 - want) / want).abs() < 3e-7,
                "exp({x}) = {got}, want {want}"
            );
            x += 0.0137;
        }
        assert_eq!(exp(-1000.0), exp(-87.0));
        assert!(exp(1000.0).is_finite());
        assert!(exp(f32::NAN).is_nan());
    }

    /// The softmax form: the same bits as `exp` wherever both apply (x ≤ 0), the same
    /// lower clamp, and NaN kept (a softmax row holding +∞ gives NaN, not zeros).
    #[test]
    fn exp_nonpos_is_exp_below_zero() {
        let mut x = -100.0f32;
        while x <= 0.0 {
            assert_eq!(exp_nonpos(x).to_bits(), exp(x).to_bits(), "x = {x}");
            x += 0.0071;
        }
        assert_eq!(exp_nonpos(0.0), 1.0);
        assert_eq!(exp_nonpos(f32::NEG_INFINITY), exp(-87.0));
        assert!(exp_nonpos(f32::NAN).is_nan());
    }

    #[test]
    fn erf_is_accurate() {
        // Reference values of erf (from a high-precision table).
        for (x, want) in [
            (0.0f32, 0.0f64),
            (0.1, 0.112_462_916_018_284_9),
            (0.5, 0.520_499_877_813_046_5),
            (1.0, 0.842_700_792_949_714_9),
            (2.0, 0.995_322_265_018_952_7),
            (-1.5, -0.966_105_146_475_310_7),
            (4.0, 0.999_999_984_582_742_1),
        ] {
            assert!((erf(x) as f64 - want).abs() < 5e-7, "erf({x}) = {}", erf(x));
        }
    }

    #[test]
    fn relu_and_clip_keep_their_edge_cases() {
        use crate::ops::elementwise::{apply_chain, Step};
        // Longer than a vector block, with the edge values between ordinary ones.
        let mut src: Vec<f32> = (0..100).map(|i| (i as f32 - 50.0) * 0.37).collect();
        src.extend([
            f32::NAN,
            -0.0,
            0.0,
            f32::INFINITY,
            f32::NEG_INFINITY,
            1e-45,
            -1e-45,
        ]);
        let mut got = src.clone();
        apply_chain(&[Step::Relu], &mut got);
        for (g, x) in got.iter().zip(&src) {
            let want = if *x > 0.0 { *x } else { 0.0 };
            assert_eq!(g.to_bits(), want.to_bits(), "relu({x}) = {g}, want {want}");
        }
        // Clip keeps NaN and clamps everything else, infinities included.
        let mut got = src.clone();
        apply_chain(&[Step::Clip(-1.5, 6.0)], &mut got);
        for (g, x) in got.iter().zip(&src) {
            let want = if x.is_nan() {
                f32::NAN
            } else {
                x.clamp(-1.5, 6.0)
            };
            assert_eq!(g.to_bits(), want.to_bits(), "clip({x}) = {g}, want {want}");
        }
    }

    #[test]
    fn dispatched_chains_match_scalar() {
        use crate::ops::elementwise::{apply_chain, Step};
        let src: Vec<f32> = (0..3000).map(|i| (i as f32 - 1500.0) * 0.01).collect();
        for (step, f) in [
            (Step::Sigmoid, sigmoid as fn(f32) -> f32),
            (Step::Gelu, gelu),
            (Step::Erf, erf),
        ] {
            let mut s = src.clone();
            apply_chain(std::slice::from_ref(&step), &mut s);
            for (x, y) in s.iter().zip(&src) {
                assert!(
                    (x - f(*y)).abs() <= 1e-6,
                    "{step:?}({y}) = {x}, want {}",
                    f(*y)
                );
            }
        }
    }
}
