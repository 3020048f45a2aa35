//! Machine limits for a roofline: fp32 FMA peak and memory bandwidth, measured with our
//! own kernels (used by `examples/roofline.rs`; nothing in the engine depends on it).
//!
//! The peak kernel keeps `ACC` independent vector accumulators in registers and updates
//! each with one fused multiply-add per step (`a = a·m + c`), so the loop is bound by the
//! FMA units' throughput, not by their latency or by memory. With `m` just below 1 the
//! values converge to `c / (1 − m)` and never reach denormals or infinities.

use std::time::Instant;

/// Independent accumulators per thread (≥ FMA latency × FMA ports on current x86 cores:
/// 4 cycles × 2 ports needs 8).
pub const ACC: usize = 12;
const M: f32 = 0.999_9;
const C: f32 = 1e-4;

/// Which kernel measured a peak.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Isa {
    /// 512-bit FMA (AVX-512F).
    Avx512,
    /// 256-bit FMA (AVX2 + FMA): the width of the engine's current kernels.
    Avx2Fma,
    /// Plain Rust `a * m + c` (whatever the compiler makes of it for the baseline target).
    Portable,
}

impl Isa {
    /// f32 lanes per vector of this kernel.
    pub fn lanes(self) -> usize {
        match self {
            Isa::Avx512 => 16,
            Isa::Avx2Fma | Isa::Portable => 8,
        }
    }

    /// Whether the running CPU can execute this kernel.
    pub fn available(self) -> bool {
        #[cfg(target_arch = "x86_64")]
        {
            match self {
                Isa::Avx512 => std::arch::is_x86_feature_detected!("avx512f"),
                Isa::Avx2Fma => {
                    std::arch::is_x86_feature_detected!("avx2")
                        && std::arch::is_x86_feature_detected!("fma")
                }
                Isa::Portable => true,
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            self == Isa::Portable
        }
    }
}

/// Runs `iters` steps of the peak loop (`ACC` accumulators × `isa.lanes()` lanes, 2 flops
/// per lane and step) and returns the accumulators' sum, so the work cannot be optimized
/// away. Falls back to the portable loop when `isa` is not available.
pub fn fma_loop(isa: Isa, iters: u64) -> f32 {
    #[cfg(target_arch = "x86_64")]
    {
        if isa == Isa::Avx512 && isa.available() {
            // SAFETY: AVX-512F availability checked at run time just above.
            return unsafe {
                x86::fma_avx512(iters, std::hint::black_box(M), std::hint::black_box(C))
            };
        }
        if isa == Isa::Avx2Fma && isa.available() {
            // SAFETY: AVX2 and FMA availability checked at run time just above.
            return unsafe {
                x86::fma_avx2(iters, std::hint::black_box(M), std::hint::black_box(C))
            };
        }
    }
    match isa.lanes() {
        16 => portable::<16>(iters, std::hint::black_box(M), std::hint::black_box(C)),
        _ => portable::<8>(iters, std::hint::black_box(M), std::hint::black_box(C)),
    }
}

/// Starting value of accumulator `i`, lane `l`: all different and away from the fixed
/// point, so the compiler cannot fold the loop.
fn start(i: usize, l: usize) -> f32 {
    0.25 + (i * 16 + l) as f32 / 512.0
}

/// Safe fallback: the same recurrence on plain arrays (the compiler vectorizes it for the
/// baseline target, with a separate multiply and add).
fn portable<const L: usize>(iters: u64, m: f32, c: f32) -> f32 {
    let mut acc: [[f32; L]; ACC] = std::array::from_fn(|i| std::array::from_fn(|l| start(i, l)));
    for _ in 0..iters {
        for a in acc.iter_mut() {
            for v in a.iter_mut() {
                *v = *v * m + c;
            }
        }
    }
    acc.iter().flatten().sum()
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{start, ACC};
    use std::arch::x86_64::*;

    /// `ACC` ymm accumulators, one `vfmadd` each per step.
    ///
    /// # Safety
    /// The CPU must support AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn fma_avx2(iters: u64, m: f32, c: f32) -> f32 {
        let m = _mm256_set1_ps(m);
        let c = _mm256_set1_ps(c);
        let init: [[f32; 8]; ACC] = std::array::from_fn(|i| std::array::from_fn(|l| start(i, l)));
        // SAFETY: each row holds exactly 8 floats; unaligned load.
        let mut a: [__m256; ACC] =
            std::array::from_fn(|i| unsafe { _mm256_loadu_ps(init[i].as_ptr()) });
        for _ in 0..iters {
            for v in a.iter_mut() {
                *v = _mm256_fmadd_ps(*v, m, c);
            }
        }
        let mut s = _mm256_setzero_ps();
        for v in a {
            s = _mm256_add_ps(s, v);
        }
        let mut out = [0f32; 8];
        // SAFETY: `out` holds exactly 8 floats; unaligned store.
        unsafe { _mm256_storeu_ps(out.as_mut_ptr(), s) };
        out.iter().sum()
    }

