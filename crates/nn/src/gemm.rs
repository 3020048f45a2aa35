//! Test-only wrapper around the `gemm` crate, kept as the reference point in the GEMM
//! backend comparison (`packed::bench::gemm_backends`). The engine itself uses the
//! packed kernel in `packed.rs`, which measured as fast or faster on our shapes and
//! lets conv weights be packed once at load (see docs/performance.md).

/// A strided read-only matrix view: element `(i, j)` is `data[i * rs + j * cs]`.
#[derive(Clone, Copy)]
pub(crate) struct Mat<'a> {
    pub data: &'a [f32],
    pub rs: usize,
    pub cs: usize,
}

impl<'a> Mat<'a> {
    /// Row-major matrix with leading dimension `ld`.
    pub fn row_major(data: &'a [f32], ld: usize) -> Self {
        Mat {
            data,
            rs: ld,
            cs: 1,
        }
    }
    /// The transpose of a row-major matrix with leading dimension `ld`.
    #[cfg(test)]
    pub fn transposed(data: &'a [f32], ld: usize) -> Self {
        Mat {
            data,
            rs: 1,
            cs: ld,
        }
    }
}

/// Whether a GEMM may use the current rayon pool's threads.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Par {
    /// Run on the calling thread (the caller already parallelizes at a coarser grain).
    Seq,
    /// Let the GEMM split itself over the current rayon pool when it is big enough.
    Auto,
}

/// `C = A·B` (or `C += A·B` when `accumulate`), with `A: m×k`, `B: k×n`, and `C: m×n`
/// row-major with row stride `ldc`.
///
/// Panics if a view would read or write out of bounds (an engine bug, never input-driven:
/// callers derive all extents from validated shapes).
#[allow(clippy::too_many_arguments)]
pub(crate) fn sgemm(
    m: usize,
    n: usize,
    k: usize,
    a: Mat<'_>,
    b: Mat<'_>,
    c: &mut [f32],
    ldc: usize,
    accumulate: bool,
    par: Par,
) {
    if m == 0 || n == 0 {
        return;
    }
    assert!((m - 1) * ldc + n <= c.len(), "gemm: C out of bounds");
    // SAFETY: the assert proves the C extent is inside `c`, which is uniquely borrowed.
    unsafe { sgemm_raw(m, n, k, a, b, c.as_mut_ptr(), ldc, accumulate, par) }
}

/// Like [`sgemm`], writing through a raw pointer so that parallel tasks can fill
/// disjoint tiles of one output buffer.
///
/// # Safety
/// `c` must be valid for writes of rows `0..m` (row stride `ldc`), columns `0..n`, and
/// no other thread may access those elements during the call.
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn sgemm_raw(
    m: usize,
    n: usize,
    k: usize,
    a: Mat<'_>,
    b: Mat<'_>,
    c: *mut f32,
    ldc: usize,
    accumulate: bool,
    par: Par,
) {
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            for i in 0..m {
                // SAFETY: row i, columns 0..n are inside the caller-guaranteed extent.
                unsafe { std::slice::from_raw_parts_mut(c.add(i * ldc), n) }.fill(0.0);
            }
        }
        return;
    }
    let last = |rows: usize, cols: usize, rs: usize, cs: usize| (rows - 1) * rs + (cols - 1) * cs;
    assert!(
        last(m, k, a.rs, a.cs) < a.data.len(),
        "gemm: A out of bounds"
    );
    assert!(
        last(k, n, b.rs, b.cs) < b.data.len(),
        "gemm: B out of bounds"
    );
    let threads = rayon::current_num_threads();
    let parallelism = if par == Par::Auto && threads > 1 && m * n * k >= 48 * 48 * 48 {
        gemm::Parallelism::Rayon(threads)
    } else {
        gemm::Parallelism::None
    };
    // SAFETY: the asserts prove A and B reads stay inside their slices; the caller
    // guarantees the C extent is writable and exclusively ours.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c,
            1,
            ldc as isize,
            accumulate,
            a.data.as_ptr(),
            a.cs as isize,
            a.rs as isize,
            b.data.as_ptr(),
            b.cs as isize,
            b.rs as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            parallelism,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(m: usize, n: usize, k: usize, a: Mat<'_>, b: Mat<'_>) -> Vec<f32> {
        let mut c = vec![0.0; m * n];
        for i in 0..m {
            for j in 0..n {
                let mut s = 0.0f64;
                for p in 0..k {
                    s += a.data[i * a.rs + p * a.cs] as f64 * b.data[p * b.rs + j * b.cs] as f64;
                }
                c[i * n + j] = s as f32;
            }
        }
        c
    }

    #[test]
    fn matches_naive_with_strides_and_accumulate() {
        for &(m, n, k) in &[
            (1, 1, 1),
            (3, 5, 7),
            (17, 33, 9),
            (64, 100, 80),
            (5, 1, 300),
        ] {
            let a: Vec<f32> = (0..m * k).map(|i| ((i * 7) % 13) as f32 - 6.0).collect();
            let b: Vec<f32> = (0..k * n).map(|i| ((i * 5) % 11) as f32 * 0.25).collect();
            let want = naive(m, n, k, Mat::row_major(&a, k), Mat::row_major(&b, n));
            let mut c = vec![1.0; m * n];
            sgemm(
                m,
                n,
                k,
                Mat::row_major(&a, k),
                Mat::row_major(&b, n),
                &mut c,
                n,
                false,
                Par::Auto,
            );
            assert_eq!(c, want);
            // A stored transposed (k×m) must give the same product.
            let mut at = vec![0.0; m * k];
            for i in 0..m {
                for p in 0..k {
                    at[p * m + i] = a[i * k + p];
                }
            }
            let mut c2 = vec![1.0; m * n];
            sgemm(
                m,
                n,
                k,
                Mat::transposed(&at, m),
                Mat::row_major(&b, n),
                &mut c2,
                n,
                true,
                Par::Seq,
            );
            for (x, y) in c2.iter().zip(&want) {
                assert_eq!(*x, y + 1.0);
            }
        }
    }
}
