//! Depth-first execution of a chain of convolutions, a band of rows at a time.
//!
//! Why: the detectors' first layers at 960² are 3×3, depthwise and 1×1 convs over 15–30 MB
//! tensors, each written to memory by one conv and read back by the next. On this
//! project's machines the two cores share about 13 GB/s, so those round trips, not the
//! arithmetic, set the time of these layers, and a second thread adds no bandwidth. A chain
//! of convs in which every output but the last feeds only the next conv (found at load,
//! see `optimize.rs`) runs here one band of output rows at a time, every stage in turn, so
//! that the intermediates stay in cache: only the chain's input and its last output go
//! through memory.
//!
//! How: each stage keeps the input rows of its last band. The next band needs the rows
//! from there on; the ones it already has (the halo of a 3×3 window) are carried over and
//! only the new ones are computed by the stage before, by [`Conv::compute`] on exactly the
//! input rows they read, with the band's own top padding. Output rows are split into one
//! segment per thread, each run start to end on its thread (a segment's first band
//! computes its halo rows itself).
//!
//! Same bits as running the convs one by one: every path of [`Conv::compute`] gives an
//! element the same arithmetic wherever its row falls in a call, except Winograd, whose
//! 2×2 output blocks start on the call's first row; its stages start every band on an even
//! row, as the whole-tensor run's blocks do.

use super::conv::{Conv, ConvWeights, Planes, Resolved};
use crate::exec::BufPool;
use crate::packed::SyncPtr;
use crate::tensor::{checked_numel, data, f32_array, Tensor};
use ndarray::ArrayD;
use rayon::prelude::*;

/// A chain of convolutions run in bands of rows.
#[derive(Clone, Debug)]
pub(crate) struct Bands {
    /// The convs in order, weights captured; each reads only the previous one's output.
    stages: Vec<Conv>,
}

/// Bytes of input rows (all stages together) one band step may hold: the band height is
/// the largest even number of output rows that keeps under it. The buffers of a step (its
/// input rows and the rows carried from the last one) then take about twice this, per
/// thread, in the L3 cache (32 MiB on the EPYC measured; 512 KiB of L2 per core holds no
/// useful band of a 960² stem). v4 det's stem at 960², in bands of 0.25–4 MiB: the same
/// within noise (43–51 ms at 1 thread, 25–31 at 2); 8 MiB 1.1×, 16 MiB 1.5–2× slower.
const BAND_BYTES: usize = 2 << 20;

/// Chains whose intermediates are all smaller than this run whole, one conv after the
/// other: they stay in cache anyway.
const MIN_BYTES: usize = 1 << 20;

/// Chains run in bands only where their intermediates add up to at least this many times
/// their input and output, which go through memory either way. v4 det's stem (intermediates
/// 4× its input and output) ran 0.6–0.8 of its whole-tensor time at 2 threads; its
/// two-conv chains with a thin middle (0.04–0.4×) ran no faster, the copies in and out of
/// the bands eating what they saved.
const MIN_RATIO: usize = 2;

/// One stage's geometry for a given chain input.
#[derive(Clone, Copy, Debug)]
struct Stage {
    /// Input channels, rows, columns.
    c: usize,
    h: usize,
    w: usize,
    cout: usize,
    /// The whole output's size and its top and left padding.
    r: Resolved,
    /// Rows one output row's window spans, `(kh - 1)·dh + 1`.
    kext: usize,
    sh: usize,
    /// Winograd: output rows go in 2-row blocks from the call's first row.
    even: bool,
}

impl Stage {
    /// The input rows `lo..hi` that output rows `o0..o1` read (clipped to the input), and
    /// how many zero rows lie above `lo` for the first of them (the band's top padding).
    fn input_rows(&self, o0: usize, o1: usize) -> (usize, usize, usize) {
        let top = (o0 * self.sh) as isize - self.r.pt as isize;
        let bottom = ((o1 - 1) * self.sh + self.kext) as isize - self.r.pt as isize;
        let lo = top.max(0) as usize;
        let hi = (bottom.max(0) as usize).min(self.h).max(lo);
        (lo, hi, (lo as isize - top) as usize)
    }
}

