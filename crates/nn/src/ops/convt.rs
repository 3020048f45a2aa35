//! Transposed convolutions whose windows do not overlap (kernel = stride, no padding), alone
//! or chained: the detectors' upsampling head.
//!
//! Why: both DB heads end `ConvTranspose(24 → 24, 2×2 / 2) → ConvTranspose(24 → 1, 2×2 / 2)`,
//! and each such conv maps every input pixel to its own `kh × kw` output block. The first
//! one's output (24 × 480² at 960², 22 MB) was written out, read back by the second, and
//! each ran as a GEMM into a column buffer, a bias-and-activation pass over it, and a
//! scatter: 20 ms of v4 det's 270 at one thread for 0.3 GFLOP. Here a run of input pixels
//! goes through every stage while it is in cache: a stage's GEMM (bias and activation in
//! its epilogue) gives `cout · kh · kw` rows per pixel; the rows of each kernel row `ky` are
//! interleaved along x (taps `kx`) into the next stage's input, or into the output rows.
//! The chain's intermediates never leave L2, and only the last output is written to memory.
//!
//! Numerics: per output element the same products and sums as a stage-by-stage run (the
//! GEMM starts from the bias, then adds its `cin` products in order), whatever the tiling
//! or thread count.

use super::conv::{ConvTranspose, CtWeights};
use super::elementwise::Step;
use crate::exec::BufPool;
use crate::packed::{gemm_tile, panel_index, BSrc, MatB, SyncPtr, NR};
use crate::simd::multiversion;
use crate::tensor::{checked_numel, data, f32_array, Tensor};
use ndarray::ArrayD;
use rayon::prelude::*;

/// Floats of a stage's GEMM output per task (all of a run's rows): a run of pixels is
/// sized so that the widest stage's output stays well inside L2 (64 KiB).
const TILE_FLOATS: usize = 16 << 10;

/// Whether `ct`'s windows are disjoint: kernel = stride, no dilation, padding or output
/// padding. Each input pixel then owns one `kh × kw` block of the output.
pub(crate) fn disjoint(ct: &ConvTranspose) -> bool {
    use super::conv::AutoPad;
    ct.geo.kernel == ct.geo.strides
        && ct.geo.dilations == [1, 1]
        && (ct.geo.auto_pad == AutoPad::Valid
            || (ct.geo.auto_pad == AutoPad::NotSet && ct.geo.pads == [0; 4]))
        && ct.output_padding == [0, 0]
}

/// Disjoint transposed convs fused at load, each reading only the one before it (see
/// `optimize.rs::fuse_convt_chains`); every stage has captured weights.
#[derive(Clone, Debug)]
pub(crate) struct Chain {
    pub stages: Vec<ConvTranspose>,
}