    /// `ACC` zmm accumulators, one `vfmadd` each per step.
    ///
    /// # Safety
    /// The CPU must support AVX-512F.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn fma_avx512(iters: u64, m: f32, c: f32) -> f32 {
        let m = _mm512_set1_ps(m);
        let c = _mm512_set1_ps(c);
        let init: [[f32; 16]; ACC] = std::array::from_fn(|i| std::array::from_fn(|l| start(i, l)));
        // SAFETY: each row holds exactly 16 floats; unaligned load.
        let mut a: [__m512; ACC] =
            std::array::from_fn(|i| unsafe { _mm512_loadu_ps(init[i].as_ptr()) });
        for _ in 0..iters {
            for v in a.iter_mut() {
                *v = _mm512_fmadd_ps(*v, m, c);
            }
        }
        let mut s = _mm512_setzero_ps();
        for v in a {
            s = _mm512_add_ps(s, v);
        }
        _mm512_reduce_add_ps(s)
    }
}

/// Runs `f(thread index)` on `threads` OS threads started together; returns the wall time
/// from the common start to the last thread's end, in seconds.
fn timed_threads(threads: usize, f: impl Fn(usize) + Sync) -> f64 {
    let barrier = std::sync::Barrier::new(threads + 1);
    std::thread::scope(|s| {
        for t in 0..threads {
            let (f, barrier) = (&f, &barrier);
            s.spawn(move || {
                barrier.wait();
                f(t);
            });
        }
        barrier.wait();
        let t0 = Instant::now();
        // The scope joins every thread before returning.
        t0
    })
    .elapsed()
    .as_secs_f64()
}

/// Measured fp32 peak in GFLOP/s with `threads` threads: the best of `reps` runs of
/// `iters` loop steps per thread.
pub fn peak_gflops(isa: Isa, threads: usize, iters: u64, reps: usize) -> f64 {
    let flops = (2 * ACC * isa.lanes()) as f64 * iters as f64 * threads as f64;
    (0..reps.max(1))
        .map(|_| {
            let secs = timed_threads(threads, |_| {
                std::hint::black_box(fma_loop(isa, std::hint::black_box(iters)));
            });
            flops / secs / 1e9
        })
        .fold(0.0, f64::max)
}

/// Memory bandwidth in GB/s of the STREAM triad `a[i] = b[i] + s·c[i]` over three arrays
/// of `n` floats split across `threads` threads; best of `reps`. Counts 12 bytes per
/// element (two reads, one write; write-allocate traffic not counted, as in STREAM).
pub fn triad_gbs(n: usize, threads: usize, reps: usize) -> f64 {
    let threads = threads.max(1);
    let mut a = vec![0f32; n];
    let b: Vec<f32> = (0..n).map(|i| (i % 17) as f32).collect();
    let c: Vec<f32> = (0..n).map(|i| (i % 13) as f32).collect();
    let chunk = n.div_ceil(threads).max(1);
    let mut best = 0f64;
    for _ in 0..reps.max(1) {
        let t0 = Instant::now();
        std::thread::scope(|s| {
            for ((a, b), c) in a
                .chunks_mut(chunk)
                .zip(b.chunks(chunk))
                .zip(c.chunks(chunk))
            {
                s.spawn(move || triad(a, b, c, 3.0));
            }
        });
        let secs = t0.elapsed().as_secs_f64();
        best = best.max(12.0 * n as f64 / secs / 1e9);
        std::hint::black_box(&mut a);
    }
    best
}