/// Rows `lo..hi` of a `[c][rows][w]` buffer (planes of `rows` rows).
struct Rows {
    lo: usize,
    hi: usize,
    buf: Vec<f32>,
}

impl Bands {
    /// The chain `stages` (weights captured). Its Winograd stages keep to F(2×2, 3×3):
    /// an F(4×4, 3×3) block cut off by a band's last row still reads (numerically, not
    /// mathematically) the input rows below it, which a band does not hold, so its bits
    /// would differ from the whole run's.
    pub fn new(mut stages: Vec<Conv>) -> Bands {
        for st in &mut stages {
            if let Some(w) = &mut st.weights {
                w.winograd4.clear();
            }
        }
        Bands { stages }
    }

    pub fn stages(&self) -> &[Conv] {
        &self.stages
    }

    pub fn run(&self, x: &ArrayD<f32>, alloc: &mut BufPool) -> Result<Tensor, String> {
        let out_shape = self.output_shape(x)?;
        let mut out = alloc.take(checked_numel(&out_shape)?);
        self.write(x, &mut out, alloc)?;
        Ok(Tensor::F32(f32_array(&out_shape, out)))
    }

    /// The chain's output shape for input `x` (NCHW).
    pub fn output_shape(&self, x: &ArrayD<f32>) -> Result<[usize; 4], String> {
        let xs = x.shape();
        if xs.len() != 4 {
            return Err(format!("expected a rank-4 NCHW input, got shape {xs:?}"));
        }
        let stages = self.plan([xs[1], xs[2], xs[3]])?;
        let last = stages[stages.len() - 1];
        Ok([xs[0], last.cout, last.r.oh, last.r.ow])
    }

    /// Runs the chain on `x` into `out` (exactly the output's size): a new buffer, or the
    /// chain's slice of a Concat's output (see `ops/concat.rs`).
    pub fn write(
        &self,
        x: &ArrayD<f32>,
        out: &mut [f32],
        alloc: &mut BufPool,
    ) -> Result<(), String> {
        let xs = x.shape();
        if xs.len() != 4 {
            return Err(format!("expected a rank-4 NCHW input, got shape {xs:?}"));
        }
        let n = xs[0];
        let stages = self.plan([xs[1], xs[2], xs[3]])?;
        let (mut biggest, mut middle) = (0, 0);
        for s in &stages {
            checked_numel(&[n, s.cout, s.r.oh, s.r.ow])?;
        }
        for s in &stages[..stages.len() - 1] {
            let len = s.cout * s.r.oh * s.r.ow;
            biggest = biggest.max(len * 4);
            middle += len;
        }
        let last = stages[stages.len() - 1];
        let (c, h, w) = (last.cout, last.r.oh, last.r.ow);
        let ends = checked_numel(xs)? / n.max(1);
        let out_shape = [n, c, h, w];
        let ends = ends + c * h * w;
        if out.len() != checked_numel(&out_shape)? {
            return Err(format!(
                "chain output {out_shape:?} does not fit {} values",
                out.len()
            ));
        }
        if out.is_empty() {
            return Ok(());
        }
        let xd = data(x);
        if biggest < MIN_BYTES || middle < MIN_RATIO * ends || !bandable(&stages) {
            self.run_whole(&stages, xd, n, out, alloc);
        } else {
            let (per_in, per_out) = (xs[1] * xs[2] * xs[3], c * h * w);
            let band = band_rows(&stages);
            for b in 0..n {
                let o = &mut out[b * per_out..(b + 1) * per_out];
                self.run_banded(&stages, &xd[b * per_in..(b + 1) * per_in], o, band);
            }
        }
        Ok(())
    }