impl Chain {
    pub fn run(&self, x: &Tensor, alloc: &mut BufPool) -> Result<Tensor, String> {
        let stages = self
            .stages
            .iter()
            .map(|s| {
                let wts = s
                    .weights
                    .as_ref()
                    .ok_or("chain stage without weights (bug)")?;
                Ok(Stage {
                    wts,
                    group: s.group,
                    post: &s.post,
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        run(x.as_f32()?, &stages, alloc)
    }

    /// FLOPs as [`crate::Profile`] counts them: each stage's
    /// `2 · N · Cin · H · W · (Cout / group) · kh · kw` at the size it sees.
    pub fn flops(&self, input: &[usize]) -> Option<u64> {
        let [n, _, mut h, mut w] = <[usize; 4]>::try_from(input).ok()?;
        let mut total = 0u64;
        for s in &self.stages {
            let wts = s.weights.as_ref()?;
            let [kh, kw] = wts.kernel;
            total += 2 * (n * wts.cin * h * w * wts.cout_g * kh * kw) as u64;
            h *= kh;
            w *= kw;
        }
        Some(total)
    }
}

/// One stage as [`run`] needs it.
pub(crate) struct Stage<'a> {
    pub wts: &'a CtWeights,
    pub group: usize,
    pub post: &'a [Step],
}

impl Stage<'_> {
    fn cout(&self) -> usize {
        self.wts.cout_g * self.group
    }
    fn taps(&self) -> usize {
        self.wts.kernel[0] * self.wts.kernel[1]
    }
    /// GEMM rows of all groups: `(co, ky, kx)`.
    fn rows(&self) -> usize {
        self.cout() * self.taps()
    }

    /// Group `gi`'s rows of this stage's GEMM on `src` (`cols` columns) into `y` (the
    /// rows of all groups, row stride `cols`), starting from `bias` (one per row of all
    /// groups) and through the stage's `post`.
    fn gemm(
        &self,
        gi: usize,
        src: BSrc<'_>,
        bias: &[f32],
        cols: usize,
        y: &mut [f32],
        pack: &mut Vec<f32>,
    ) {
        let rows_g = self.rows() / self.group;
        assert!(y.len() >= self.rows() * cols);
        // SAFETY: `y` holds rows() × cols floats (checked); group gi's rows are its own.
        unsafe {
            gemm_tile(
                &self.wts.packed[gi],
                src,
                Some(&bias[gi * rows_g..]),
                0,
                rows_g,
                0,
                cols,
                y.as_mut_ptr().add(gi * rows_g * cols),
                cols,
                pack,
                self.post,
            )
        };
    }
}

/// The chain `stages` (each disjoint, see [`disjoint`]; stage `s + 1` reads stage `s`'s
/// output) on `x` (`[n, c, h, w]`).
pub(crate) fn run(
    x: &ArrayD<f32>,
    stages: &[Stage<'_>],
    alloc: &mut BufPool,
) -> Result<Tensor, String> {
    let xs = x.shape();
    if xs.len() != 4 {
        return Err(format!("expected a rank-4 NCHW input, got shape {xs:?}"));
    }
    let (n, cin, h, w) = (xs[0], xs[1], xs[2], xs[3]);
    if stages.is_empty() {
        return Err("empty transposed-conv chain (bug)".into());
    }
    let mut c = cin;
    let (mut oh, mut ow) = (h, w);
    // Columns per run pixel of stage s's output: the x taps of the stages before it.
    let mut widen = 1usize;
    let mut widest = 0usize;
    for s in stages {
        let g = s.group;
        if g == 0 || s.wts.cin != c || c % g != 0 || s.wts.packed.len() != g {
            return Err(format!(
                "input has {c} channels; weights expect {} (group {g})",
                s.wts.cin
            ));
        }
        let [kh, kw] = s.wts.kernel;
        oh = oh.checked_mul(kh).ok_or("output height overflows")?;
        ow = ow.checked_mul(kw).ok_or("output width overflows")?;
        widest = widest.max(s.rows().saturating_mul(widen));
        widen = widen.saturating_mul(kw);
        c = s.cout();
    }
    if h == 0 || w == 0 {
        return Err(format!("empty spatial input {xs:?}"));
    }
    let cout = c;
    let out_shape = [n, cout, oh, ow];
    let mut out = alloc.take(checked_numel(&out_shape)?);
    if out.is_empty() {
        return Ok(Tensor::F32(f32_array(&out_shape, out)));
    }
    // Per-row biases of each stage's GEMM (row (co, ky, kx) starts from co's bias).
    let biases: Vec<Vec<f32>> = stages
        .iter()
        .map(|s| {
            let taps = s.taps();
            (0..s.rows()).map(|r| s.wts.bias[r / taps]).collect()
        })
        .collect();
    // Runs of input pixels along a row: as long as the widest stage output allows, then
    // evened out over the row in whole B panels (a partial panel's columns are stored
    // with masked stores, slow on AMD cores).
    let max_len = (TILE_FLOATS / widest.max(1)).max(NR) / NR * NR;
    let runs = w.div_ceil(max_len);
    let len = w.div_ceil(runs).next_multiple_of(NR).min(w);
    let runs = w.div_ceil(len);
    let geo = Dims {
        h,
        w,
        oh,
        ow,
        sh: oh / h,
        sw: ow / w,
    };
    let xd = data(x);
    let optr = SyncPtr(out.as_mut_ptr());
    let task = |t: usize| {
        let (b, iy, ix0) = (t / (h * runs), (t / runs) % h, (t % runs) * len);
        let at = Run {
            b,
            iy,
            ix0,
            len: len.min(w - ix0),
        };
        with_levels(stages.len(), |levels| {
            // SAFETY: this task alone writes the output blocks of input pixels
            // (b, iy, ix0..ix0 + len) of every channel; `optr` covers the whole output.
            unsafe { run_task(xd, stages, &biases, geo, at, optr.get(), levels) }
        });
    };
    let tasks = n * h * runs;
    if tasks > 1 && super::threads() > 1 {
        (0..tasks).into_par_iter().for_each(task);
    } else {
        (0..tasks).for_each(task);
    }
    Ok(Tensor::F32(f32_array(&out_shape, out)))
}

/// Input and output sizes, and the chain's total stride (`oh = h · sh`, `ow = w · sw`).
#[derive(Clone, Copy)]
struct Dims {
    h: usize,
    w: usize,
    oh: usize,
    ow: usize,
    sh: usize,
    sw: usize,
}

/// A task's input pixels: image `b`, row `iy`, columns `ix0..ix0 + len`.
#[derive(Clone, Copy)]
struct Run {
    b: usize,
    iy: usize,
    ix0: usize,
    len: usize,
}

/// Per-thread buffers of one chain level: its GEMM output `y`, the next stage's input
/// `next` (the rows of one `ky`, interleaved), and the GEMM's packing scratch.
#[derive(Default)]
struct Level {
    y: Vec<f32>,
    next: Vec<f32>,
    pack: Vec<f32>,
}

thread_local! {
    static LEVELS: std::cell::RefCell<Vec<Level>> = const { std::cell::RefCell::new(Vec::new()) };
}

fn with_levels(count: usize, f: impl FnOnce(&mut [Level])) {
    LEVELS.with(|l| match l.try_borrow_mut() {
        Ok(mut l) => {
            if l.len() < count {
                l.resize_with(count, Level::default);
            }
            f(&mut l[..count])
        }
        // Re-entered on this thread (work stealing inside a task): fresh buffers.
        Err(_) => f(&mut (0..count).map(|_| Level::default()).collect::<Vec<_>>()),
    })
}

/// Stage 0's GEMM on the run's input pixels, then the rest of the chain ([`emit`]).
///
/// # Safety
/// `out` is the chain's whole output (`n · cout` planes of `oh × ow`); no other thread
/// writes the blocks of this run's input pixels.
unsafe fn run_task(
    xd: &[f32],
    stages: &[Stage<'_>],
    biases: &[Vec<f32>],
    d: Dims,
    at: Run,
    out: *mut f32,
    levels: &mut [Level],
) {
    let s0 = &stages[0];
    let (cin, hw) = (s0.wts.cin, d.h * d.w);
    let cin_g = cin / s0.group;
    let lv = &mut levels[0];
    lv.y.resize(s0.rows() * at.len, 0.0);
    for gi in 0..s0.group {
        let start = ((at.b * cin + gi * cin_g) * d.h + at.iy) * d.w + at.ix0;
        let src = MatB {
            data: &xd[start..],
            ld: hw,
        };
        s0.gemm(
            gi,
            BSrc::Pack(&src),
            &biases[0],
            at.len,
            &mut lv.y,
            &mut lv.pack,
        );
    }
    // SAFETY: forwarded contract.
    unsafe { emit(stages, biases, d, at, out, levels, 0, at.len) };
}

/// Stage `s`'s output for output-row offset `rho` (the kernel rows of the stages before
/// it) is in `levels[0].y`: `rows()` rows of `cols` columns, already in output x order.
/// For each kernel row `ky`, its taps `kx` are interleaved along x into the next stage's
/// input (whose GEMM then recurses) or, at the last stage, into the output rows.
///
/// # Safety
/// As [`run_task`].
#[allow(clippy::too_many_arguments)]
unsafe fn emit(
    stages: &[Stage<'_>],
    biases: &[Vec<f32>],
    d: Dims,
    at: Run,
    out: *mut f32,
    levels: &mut [Level],
    rho: usize,
    cols: usize,
) {
    let (st, rest) = stages.split_first().expect("a stage");
    let (lv, deeper) = levels.split_first_mut().expect("a level per stage");
    let [kh, kw] = st.wts.kernel;
    let (cout, taps, wide) = (st.cout(), st.taps(), cols * kw);
    for ky in 0..kh {
        let rho = rho * kh + ky;
        let rows_of = |c: usize| &lv.y[(c * taps + ky * kw) * cols..][..kw * cols];
        let Some(next) = rest.first() else {
            let oy = at.iy * d.sh + rho;
            for co in 0..cout {
                let o = ((at.b * cout + co) * d.oh + oy) * d.ow + at.ix0 * d.sw;
                // SAFETY: row oy of channel co, columns ix0·sw..ix0·sw + len·sw (= wide):
                // inside the output (ix0 + len ≤ w), and this run's block.
                let dst = unsafe { std::slice::from_raw_parts_mut(out.add(o), wide) };
                interleave_taps(rows_of(co), cols, dst);
            }
            continue;
        };
        // The next stage's input, one B operand per group, written straight in packed
        // panel layout (a copy less than a row-major matrix that the GEMM then packs).
        let cin_g = cout / next.group;
        let np = wide.next_multiple_of(NR);
        lv.next.resize(cout * np, 0.0);
        for gi in 0..next.group {
            let b = &mut lv.next[gi * cin_g * np..][..cin_g * np];
            for c in 0..cin_g {
                let first = panel_index(cin_g, np, c, 0);
                let step = panel_index(cin_g, np, c, NR) - first;
                interleave_into_panels(rows_of(gi * cin_g + c), cols, kw, &mut b[first..], step);
            }
        }
        let nl = &mut deeper[0];
        nl.y.resize(next.rows() * wide, 0.0);
        for gi in 0..next.group {
            let b = &lv.next[gi * cin_g * np..][..cin_g * np];
            next.gemm(
                gi,
                BSrc::Panels(b, np),
                &biases[1],
                wide,
                &mut nl.y,
                &mut nl.pack,
            );
        }
        // SAFETY: forwarded contract.
        unsafe { emit(rest, &biases[1..], d, at, out, deeper, rho, wide) };
    }
}

multiversion! {
    /// `dst[t·k + j] = rows[j·len + t]` for the `k = dst.len() / len` rows of `len` floats
    /// in `rows`: the taps `kx = 0..k` of a run of input pixels, interleaved into their
    /// output row (k = 2 is a pair-store loop that vectorizes).
    fn interleave_taps(rows: &[f32], len: usize, dst: &mut [f32]) {
        let k = dst.len() / len.max(1);
        if k == 2 {
            let (a, b) = rows[..2 * len].split_at(len);
            for ((d, &x), &y) in dst.chunks_exact_mut(2).zip(a).zip(b) {
                d[0] = x;
                d[1] = y;
            }
        } else {
            for (t, d) in dst.chunks_exact_mut(k).enumerate() {
                for (j, v) in d.iter_mut().enumerate() {
                    *v = rows[j * len + t];
                }
            }
        }
    }
}

multiversion! {
    /// [`interleave_taps`] into one row of a packed B operand instead of a plain row:
    /// `k` rows of `cols` floats (`rows`, one after another: the taps `kx` of one kernel
    /// row) interleaved along x (`t·k + kx`) into one row of a packed B operand: its
    /// `NR`-column runs lie `step` floats apart from `dst[0]` on, and the columns past
    /// `cols · k` of the last run are zeroed.
    fn interleave_into_panels(rows: &[f32], cols: usize, k: usize, dst: &mut [f32], step: usize) {
        let wide = cols * k;
        let panels = wide.div_ceil(NR);
        if k == 2 {
            // Whole runs as pair stores of fixed length: they vectorize (unpack shuffles).
            let (a, b) = rows[..2 * cols].split_at(cols);
            let whole = wide / NR;
            for q in 0..whole {
                let d = &mut dst[q * step..][..NR];
                let (x, y) = (&a[q * NR / 2..][..NR / 2], &b[q * NR / 2..][..NR / 2]);
                for t in 0..NR / 2 {
                    d[2 * t] = x[t];
                    d[2 * t + 1] = y[t];
                }
            }
            if whole == panels {
                return;
            }
        }
        let first = if k == 2 { wide / NR } else { 0 };
        for q in first..panels {
            let d = &mut dst[q * step..][..NR];
            for (i, v) in d.iter_mut().enumerate() {
                let j = q * NR + i;
                *v = if j < wide { rows[(j % k) * cols + j / k] } else { 0.0 };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::conv::{AutoPad, Geometry};

    /// A disjoint ConvTranspose with kernel `k`, `group`, `cin → cout` channels, seeded
    /// weights and bias, and `post`.
    fn stage(k: [usize; 2], group: usize, cin: usize, cout: usize, seed: u64) -> ConvTranspose {
        let mut rnd = super::super::xorshift(seed);
        let mut val = || (rnd(2001) as f32 - 1000.0) / 1000.0;
        let cout_g = cout / group;
        let w: Vec<f32> = (0..cin * cout_g * k[0] * k[1]).map(|_| val()).collect();
        let bias: Vec<f32> = (0..cout).map(|_| val()).collect();
        let mut wts = CtWeights {
            w,
            bias,
            cin,
            cout_g,
            kernel: k,
            packed: vec![],
        };
        wts.pack(group).unwrap();
        ConvTranspose {
            geo: Geometry {
                kernel: k,
                strides: k,
                pads: [0; 4],
                dilations: [1, 1],
                auto_pad: AutoPad::NotSet,
            },
            group,
            output_padding: [0, 0],
            post: vec![],
            weights: Some(wts),
        }
    }

    /// One stage by its definition, in f64: every input pixel times every tap of its
    /// group's filters, plus the bias, then `post`.
    fn reference(
        x: &[f64],
        [n, c, h, w]: [usize; 4],
        st: &ConvTranspose,
    ) -> (Vec<f64>, [usize; 4]) {
        let wts = st.weights.as_ref().unwrap();
        let [kh, kw] = wts.kernel;
        let (g, cout_g) = (st.group, wts.cout_g);
        let (cin_g, cout) = (c / g, cout_g * g);
        let (oh, ow) = (h * kh, w * kw);
        let mut out = vec![0f64; n * cout * oh * ow];
        for b in 0..n {
            for co in 0..cout {
                let gi = co / cout_g;
                for oy in 0..oh {
                    for ox in 0..ow {
                        let (iy, ky, ix, kx) = (oy / kh, oy % kh, ox / kw, ox % kw);
                        let mut acc = wts.bias[co] as f64;
                        for ci in gi * cin_g..(gi + 1) * cin_g {
                            let wv = wts.w[((ci * cout_g + co % cout_g) * kh + ky) * kw + kx];
                            acc += wv as f64 * x[((b * c + ci) * h + iy) * w + ix];
                        }
                        if st.post.contains(&Step::Relu) {
                            acc = acc.max(0.0);
                        }
                        out[((b * cout + co) * oh + oy) * ow + ox] = acc;
                    }
                }
            }
        }
        (out, [n, cout, oh, ow])
    }

    #[test]
    fn chains_match_their_definition_stage_by_stage() {
        // (input [n, c, h, w], stages: (kernel, group, cout, relu)): the DB head's two
        // 2×2 stages, a single stage, groups, non-square kernels, three stages, rows long
        // enough to split into several runs, a batch.
        type Case = ([usize; 4], Vec<([usize; 2], usize, usize, bool)>);
        let cases: Vec<Case> = vec![
            (
                [1, 24, 5, 7],
                vec![([2, 2], 1, 24, true), ([2, 2], 1, 1, false)],
            ),
            ([2, 6, 3, 4], vec![([2, 2], 1, 5, false)]),
            (
                [1, 8, 4, 3],
                vec![([3, 1], 2, 6, true), ([1, 2], 3, 9, false)],
            ),
            (
                [1, 4, 2, 5],
                vec![
                    ([2, 2], 1, 6, true),
                    ([2, 3], 2, 4, true),
                    ([2, 1], 1, 2, false),
                ],
            ),
            (
                [1, 16, 2, 700],
                vec![([2, 2], 1, 32, true), ([2, 2], 1, 1, false)],
            ),
        ];
        for (ci, (shape, spec)) in cases.into_iter().enumerate() {
            let mut c = shape[1];
            let stages: Vec<ConvTranspose> = spec
                .iter()
                .enumerate()
                .map(|(i, &(k, g, cout, relu))| {
                    let mut s = stage(k, g, c, cout, (ci * 10 + i) as u64 + 1);
                    if relu {
                        s.post = vec![Step::Relu];
                    }
                    c = cout;
                    s
                })
                .collect();
            let numel: usize = shape.iter().product();
            let mut rnd = super::super::xorshift(ci as u64 + 99);
            let x: Vec<f32> = (0..numel)
                .map(|_| (rnd(2001) as f32 - 1000.0) / 500.0)
                .collect();
            let (mut want, mut dims) = (x.iter().map(|&v| v as f64).collect::<Vec<_>>(), shape);
            for s in &stages {
                (want, dims) = reference(&want, dims, s);
            }
            let xa = ndarray::ArrayD::from_shape_vec(shape.to_vec(), x).unwrap();
            let chain = Chain { stages };
            for threads in [1, 2] {
                let pool = rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .build()
                    .unwrap();
                let got = pool.install(|| {
                    chain
                        .run(&Tensor::F32(xa.clone()), &mut BufPool::default())
                        .unwrap()
                });
                let got = got.as_f32().unwrap();
                assert_eq!(got.shape(), &dims[..], "case {ci}");
                for (i, (&g, &r)) in data(got).iter().zip(&want).enumerate() {
                    assert!(
                        (g as f64 - r).abs() <= 1e-5 * (1.0 + r.abs()),
                        "case {ci}, {threads} threads, element {i}: {g} vs {r}"
                    );
                }
            }
        }
    }

    #[test]
    fn mismatched_channels_and_empty_inputs_are_errors() {
        let chain = Chain {
            stages: vec![stage([2, 2], 1, 4, 3, 1), stage([2, 2], 1, 3, 1, 2)],
        };
        let run = |shape: &[usize]| {
            let x = ndarray::ArrayD::zeros(shape.to_vec());
            chain.run(&Tensor::F32(x), &mut BufPool::default())
        };
        assert!(run(&[1, 5, 2, 2]).is_err());
        assert!(run(&[1, 4, 0, 2]).is_err());
        assert!(run(&[1, 4, 2]).is_err());
        assert_eq!(
            run(&[0, 4, 2, 2]).unwrap().as_f32().unwrap().shape(),
            &[0, 1, 8, 8]
        );
        let bad = Chain {
            stages: vec![stage([2, 2], 1, 4, 3, 1), stage([2, 2], 1, 5, 1, 2)],
        };
        let x = ndarray::ArrayD::zeros(vec![1, 4, 2, 2]);
        assert!(bad.run(&Tensor::F32(x), &mut BufPool::default()).is_err());
    }
}
