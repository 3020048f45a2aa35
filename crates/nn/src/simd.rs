//! Runtime CPU-feature dispatch for auto-vectorized kernels.
//!
//! The crate is compiled for the baseline target (SSE2 on x86-64). Hot loops are
//! written as plain, branch-free Rust and instantiated twice by [`multiversion!`]: once
//! with `avx2,fma` enabled (LLVM then emits 8-wide code) and once for the baseline. The
//! only `unsafe` is the call into the AVX2 copy, guarded by runtime detection.

/// True when the running CPU has AVX2 and FMA (cached by std).
#[inline]
pub(crate) fn has_avx2_fma() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Defines `fn $name(args) -> ret` whose body is compiled for AVX2+FMA and for the
/// baseline target, picking one at run time.
macro_rules! multiversion {
    ($(#[$m:meta])* $vis:vis fn $name:ident $(<$(const $g:ident : $gt:ty),+>)? ($($arg:ident : $ty:ty),* $(,)?) $(-> $ret:ty)? $body:block) => {
        $(#[$m])*
        $vis fn $name $(<$(const $g: $gt),+>)? ($($arg: $ty),*) $(-> $ret)? {
            #[cfg(target_arch = "x86_64")]
            {
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
