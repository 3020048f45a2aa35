//! Runtime CPU-feature dispatch for auto-vectorized kernels.
//!
//! The crate is compiled for the baseline target (SSE2 on x86-64). Hot loops are
//! written as plain, branch-free Rust and instantiated three times by [`multiversion!`]:
//! with `avx512f` enabled (LLVM emits 16-wide code), with `avx2,fma` (8-wide) and for the
//! baseline. The only `unsafe` is the call into the wider copies, guarded by runtime
//! detection. CI runs `wenzi-nn`'s tests once per path (`WENZI_NN_MAX_ISA`).

/// Widest instruction set the kernels may use: the CPU's, capped by the
/// `WENZI_NN_MAX_ISA` environment variable (`avx512`, `avx2` or `baseline`; read once),
/// which lets benchmarks and tests compare the paths on one machine.
/// 0 = baseline, 1 = AVX2+FMA, 2 = AVX-512F.
fn isa_level() -> u8 {
    static LEVEL: std::sync::OnceLock<u8> = std::sync::OnceLock::new();
    *LEVEL.get_or_init(|| {
        let cap = match std::env::var("WENZI_NN_MAX_ISA").as_deref() {
            Ok("baseline") => 0,
            Ok("avx2") => 1,
            _ => 2,
        };
        #[cfg(target_arch = "x86_64")]
        let cpu = if !(std::arch::is_x86_feature_detected!("avx2")
            && std::arch::is_x86_feature_detected!("fma"))
        {
            0
        } else if std::arch::is_x86_feature_detected!("avx512f") {
            2
        } else {
            1
        };
        #[cfg(not(target_arch = "x86_64"))]
        let cpu = 0;
        cpu.min(cap)
    })
}

/// True when the kernels may use AVX2 and FMA (the CPU has them and they are not capped
/// by `WENZI_NN_MAX_ISA`).
#[inline]
pub(crate) fn has_avx2_fma() -> bool {
    isa_level() >= 1
}

/// True when the kernels may use AVX-512F (which implies [`has_avx2_fma`]).
#[cfg(target_arch = "x86_64")]
#[inline]
pub(crate) fn has_avx512() -> bool {
    isa_level() >= 2
}

/// Defines `fn $name(args) -> ret` whose body is compiled for AVX-512F, for AVX2+FMA and
/// for the baseline target, picking one at run time. The body is plain Rust without
/// fast-math, so every copy performs the same IEEE operations in the same order (wider
/// vectors, same bits).
macro_rules! multiversion {
    ($(#[$m:meta])* $vis:vis fn $name:ident $(<$(const $g:ident : $gt:ty),+>)? ($($arg:ident : $ty:ty),* $(,)?) $(-> $ret:ty)? $body:block) => {
        $(#[$m])*
        $vis fn $name $(<$(const $g: $gt),+>)? ($($arg: $ty),*) $(-> $ret)? {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f,avx2,fma")]
                unsafe fn avx512 $(<$(const $g: $gt),+>)? ($($arg: $ty),*) $(-> $ret)? $body
                if $crate::simd::has_avx512() {
                    // SAFETY: AVX-512F (with AVX2 and FMA) availability was checked at run
                    // time just above; the body itself is safe Rust.
                    return unsafe { avx512 $(::<$($g),+>)? ($($arg),*) };
                }
                #[target_feature(enable = "avx2,fma")]
                unsafe fn avx2 $(<$(const $g: $gt),+>)? ($($arg: $ty),*) $(-> $ret)? $body
                if $crate::simd::has_avx2_fma() {
                    // SAFETY: AVX2 and FMA availability was checked at run time just above;
                    // the body itself is safe Rust.
                    return unsafe { avx2 $(::<$($g),+>)? ($($arg),*) };
                }
            }
            #[inline(always)]
            fn generic $(<$(const $g: $gt),+>)? ($($arg: $ty),*) $(-> $ret)? $body
            generic $(::<$($g),+>)? ($($arg),*)
        }
    };
}
pub(crate) use multiversion;

#[cfg(test)]
mod tests {
    multiversion! {
        fn sum_sq(x: &[f32]) -> f32 {
            x.iter().map(|v| v * v).sum()
        }
    }

    #[test]
    fn dispatch_matches_scalar() {
        let x: Vec<f32> = (0..100).map(|i| i as f32 * 0.5).collect();
        let want: f32 = x.iter().map(|v| v * v).sum();
        assert_eq!(sum_sq(&x), want);
    }
}