    /// The stages' geometry for an input of `c` channels, `h × w`, checked against the
    /// weights.
    fn plan(&self, [mut c, mut h, mut w]: [usize; 3]) -> Result<Vec<Stage>, String> {
        let mut stages = Vec::with_capacity(self.stages.len());
        for (i, st) in self.stages.iter().enumerate() {
            let wts = weights(st)?;
            let g = st.group;
            if g == 0 || wts.cin_g.checked_mul(g) != Some(c) || wts.cout % g != 0 {
                return Err(format!(
                    "stage {i}: input has {c} channels but weights expect {} × group {g} (weight has {} output channels)",
                    wts.cin_g, wts.cout
                ));
            }
            if wts.packed.len() != g && !(wts.cin_g == 1 && wts.cout == g) {
                return Err(format!("internal: stage {i}'s weights are not packed"));
            }
            let r = st.geo.resolve(h, w, false)?;
            let [kh, _] = st.geo.kernel;
            stages.push(Stage {
                c,
                h,
                w,
                cout: wts.cout,
                r,
                kext: (kh - 1) * st.geo.dilations[0] + 1,
                sh: st.geo.strides[0],
                even: !wts.winograd.is_empty(),
            });
            (c, h, w) = (wts.cout, r.oh, r.ow);
        }
        if stages.is_empty() {
            return Err("internal: a banded chain without stages".into());
        }
        Ok(stages)
    }

    /// One conv after the other over whole tensors.
    fn run_whole(
        &self,
        stages: &[Stage],
        x: &[f32],
        n: usize,
        out: &mut [f32],
        alloc: &mut BufPool,
    ) {
        let mut cur: Option<Vec<f32>> = None;
        for (i, (st, s)) in self.stages.iter().zip(stages).enumerate() {
            let input = cur.as_deref().unwrap_or(x);
            let dims = [n, s.c, s.h, s.w];
            let wts = weights(st).expect("checked");
            let plane = s.r.oh * s.r.ow;
            if i + 1 == stages.len() {
                // SAFETY: the planes cover `out`, held exclusively here.
                unsafe { st.compute(wts, input, dims, s.r, Planes::of(out, plane), alloc) };
            } else {
                let mut o = alloc.take(n * s.cout * plane);
                // SAFETY: the planes cover `o`, ours alone.
                unsafe { st.compute(wts, input, dims, s.r, Planes::of(&mut o, plane), alloc) };
                if let Some(prev) = cur.replace(o) {
                    alloc.give(prev);
                }
            }
        }
        if let Some(prev) = cur {
            alloc.give(prev);
        }
    }

    /// One image, in segments of output rows (one per thread), each in bands of `band`
    /// (even) rows.
    fn run_banded(&self, stages: &[Stage], x: &[f32], out: &mut [f32], band: usize) {
        let last = stages[stages.len() - 1];
        let oh = last.r.oh;
        let threads = super::threads();
        let segs = threads.min(oh.div_ceil(band)).max(1);
        // Even segment starts keep Winograd's row blocks where the whole run has them.
        let seg_rows = oh.div_ceil(segs).div_ceil(2) * 2;
        let segs = oh.div_ceil(seg_rows);
        let out_ptr = SyncPtr(out.as_mut_ptr());
        let out_len = out.len();
        let segment = |si: usize| {
            let (s0, s1) = (si * seg_rows, ((si + 1) * seg_rows).min(oh));
            self.segment(stages, x, s0, s1, band, out_ptr, out_len);
        };
        if segs > 1 {
            (0..segs)
                .into_par_iter()
                .for_each(|si| super::serial(|| segment(si)));
        } else {
            segment(0);
        }
    }

