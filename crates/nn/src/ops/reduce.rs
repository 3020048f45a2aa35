//! Normalizations and reductions: ReduceMean, Softmax, LayerNorm (fused), BatchNorm.

use super::math;
use super::shape::norm_axis;
use super::Input;
use crate::exec::BufPool;
use crate::simd::multiversion;
use crate::tensor::{data, data_mut, f32_array, Tensor};
use ndarray::{ArrayD, Axis};
use rayon::prelude::*;

/// Runs `f(row_index, row)` over the rows of `buf`, in parallel when it is large.
fn rows_mut(buf: &mut [f32], row: usize, f: impl Fn(usize, &mut [f32]) + Sync + Send) {
    if row == 0 {
        return;
    }
    if rayon::current_num_threads() > 1 && buf.len() >= 1 << 15 {
        buf.par_chunks_mut(row)
            .enumerate()
            .with_min_len((4096 / row).max(1))
            .for_each(|(i, r)| f(i, r));
    } else {
        buf.chunks_mut(row).enumerate().for_each(|(i, r)| f(i, r));
    }
}

pub(crate) fn reduce_mean(
    x: &ArrayD<f32>,
    axes: Option<&[i64]>,
    keepdims: bool,
) -> Result<Tensor, String> {
    let s = x.shape().to_vec();
    let r = s.len();
    let mut red: Vec<usize> = match axes {
        Some(a) if !a.is_empty() => a
            .iter()
            .map(|&a| norm_axis(a, r))
            .collect::<Result<_, _>>()?,
        _ => (0..r).collect(),
    };
    red.sort_unstable();
    red.dedup();
    let out_shape: Vec<usize> = (0..r)
        .filter_map(|i| {
            if red.contains(&i) {
                keepdims.then_some(1)
            } else {
                Some(s[i])
            }
        })
        .collect();
    // Fast path: a contiguous block of axes [a, b) reduced.
    let contiguous = red.windows(2).all(|w| w[1] == w[0] + 1);
    if contiguous && !red.is_empty() {
        let (a, b) = (red[0], red[red.len() - 1] + 1);
        let outer: usize = s[..a].iter().product();
        let mid: usize = s[a..b].iter().product();
        let inner: usize = s[b..].iter().product();
        let src = data(x);
        let mut out = vec![0f32; outer * inner];
        let inv = 1.0 / mid.max(1) as f32;
        if inner == 1 {
            for (o, v) in out.iter_mut().enumerate() {
                *v = (sum_f64(&src[o * mid..(o + 1) * mid]) / mid.max(1) as f64) as f32;
            }
        } else {
            for o in 0..outer {
                let dst = &mut out[o * inner..(o + 1) * inner];
                for m in 0..mid {
                    let row = &src[(o * mid + m) * inner..][..inner];
                    dst.iter_mut().zip(row).for_each(|(d, &v)| *d += v);
                }
                dst.iter_mut().for_each(|d| *d *= inv);
            }
        }
        return Ok(Tensor::F32(f32_array(&out_shape, out)));
    }
    let mut a = x.clone();
    for &ax in red.iter().rev() {
        a = a.mean_axis(Axis(ax)).ok_or("mean over an empty axis")?;
        if keepdims {
            a.insert_axis_inplace(Axis(ax));
        }
    }
    let a = a.as_standard_layout().into_owned();
    Ok(Tensor::F32(
        a.into_shape_with_order(out_shape)
            .map_err(|e| e.to_string())?,
    ))
}

/// Softmax. `legacy` (opset < 13) flattens `[..axis]` × `[axis..]` and normalizes each
/// row; opset 13+ normalizes along `axis` only.
pub(crate) fn softmax(
    x: Input<'_>,
    axis: i64,
    legacy: bool,
    alloc: &mut BufPool,
) -> Result<Tensor, String> {
    let s = x.get().as_f32()?.shape().to_vec();
    let ax = norm_axis(axis, s.len())?;
    // Work in place on a last-use input; otherwise on a recycled copy.
    let mut arr = if x.is_owned() {
        x.into_f32()?
    } else {
        let src = x.get().as_f32()?;
        let mut buf = alloc.take(src.len());
        buf.copy_from_slice(data(src));
        f32_array(&s, buf)
    };
    let buf = data_mut(&mut arr);
    let inner: usize = s[ax + 1..].iter().product();
    if legacy || inner == 1 {
        let row: usize = if legacy {
            s[ax..].iter().product()
        } else {
            s[ax]
        };
        rows_mut(buf, row, |_, r| softmax_row(r));
    } else {
        // Along a middle axis: gather, normalize, scatter.
        let n = s[ax];
        let outer: usize = s[..ax].iter().product();
        let mut tmp = vec![0f32; n];
        for o in 0..outer {
            for i in 0..inner {
                for k in 0..n {
                    tmp[k] = buf[(o * n + k) * inner + i];
                }
                softmax_row(&mut tmp);
                for k in 0..n {
                    buf[(o * n + k) * inner + i] = tmp[k];
                }
            }
        }
    }
    Ok(Tensor::F32(arr))
}