/// The engine's GEMM micro-kernel (one A panel against B panels streamed in turn) with
/// `b_bytes` of B per thread, on `threads` threads started together, each on its own data
/// for about `secs` seconds: GFLOP/s of each thread. B of 16 KiB stays in L1; 384 KiB in
/// L2; a few MiB in L3; more comes from DRAM. Run alone and on two threads at once it
/// shows what the cores share (on a Zen 1 VM: nothing up to L2, a third of the speed
/// past it).
pub fn kernel_stream_gflops(b_bytes: usize, threads: usize, secs: f64) -> Vec<f64> {
    // The engine's own k-block depth, so that each call is one of its kernel calls.
    use crate::packed::KC;
    let threads = threads.max(1);
    let rates = std::sync::Mutex::new(vec![0f64; threads]);
    timed_threads(threads, |t| {
        let a: Vec<f32> = (0..KC * crate::packed::MR).map(|i| start(i, t)).collect();
        let panel = KC * crate::packed::NR;
        let b: Vec<f32> = (0..(b_bytes / 4).max(panel))
            .map(|i| start(i % ACC, i % 16) * M)
            .collect();
        let mut c = vec![0f32; b.len() / panel * crate::packed::MR * crate::packed::NR];
        let t0 = Instant::now();
        let mut flops = 0usize;
        while t0.elapsed().as_secs_f64() < secs || flops == 0 {
            flops += crate::packed::kernel_over_b(KC, &a, &b, &mut c);
        }
        std::hint::black_box(&c);
        let rate = flops as f64 / t0.elapsed().as_secs_f64() / 1e9;
        rates.lock().unwrap_or_else(|e| e.into_inner())[t] = rate;
    });
    rates.into_inner().unwrap_or_else(|e| e.into_inner())
}

crate::simd::multiversion! {
    fn triad(a: &mut [f32], b: &[f32], c: &[f32], s: f32) {
        for ((a, b), c) in a.iter_mut().zip(b).zip(c) {
            *a = b + s * c;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The recurrence with a fused multiply-add per lane, as the SIMD kernels compute it.
    fn reference_fused(iters: u64, lanes: usize) -> f32 {
        let mut acc: Vec<f32> = (0..ACC)
            .flat_map(|i| (0..lanes).map(move |l| start(i, l)))
            .collect();
        for _ in 0..iters {
            for v in acc.iter_mut() {
                *v = v.mul_add(M, C);
            }
        }
        acc.iter().sum()
    }

    #[test]
    fn simd_kernels_match_the_fallback() {
        for isa in [Isa::Avx512, Isa::Avx2Fma] {
            if !isa.available() {
                continue;
            }
            for iters in [0, 1, 7, 1000] {
                // Fused (single rounding) vs the reference's mul_add: same bits per lane;
                // the final sums differ only by summation order.
                let got = fma_loop(isa, iters);
                let want = reference_fused(iters, isa.lanes());
                assert!((got - want).abs() <= 1e-5 * want.abs(), "{isa:?} {iters}");
                // And within rounding of the unfused portable fallback.
                let fallback = match isa.lanes() {
                    16 => portable::<16>(iters, M, C),
                    _ => portable::<8>(iters, M, C),
                };
                assert!(
                    (got - fallback).abs() <= 1e-4 * want.abs(),
                    "{isa:?} {iters}"
                );
            }
        }
        let at_start: f32 = (0..ACC)
            .flat_map(|i| (0..8).map(move |l| start(i, l)))
            .sum();
        assert_eq!(fma_loop(Isa::Portable, 0), at_start);
    }

    #[test]
    fn measurements_are_positive() {
        assert!(peak_gflops(Isa::Portable, 2, 1000, 1) > 0.0);
        assert!(peak_gflops(Isa::Avx2Fma, 1, 1000, 1) > 0.0);
        assert!(triad_gbs(10_000, 2, 1) > 0.0);
        let rates = kernel_stream_gflops(64 << 10, 2, 0.001);
        assert!(
            rates.len() == 2 && rates.iter().all(|&r| r > 0.0),
            "{rates:?}"
        );
    }
}