    /// Output rows `s0..s1` of one image, `band` rows at a time.
    #[allow(clippy::too_many_arguments)]
    fn segment(
        &self,
        stages: &[Stage],
        x: &[f32],
        s0: usize,
        s1: usize,
        band: usize,
        out_ptr: SyncPtr,
        out_len: usize,
    ) {
        let ns = stages.len();
        let last = stages[ns - 1];
        let (oh, ow) = (last.r.oh, last.r.ow);
        let mut pool = BufPool::default();
        // held[j]: the input rows of stage j's last band (j ≥ 1).
        let mut held: Vec<Option<Rows>> = (0..ns).map(|_| None).collect();
        let mut want = vec![(0usize, 0usize); ns];
        let mut o0 = s0;
        while o0 < s1 {
            let o1 = (o0 + band).min(s1);
            // Backwards: the output rows each stage computes in this step.
            want[ns - 1] = (o0, o1);
            for j in (1..ns).rev() {
                let (a, b) = want[j];
                if a >= b {
                    want[j - 1] = (0, 0);
                    continue;
                }
                let (lo, hi, _) = stages[j].input_rows(a, b);
                let mut from = held[j].as_ref().map_or(lo, |h| h.hi.max(lo));
                if stages[j - 1].even {
                    from -= from % 2;
                }
                want[j - 1] = (from, hi);
            }
            // Forwards: each stage writes its new rows straight into the next stage's
            // input rows (after the rows carried over), the last one into the output.
            let mut next_in: Option<Rows> = None;
            for j in 0..ns {
                let s = stages[j];
                let (a, b) = want[j];
                if a >= b {
                    continue;
                }
                let (lo, hi, pad) = s.input_rows(a, b);
                let input = if j == 0 {
                    let rows = hi - lo;
                    let mut buf = pool.take(s.c * rows * s.w);
                    for ch in 0..s.c {
                        buf[ch * rows * s.w..(ch + 1) * rows * s.w]
                            .copy_from_slice(&x[(ch * s.h + lo) * s.w..(ch * s.h + hi) * s.w]);
                    }
                    Rows { lo, hi, buf }
                } else {
                    match next_in.take() {
                        Some(r) => r,
                        None => self.carry(stages, &mut held, &mut pool, j, lo, hi),
                    }
                };
                debug_assert!(input.lo == lo && input.hi == hi);
                let r = Resolved {
                    oh: b - a,
                    ow: s.r.ow,
                    pt: pad,
                    pl: s.r.pl,
                };
                let st = &self.stages[j];
                let wts = weights(st).expect("checked");
                let dims = [1, s.c, hi - lo, s.w];
                if j + 1 < ns {
                    let (lo2, hi2, _) = stages[j + 1].input_rows(want[j + 1].0, want[j + 1].1);
                    debug_assert!(b == hi2);
                    let mut nxt = self.carry(stages, &mut held, &mut pool, j + 1, lo2, hi2);
                    let stride = (hi2 - lo2) * s.r.ow;
                    if a >= lo2 {
                        let planes = Planes {
                            ptr: SyncPtr(nxt.buf[(a - lo2) * s.r.ow..].as_mut_ptr()),
                            stride,
                        };
                        // SAFETY: plane `co` is rows a..b of channel co of `nxt` (rows
                        // lo2..hi2, b = hi2), a buffer of this thread's.
                        unsafe { st.compute(wts, &input.buf, dims, r, planes, &mut pool) };
                    } else {
                        // A Winograd stage that starts a row above the rows wanted (its
                        // blocks start on even rows): through a copy.
                        let plane = (b - a) * s.r.ow;
                        let mut tmp = pool.take(s.cout * plane);
                        // SAFETY: the planes cover `tmp`, ours alone.
                        unsafe {
                            st.compute(
                                wts,
                                &input.buf,
                                dims,
                                r,
                                Planes::of(&mut tmp, plane),
                                &mut pool,
                            )
                        };
                        let skip = (lo2 - a) * s.r.ow;
                        for co in 0..s.cout {
                            nxt.buf[co * stride..(co + 1) * stride]
                                .copy_from_slice(&tmp[co * plane + skip..(co + 1) * plane]);
                        }
                        pool.give(tmp);
                    }
                    next_in = Some(nxt);
                } else {
                    debug_assert!(a == o0 && b == o1);
                    assert!((s.cout - 1) * oh * ow + b * ow <= out_len);
                    let planes = Planes {
                        // SAFETY: row a of the first plane, inside `out` by the assert.
                        ptr: SyncPtr(unsafe { out_ptr.get().add(a * ow) }),
                        stride: oh * ow,
                    };
                    // SAFETY: plane `co` is rows a..b of channel co of the output, inside it
                    // by the assert: rows of this segment, which no other thread writes.
                    unsafe { st.compute(wts, &input.buf, dims, r, planes, &mut pool) };
                }
                if j > 0 {
                    held[j] = Some(input);
                } else {
                    pool.give(input.buf);
                }
            }
            o0 = o1;
        }
    }
}