multiversion! {
    fn softmax_row(r: &mut [f32]) {
        // Thirty-two running maxima (four vectors) so the reduction vectorizes and four
        // independent max chains hide its latency (with one vector the max pass took an
        // eighth of the row's time). A maximum is the same in any order.
        let mut m32 = [f32::NEG_INFINITY; 32];
        let mut chunks = r.chunks_exact(32);
        for c in &mut chunks {
            for i in 0..32 {
                m32[i] = if c[i] > m32[i] { c[i] } else { m32[i] };
            }
        }
        let max = chunks.remainder().iter().chain(m32.iter()).fold(f32::NEG_INFINITY, |m, &v| if v > m { v } else { m });
        // exp and its sum in one pass. Blocked sum: f32 lanes within 64-element blocks,
        // f64 across blocks. Rec heads normalize over ~20k classes, where one f32 running
        // sum alone costs ~1e-4 absolute error on the top probability.
        let mut total = 0f64;
        for block in r.chunks_mut(64) {
            let mut s8 = [0f32; 8];
            // Four vectors' exps per step, as independent chains: one at a time, each
            // step waited on its polynomial's latency. The sums keep their order.
            let mut it4 = block.chunks_exact_mut(32);
            for c in &mut it4 {
                #[cfg(target_arch = "x86_64")]
                if crate::simd::has_avx2_fma() {
                    // SAFETY: AVX2 and FMA checked at run time.
                    unsafe { exp_sum_32_avx2(c.try_into().expect("32 values"), max, &mut s8) };
                    continue;
                }
                for v in c.iter_mut() {
                    *v = math::exp_nonpos(*v - max);
                }
                for j in 0..4 {
                    for i in 0..8 {
                        s8[i] += c[j * 8 + i];
                    }
                }
            }
            let mut it = it4.into_remainder().chunks_exact_mut(8);
            for c in &mut it {
                for i in 0..8 {
                    let e = math::exp_nonpos(c[i] - max);
                    c[i] = e;
                    s8[i] += e;
                }
            }
            let mut tail = 0f32;
            for v in it.into_remainder() {
                *v = math::exp_nonpos(*v - max);
                tail += *v;
            }
            total += (s8.iter().sum::<f32>() + tail) as f64;
        }
        let inv = (1.0 / total) as f32;
        r.iter_mut().for_each(|v| *v *= inv);
    }
}