impl Bands {
    /// A buffer for stage `j`'s input rows `lo..hi`, with the rows it already held from the
    /// last band (`held[j]`, given back to the pool) copied in; the stage before writes the
    /// rest.
    fn carry(
        &self,
        stages: &[Stage],
        held: &mut [Option<Rows>],
        pool: &mut BufPool,
        j: usize,
        lo: usize,
        hi: usize,
    ) -> Rows {
        let s = stages[j];
        let rows = hi - lo;
        let mut buf = pool.take(s.c * rows * s.w);
        if let Some(old) = held[j].take() {
            debug_assert!(old.lo <= lo);
            // A stride past the window's reach (a 1×1 stride-2 stage) leaves nothing to carry.
            let kept = old.hi.clamp(lo, hi);
            let orows = old.hi - old.lo;
            for ch in (0..s.c).filter(|_| kept > lo) {
                let src = &old.buf[(ch * orows + lo - old.lo) * s.w..][..(kept - lo) * s.w];
                buf[ch * rows * s.w..][..(kept - lo) * s.w].copy_from_slice(src);
            }
            pool.give(old.buf);
        }
        Rows { lo, hi, buf }
    }
}

impl Bands {
    /// FLOPs of one run on an input of shape `[n, c, h, w]` (as [`crate::Profile`] counts
    /// a conv's), or `None` for another rank or a shape the chain refuses.
    pub fn flops(&self, input: &[usize]) -> Option<u64> {
        let [n, _, mut h, mut w] = <[usize; 4]>::try_from(input).ok()?;
        let mut total = 0u64;
        for st in &self.stages {
            let wts = st.weights.as_ref()?;
            let r = st.geo.resolve(h, w, false).ok()?;
            let [kh, kw] = st.geo.kernel;
            total += 2 * (n * wts.cout * r.oh * r.ow) as u64 * (wts.cin_g * kh * kw) as u64;
            (h, w) = (r.oh, r.ow);
        }
        Some(total)
    }
}

/// Whether every output row of every stage reads at least one input row (a band of
/// padding alone has no input to hand the conv). An empty stage, possible with SAME
/// padding of an empty input, is not bandable: the chain runs whole.
fn bandable(stages: &[Stage]) -> bool {
    stages
        .iter()
        .all(|s| s.h > 0 && s.r.oh > 0 && s.r.pt < s.kext && (s.r.oh - 1) * s.sh < s.h + s.r.pt)
}

fn weights(st: &Conv) -> Result<&ConvWeights, String> {
    st.weights
        .as_ref()
        .ok_or_else(|| "internal: a banded conv without captured weights".to_string())
}