/// One 32-value step of [`softmax_row`]'s exp pass with AVX2: `c[i] = exp_nonpos(c[i] - max)`
/// and `s8[l] += c[8j + l]` for j = 0..4 in order, the same operations as the scalar form
/// (so the same bits), written for the four vectors step by step. The compiler's loop
/// over the scalar form ran one vector's ~17 dependent operations after another's; a
/// Zen 1 core's FP scheduler sees only ~18 operations ahead, so the loop waited on their
/// latency (~4 cycles an element for a 40 × 18710 softmax).
///
/// # Safety
/// The CPU must support AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::needless_range_loop)] // four vectors, indexed in step on purpose
unsafe fn exp_sum_32_avx2(c: &mut [f32; 32], max: f32, s8: &mut [f32; 8]) {
    use math::{EXP_BIAS, EXP_LN2, EXP_MAGIC, EXP_POLY};
    use std::arch::x86_64::*;
    let p = c.as_mut_ptr();
    // SAFETY: four 8-float loads and stores inside `c`, eight inside `s8`.
    unsafe {
        let m = _mm256_set1_ps(max);
        let lo = _mm256_set1_ps(-87.0);
        let magic = _mm256_set1_ps(EXP_MAGIC);
        let mut x = [_mm256_setzero_ps(); 4];
        let mut t = x;
        let mut r = x;
        let mut q = x;
        for j in 0..4 {
            // `if x < -87 { -87 } else { x }`: maxps returns its second operand (x) when
            // the comparison fails, so NaN passes as in the scalar form.
            x[j] = _mm256_max_ps(lo, _mm256_sub_ps(_mm256_loadu_ps(p.add(8 * j)), m));
        }
        for j in 0..4 {
            t[j] = _mm256_fmadd_ps(x[j], _mm256_set1_ps(std::f32::consts::LOG2_E), magic);
        }
        for j in 0..4 {
            let n = _mm256_sub_ps(t[j], magic);
            r[j] = _mm256_fmadd_ps(n, _mm256_set1_ps(EXP_LN2[0]), x[j]);
            r[j] = _mm256_fmadd_ps(n, _mm256_set1_ps(EXP_LN2[1]), r[j]);
        }
        for j in 0..4 {
            q[j] = _mm256_fmadd_ps(
                _mm256_set1_ps(EXP_POLY[0]),
                r[j],
                _mm256_set1_ps(EXP_POLY[1]),
            );
        }
        for coef in &EXP_POLY[2..] {
            let k = _mm256_set1_ps(*coef);
            for j in 0..4 {
                q[j] = _mm256_fmadd_ps(q[j], r[j], k);
            }
        }
        let one = _mm256_set1_ps(1.0);
        let bias = _mm256_set1_epi32(EXP_BIAS as i32);
        let mut sum = _mm256_loadu_ps(s8.as_ptr());
        for j in 0..4 {
            let poly = _mm256_add_ps(_mm256_fmadd_ps(_mm256_mul_ps(q[j], r[j]), r[j], r[j]), one);
            let pow2 = _mm256_add_epi32(_mm256_slli_epi32::<23>(_mm256_castps_si256(t[j])), bias);
            let e = _mm256_mul_ps(poly, _mm256_castsi256_ps(pow2));
            _mm256_storeu_ps(p.add(8 * j), e);
            sum = _mm256_add_ps(sum, e);
        }
        _mm256_storeu_ps(s8.as_mut_ptr(), sum);
    }
}

multiversion! {
    /// Sum with f64 accumulation (exact enough for any row length we meet). Sixteen
    /// independent accumulators (four AVX2 vectors of f64), so that the adds' latency does
    /// not set the pace (with four, one vector, the squeeze-excite means over cls's and the
    /// detectors' planes ran at one element per cycle).
    pub(crate) fn sum_f64(x: &[f32]) -> f64 {
        let mut acc = [0f64; 16];
        let mut chunks = x.chunks_exact(16);
        for c in &mut chunks {
            for i in 0..16 {
                acc[i] += c[i] as f64;
            }
        }
        let tail: f64 = chunks.remainder().iter().map(|&v| v as f64).sum();
        let mut half = [0f64; 8];
        for i in 0..8 {
            half[i] = acc[i] + acc[i + 8];
        }
        let q = [half[0] + half[4], half[1] + half[5], half[2] + half[6], half[3] + half[7]];
        (q[0] + q[1]) + (q[2] + q[3]) + tail
    }
}

/// LayerNorm over the last axis, fused from the exported
/// `ReduceMean/Sub/Pow/ReduceMean/Add/Sqrt/Div[/Mul][/Add]` pattern.
pub(crate) fn layer_norm(
    x: &ArrayD<f32>,
    gamma: Option<&[f32]>,
    beta: Option<&[f32]>,
    eps: f32,
    alloc: &mut BufPool,
) -> Result<Tensor, String> {
    let s = x.shape();
    let d = *s.last().ok_or("LayerNorm on a scalar")?;
    for p in [gamma, beta].into_iter().flatten() {
        if p.len() != d {
            return Err(format!(
                "LayerNorm parameter has {} elements, expected {d}",
                p.len()
            ));
        }
    }
    let mut buf = alloc.take(x.len());
    buf.copy_from_slice(data(x));
    rows_mut(&mut buf, d, |_, r| {
        let mean = (sum_f64(r) / d as f64) as f32;
        r.iter_mut().for_each(|v| *v -= mean);
        let var = (r.iter().map(|&v| (v as f64) * (v as f64)).sum::<f64>() / d as f64) as f32;
        let den = (var + eps).sqrt();
        r.iter_mut().for_each(|v| *v /= den);
        if let Some(g) = gamma {
            r.iter_mut().zip(g).for_each(|(v, g)| *v *= g);
        }
        if let Some(b) = beta {
            r.iter_mut().zip(b).for_each(|(v, b)| *v += b);
        }
    });
    Ok(Tensor::F32(f32_array(s, buf)))
}

/// Inference BatchNormalization over axis 1.
pub(crate) fn batch_norm(
    x: &ArrayD<f32>,
    params: [&ArrayD<f32>; 4],
    eps: f32,
    alloc: &mut BufPool,
) -> Result<Tensor, String> {
    let s = x.shape();
    if s.len() < 2 {
        return Err(format!("expected rank ≥ 2, got {s:?}"));
    }
    let c = s[1];
    if params.iter().any(|p| p.len() != c) {
        return Err(format!(
            "BatchNormalization parameters must have {c} elements"
        ));
    }
    let (scale, shift) = bn_affine(params, eps);
    let inner: usize = s[2..].iter().product();
    let mut buf = alloc.take(x.len());
    buf.copy_from_slice(data(x));
    rows_mut(&mut buf, inner.max(1), |i, r| {
        let ch = i % c;
        r.iter_mut().for_each(|v| *v = *v * scale[ch] + shift[ch]);
    });
    Ok(Tensor::F32(f32_array(s, buf)))
}

/// Per-channel `(scale, shift)` with `y = x * scale + shift` (also used for Conv folding).
pub(crate) fn bn_affine(params: [&ArrayD<f32>; 4], eps: f32) -> (Vec<f32>, Vec<f32>) {
    let [g, b, m, v] = params.map(data);
    let scale: Vec<f32> = g.iter().zip(v).map(|(g, v)| g / (v + eps).sqrt()).collect();
    let shift = b
        .iter()
        .zip(m)
        .zip(&scale)
        .map(|((b, m), s)| b - m * s)
        .collect();
    (scale, shift)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every length (the 16-lane body, its tail, both) against a plain f64 sum: equal within
    /// f64 rounding, and exact where every partial sum is an integer.
    #[test]
    fn sum_f64_matches_a_plain_sum_at_every_length() {
        for n in 0..100 {
            let x: Vec<f32> = (0..n).map(|i| ((i * 37) % 101) as f32 - 50.0).collect();
            let plain: f64 = x.iter().map(|&v| v as f64).sum();
            assert_eq!(sum_f64(&x), plain, "n = {n}");
            let y: Vec<f32> = (0..n).map(|i| 1.0 / (1 + i) as f32).collect();
            let plain: f64 = y.iter().map(|&v| v as f64).sum();
            assert!(
                (sum_f64(&y) - plain).abs() <= 1e-14 * plain.max(1.0),
                "n = {n}"
            );
        }
    }

    /// `softmax_row` at every length around its 32- and 64-element blocks (and a v6 head
    /// row) gives the bits of the plain order: each exp on its own, summed one lane of 8 at
    /// a time within 64-element blocks, the blocks in f64; and it is a softmax (f64
    /// reference within 1e-6).
    #[test]
    fn softmax_row_keeps_the_plain_summation_order() {
        let plain = |r: &mut [f32]| {
            let max = r
                .iter()
                .fold(f32::NEG_INFINITY, |m, &v| if v > m { v } else { m });
            let mut total = 0f64;
            for block in r.chunks_mut(64) {
                let mut s8 = [0f32; 8];
                let mut tail = 0f32;
                let whole = block.len() / 8 * 8;
                for (i, v) in block.iter_mut().enumerate() {
                    *v = math::exp_nonpos(*v - max);
                    if i < whole {
                        s8[i % 8] += *v;
                    } else {
                        tail += *v;
                    }
                }
                total += (s8.iter().sum::<f32>() + tail) as f64;
            }
            let inv = (1.0 / total) as f32;
            r.iter_mut().for_each(|v| *v *= inv);
        };
        for n in (1..=200).chain([18710]) {
            let x: Vec<f32> = (0..n)
                .map(|i| ((i * 7919) % 1000) as f32 / 50.0 - 10.0)
                .collect();
            let (mut got, mut want) = (x.clone(), x.clone());
            softmax_row(&mut got);
            plain(&mut want);
            assert!(
                got.iter()
                    .zip(&want)
                    .all(|(a, b)| a.to_bits() == b.to_bits()),
                "n = {n}"
            );
            let m = x.iter().fold(f64::NEG_INFINITY, |m, &v| m.max(v as f64));
            let z: f64 = x.iter().map(|&v| (v as f64 - m).exp()).sum();
            for (g, &v) in got.iter().zip(&x) {
                let e = (v as f64 - m).exp() / z;
                assert!((*g as f64 - e).abs() <= 1e-6 * e.max(1e-3), "n = {n}");
            }
        }
    }
}