/// The band height: the largest even number of final output rows whose step keeps the
/// input rows of all stages under [`BAND_BYTES`] (at least 2).
fn band_rows(stages: &[Stage]) -> usize {
    let bytes = |band: usize| {
        let mut rows = band;
        let mut total = 0;
        for s in stages.iter().rev() {
            // Input rows of this stage for `rows` output rows.
            rows = (rows - 1) * s.sh + s.kext;
            total += rows.min(s.h) * s.c * s.w * 4;
        }
        total
    };
    let oh = stages[stages.len() - 1].r.oh;
    let mut band = 2;
    while band + 2 <= oh && bytes(band + 2) <= BAND_BYTES {
        band += 2;
    }
    band
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::ops::conv::{AutoPad, Geometry};
    use crate::ops::elementwise::Step;
    use crate::ops::Input;

    fn val(i: usize, m: usize, d: usize) -> f32 {
        ((i * m) % d) as f32 / d as f32 - 0.5
    }

    pub(crate) fn conv(
        cin: usize,
        cout: usize,
        k: usize,
        stride: usize,
        group: usize,
        post: Vec<Step>,
    ) -> Conv {
        let cin_g = cin / group;
        let mut cw = ConvWeights {
            w: (0..cout * cin_g * k * k)
                .map(|i| val(i, 37, 29) * 0.4)
                .collect(),
            bias: (0..cout).map(|i| val(i, 7, 11)).collect(),
            cout,
            cin_g,
            packed: vec![],
            winograd: vec![],
            winograd4: vec![],
        };
        if !(cin_g == 1 && cout == group) {
            cw.pack(group).unwrap();
        }
        let geo = Geometry {
            kernel: [k, k],
            strides: [stride, stride],
            pads: [k / 2; 4],
            dilations: [1, 1],
            auto_pad: AutoPad::NotSet,
        };
        crate::ops::winograd::prepare(&mut cw, &geo, group);
        Conv {
            geo,
            group,
            weights: Some(cw),
            post,
        }
    }

    /// A stem like the detectors' (3×3 stride 2, depthwise, 1×1, depthwise stride 2, a
    /// Winograd 3×3 whose output has a halo, a depthwise 3×3, a 1×1) at odd sizes: in bands of 2, 4 and 6 rows, on one and two
    /// threads, the bits of the whole-tensor run.
    #[test]
    fn bands_have_the_bits_of_the_whole_run() {
        let hs = Step::HardSwish {
            alpha: 1.0 / 6.0,
            beta: 0.5,
        };
        let chain = Bands::new(vec![
            conv(3, 16, 3, 2, 1, vec![]),
            conv(16, 16, 3, 1, 16, vec![hs.clone()]),
            conv(16, 24, 1, 1, 1, vec![hs.clone(), Step::MulC(1.5)]),
            conv(24, 24, 3, 2, 24, vec![Step::Relu]),
            conv(24, 16, 3, 1, 1, vec![Step::Relu]),
            conv(16, 16, 3, 1, 16, vec![]),
            conv(16, 20, 1, 1, 1, vec![]),
        ]);
        assert!(!chain.stages[4]
            .weights
            .as_ref()
            .unwrap()
            .winograd
            .is_empty());
        // At 27×461 its Winograd stage is 116 columns wide, where a conv alone takes
        // F(4×4, 3×3); in bands it keeps to F(2×2) (see `Bands::new`), in the whole run too.
        for [h, w] in [[61, 45], [50, 33], [9, 17], [27, 461]] {
            let x: Vec<f32> = (0..3 * h * w).map(|i| val(i, 13, 31)).collect();
            let x = ndarray::ArrayD::from_shape_vec(vec![1, 3, h, w], x).unwrap();
            let mut pool = BufPool::default();
            let whole = match chain.run(&x, &mut pool).unwrap() {
                Tensor::F32(a) => a,
                _ => unreachable!(),
            };
            // Small inputs run whole in `run`; plan the stages to band them.
            let stages = chain.plan([3, h, w]).unwrap();
            for threads in [1, 2] {
                let tp = rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .build()
                    .unwrap();
                for band in [2, 4, 6] {
                    let mut got = vec![f32::NAN; whole.len()];
                    tp.install(|| chain.run_banded(&stages, data(&x), &mut got, band));
                    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                    assert_eq!(
                        bits(&got),
                        bits(data(&whole)),
                        "{h}×{w}, {threads} thread(s), bands of {band}"
                    );
                }
            }
        }
    }

    /// `run` itself on a batch of two images large enough to band (intermediates of
    /// 1.2 MB, four times the chain's input and output): the bits of the convs one by one
    /// over whole tensors, on one and two threads.
    #[test]
    fn a_banded_batch_has_the_bits_of_the_whole_run() {
        let chain = Bands::new(vec![
            conv(3, 32, 3, 1, 1, vec![Step::Relu]),
            conv(32, 32, 3, 1, 32, vec![]),
            conv(32, 8, 1, 1, 1, vec![]),
        ]);
        let (n, h, w) = (2, 97, 96);
        let x: Vec<f32> = (0..n * 3 * h * w).map(|i| val(i, 13, 31)).collect();
        let x = ndarray::ArrayD::from_shape_vec(vec![n, 3, h, w], x).unwrap();
        // Conv after conv, each over the whole batch.
        let mut cur = x.clone();
        for st in &chain.stages {
            let mut pool = BufPool::default();
            let t = st
                .run(&[Input::Ref(&Tensor::F32(cur.clone()))], &mut pool)
                .unwrap();
            cur = t.into_f32().unwrap();
        }
        for threads in [1, 2] {
            let tp = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            let got = tp
                .install(|| chain.run(&x, &mut BufPool::default()))
                .unwrap()
                .into_f32()
                .unwrap();
            assert_eq!(got.shape(), cur.shape());
            let bits = |a: &ndarray::ArrayD<f32>| a.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&got), bits(&cur), "{threads} thread(s)");
        }
    }

    /// Random chains (kernels 1–5, strides 1–3, dilation 1–2, asymmetric pads up to the
    /// kernel's reach, groups, Winograd-sized 3×3s) at random sizes, in bands of 2 and 4
    /// rows on 1 and 2 threads: the bits of the whole run, or the chain is refused as not
    /// bandable.
    #[test]
    fn random_chains_band_with_the_bits_of_the_whole_run() {
        let mut rnd = crate::ops::xorshift(0x9e37_79b9_7f4a_7c15);
        let mut checked = 0;
        for case in 0..300 {
            let mut stages = Vec::new();
            let mut c = 1 + rnd(4);
            let c0 = c;
            for _ in 0..2 + rnd(3) {
                let k = [1, 3, 3, 5, 2][rnd(5)];
                let dil = if k > 1 && rnd(4) == 0 { 2 } else { 1 };
                let reach = (k - 1) * dil;
                let stride = [1, 1, 2, 3][rnd(4)];
                let group = if rnd(3) == 0 { c } else { 1 };
                let cout = if group == c {
                    c
                } else {
                    [4, 8, 16, 17][rnd(4)]
                };
                let mut st = conv(c, cout, k, stride, group, vec![Step::Relu]);
                st.geo.dilations = [dil, dil];
                st.geo.pads = [
                    rnd(reach + 1),
                    rnd(reach + 1),
                    rnd(reach + 1),
                    rnd(reach + 1),
                ];
                crate::ops::winograd::prepare(st.weights.as_mut().unwrap(), &st.geo, group);
                stages.push(st);
                c = cout;
            }
            let chain = Bands::new(stages);
            let (h, w) = (12 + rnd(40), 5 + rnd(30));
            let x: Vec<f32> = (0..c0 * h * w).map(|i| val(i, 13, 31)).collect();
            let x = ndarray::ArrayD::from_shape_vec(vec![1, c0, h, w], x).unwrap();
            let Ok(whole) = chain.run(&x, &mut BufPool::default()) else {
                continue; // a chain that shrinks the input below a kernel
            };
            let whole = whole.into_f32().unwrap();
            let shapes = chain.plan([c0, h, w]).unwrap();
            if !bandable(&shapes) {
                continue;
            }
            checked += 1;
            for threads in [1, 2] {
                let tp = rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .build()
                    .unwrap();
                for band in [2, 4] {
                    let mut got = vec![f32::NAN; whole.len()];
                    tp.install(|| chain.run_banded(&shapes, data(&x), &mut got, band));
                    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                    assert_eq!(
                        bits(&got),
                        bits(data(&whole)),
                        "case {case}: {h}×{w}, {shapes:?}, {threads} thread(s), bands of {band}"
                    );
                }
            }
        }
        assert!(checked >= 20, "only {checked} random chains were bandable");
    }
}
