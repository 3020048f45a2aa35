//! Conv and ConvTranspose (2-D, NCHW).
//!
//! Strategy:
//! * depthwise (one input and one output channel per group): direct kernels
//!   ([`super::depthwise`]) whose inner loops run over contiguous output pixels;
//! * everything else: GEMM `W[cout_g × cin_g·kh·kw] · col[cin_g·kh·kw × pixels]`, tiled
//!   over output pixels. 1×1/stride-1/no-pad convs read the input directly as the GEMM
//!   `B` matrix; others build the `col` tile (im2col) in a per-task scratch buffer that
//!   stays in cache. Each tile gets its bias and fused activation chain applied while it
//!   is still hot. Tiles run in parallel on the current rayon pool;
//! * convs with a kernel larger than 1×1 (one group, any stride), where the CPU has
//!   AVX2+FMA or AVX-512: direct convolution ([`direct_conv`]), which reads the taps from a
//!   small ring of copied input rows instead of building im2col tiles, with the same bits;
//! * 3×3 stride-1 convs with at least 16 input and output channels (weights captured at
//!   load): Winograd F(2×2, 3×3) ([`super::winograd`]), 2.25× fewer multiply-adds, or on
//!   maps at least 112 wide F(4×4, 3×3) ([`super::winograd4`]), 4× fewer, on every CPU;
//!   not the bits of the paths above, but within a few roundings of them.

use super::depthwise::depthwise;
use super::elementwise::{apply_chain, Chain};
use super::Input;
use crate::exec::BufPool;
use crate::packed::{gemm_tile, row_block, BSrc, MatB, PackB, PackedA, SyncPtr, NR};
use crate::simd::multiversion;
use crate::tensor::{checked_numel, data, f32_array, Tensor};
use rayon::prelude::*;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AutoPad {
    NotSet,
    SameUpper,
    SameLower,
    Valid,
}

impl AutoPad {
    pub fn parse(s: &str) -> Option<AutoPad> {
        Some(match s {
            "" | "NOTSET" => AutoPad::NotSet,
            "SAME_UPPER" => AutoPad::SameUpper,
            "SAME_LOWER" => AutoPad::SameLower,
            "VALID" => AutoPad::Valid,
            _ => return None,
        })
    }
}

/// Spatial geometry shared by Conv, ConvTranspose and the pooling ops.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Geometry {
    pub kernel: [usize; 2],
    pub strides: [usize; 2],
    /// top, left, bottom, right
    pub pads: [usize; 4],
    pub dilations: [usize; 2],
    pub auto_pad: AutoPad,
}

/// Resolved output size and padding for one input size.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Resolved {
    pub oh: usize,
    pub ow: usize,
    pub pt: usize,
    pub pl: usize,
}

impl Geometry {
    /// Output size for a forward (conv/pool) window; `ceil` is the pooling ceil_mode.
    pub fn resolve(&self, h: usize, w: usize, ceil: bool) -> Result<Resolved, String> {
        let mut out = [0usize; 2];
        let mut begin = [0usize; 2];
        for (i, &size) in [h, w].iter().enumerate() {
            let s = self.strides[i];
            let ek = (self.kernel[i] - 1) * self.dilations[i] + 1;
            match self.auto_pad {
                AutoPad::SameUpper | AutoPad::SameLower => {
                    let o = size.div_ceil(s);
                    let total = ((o.max(1) - 1) * s + ek).saturating_sub(size);
                    begin[i] = if self.auto_pad == AutoPad::SameUpper {
                        total / 2
                    } else {
                        total.div_ceil(2)
                    };
                    out[i] = o;
                }
                AutoPad::Valid | AutoPad::NotSet => {
                    let (pb, pe) = if self.auto_pad == AutoPad::Valid {
                        (0, 0)
                    } else {
                        (self.pads[i], self.pads[i + 2])
                    };
                    let padded = size + pb + pe;
                    if padded < ek {
                        return Err(format!(
                            "input spatial size {h}×{w} is smaller than the kernel {:?} (after padding)",
                            self.kernel
                        ));
                    }
                    let span = padded - ek;
                    let mut o = if ceil { span.div_ceil(s) } else { span / s } + 1;
                    // ceil_mode must not start a window entirely in the end padding.
                    if ceil && (o - 1) * s >= size + pb {
                        o -= 1;
                    }
                    out[i] = o;
                    begin[i] = pb;
                }
            }
        }
        Ok(Resolved {
            oh: out[0],
            ow: out[1],
            pt: begin[0],
            pl: begin[1],
        })
    }
}

/// Packing builds one operand per group, so a `group` from a corrupt file must be checked
/// against the weight's channel count before anything is allocated for it.
fn check_group(group: usize, channels: usize, which: &str) -> Result<(), String> {
    if group == 0 || channels == 0 || !channels.is_multiple_of(group) {
        return Err(format!(
            "group {group} does not divide the weight's {channels} {which} channels"
        ));
    }
    Ok(())
}

/// Weights in GEMM layout plus the folded bias.
#[derive(Clone, Debug)]
pub(crate) struct ConvWeights {
    /// `[cout, cin_g * kh * kw]`, row-major (exactly ONNX's weight layout).
    pub w: Vec<f32>,
    pub bias: Vec<f32>,
    pub cout: usize,
    pub cin_g: usize,
    /// Per-group packed GEMM operand, built by [`ConvWeights::pack`].
    pub packed: Vec<PackedA>,
    /// The 16 transformed-weight operands of the F(2×2, 3×3) Winograd path (empty: not
    /// used), built at load for the convs that [`super::winograd::suits`]
    /// ([`super::winograd::prepare`]).
    pub winograd: Vec<PackedA>,
    /// The 36 of F(4×4, 3×3) ([`super::winograd4`]), built beside them: which one a call
    /// takes depends on the output width ([`super::winograd::takes_f4`]).
    pub winograd4: Vec<PackedA>,
}

impl ConvWeights {
    /// (Re)packs the weights for the GEMM kernel; call after any change to `w`.
    ///
    /// One operand is built per group, so an impossible `group` (from a corrupt file) is
    /// refused here, before anything is allocated for it.
    pub fn pack(&mut self, group: usize) -> Result<(), String> {
        check_group(group, self.cout, "output")?;
        let cout_g = self.cout / group;
        let k = self.w.len() / self.cout;
        self.packed = (0..group)
            .map(|g| PackedA::new(&self.w[g * cout_g * k..], cout_g, k, k))
            .collect();
        Ok(())
    }

    pub fn from_tensors(
        w: &Tensor,
        b: Option<&Tensor>,
        kernel: [usize; 2],
    ) -> Result<Self, String> {
        let wa = w.as_f32()?;
        let s = wa.shape();
        if s.len() != 4 {
            return Err(format!("weight must have rank 4, got shape {s:?}"));
        }
        if [s[2], s[3]] != kernel {
            return Err(format!(
                "weight shape {s:?} does not match kernel_shape {kernel:?}"
            ));
        }
        let bias = match b {
            Some(b) => {
                let ba = b.as_f32()?;
                if ba.len() != s[0] {
                    return Err(format!("bias has {} elements, expected {}", ba.len(), s[0]));
                }
                data(ba).to_vec()
            }
            None => vec![0.0; s[0]],
        };
        Ok(ConvWeights {
            w: data(wa).to_vec(),
            bias,
            cout: s[0],
            cin_g: s[1],
            packed: vec![],
            winograd: vec![],
            winograd4: vec![],
        })
    }
}

#[derive(Clone, Debug)]
pub(crate) struct Conv {
    pub geo: Geometry,
    pub group: usize,
    /// Captured at load time by the optimizer; `None` reads weight/bias from inputs.
    pub weights: Option<ConvWeights>,
    /// Fused elementwise epilogue.
    pub post: Chain,
}

/// Output-pixel tile width for the GEMM path (a multiple of `NR`); with `KC = 256` the
/// packed B tile is 256 KiB and stays in L2.
const TILE_N: usize = 256;

/// Where a conv writes: planes of `oh × ow` floats (one per image and output channel), plane
/// `i` at `ptr + i · stride`. A whole tensor has `stride = oh · ow`; a band of rows written
/// into a taller tensor has the taller planes' stride.
#[derive(Clone, Copy)]
pub(crate) struct Planes {
    pub ptr: SyncPtr,
    pub stride: usize,
}

impl Planes {
    /// The planes of a whole tensor held in `out`.
    pub fn of(out: &mut [f32], plane: usize) -> Planes {
        Planes {
            ptr: SyncPtr(out.as_mut_ptr()),
            stride: plane,
        }
    }

    /// Plane `i` (`len` floats).
    ///
    /// # Safety
    /// As the contract of the call that was handed these planes: plane `i` is valid for
    /// `len` floats and no other thread touches it while the slice lives.
    pub unsafe fn plane<'a>(self, i: usize, len: usize) -> &'a mut [f32] {
        // SAFETY: the caller's contract.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.get().add(i * self.stride), len) }
    }
}

impl Conv {
    pub fn run(&self, inputs: &[Input<'_>], alloc: &mut BufPool) -> Result<Tensor, String> {
        let owned;
        let wts = match &self.weights {
            Some(w) => w,
            None => {
                let w = inputs
                    .get(1)
                    .and_then(|i| i.opt())
                    .ok_or("missing weight input")?;
                let b = inputs.get(2).and_then(|i| i.opt());
                let mut cw = ConvWeights::from_tensors(w, b, self.geo.kernel)?;
                if cw.cin_g != 1 || cw.cout != self.group {
                    cw.pack(self.group)?;
                }
                owned = cw;
                &owned
            }
        };
        let x = inputs[0].get().as_f32()?;
        let xs = x.shape();
        if xs.len() != 4 {
            return Err(format!("expected a rank-4 NCHW input, got shape {xs:?}"));
        }
        let (n, c, h, w) = (xs[0], xs[1], xs[2], xs[3]);
        let g = self.group;
        if g == 0 || wts.cin_g.checked_mul(g) != Some(c) || wts.cout % g != 0 {
            return Err(format!(
                "input has {c} channels but weights expect {} × group {g} (weight has {} output channels)",
                wts.cin_g, wts.cout
            ));
        }
        let r = self.geo.resolve(h, w, false)?;
        let out_shape = [n, wts.cout, r.oh, r.ow];
        let mut out = alloc.take(checked_numel(&out_shape)?);
        if !out.is_empty() {
            if wts.packed.len() != g && !(wts.cin_g == 1 && wts.cout == g) {
                return Err("internal: conv weights are not packed".into());
            }
            let planes = Planes::of(&mut out, r.oh * r.ow);
            // SAFETY: `planes` covers `out`, which this call holds exclusively.
            unsafe { self.compute(wts, data(x), [n, c, h, w], r, planes, alloc) };
        }
        Ok(Tensor::F32(f32_array(&out_shape, out)))
    }

    /// An unpadded 1×1 conv of `n` 1×1 maps (the squeeze-excitation layers after a global
    /// pool):
    /// `out[b][m] = post(bias[m] + Σ_k x[b][k] · W[m][k])`, one dot product of two
    /// contiguous vectors per output. The pixel-tile GEMM path padded each image's single
    /// pixel to a 16-column panel and did 16× the work (cls's SE layers at batch 8 ran at
    /// 1–2 GFLOP/s, 0.57 ms of its 11.8).
    ///
    /// # Safety
    /// `out` must hold `n · cout` contiguous floats (`stride == 1`), exclusively this call's.
    unsafe fn pointwise_vectors(
        &self,
        wts: &ConvWeights,
        xd: &[f32],
        n: usize,
        c: usize,
        out: Planes,
    ) {
        let cout = wts.cout;
        // SAFETY: n · cout contiguous floats, exclusively ours by the contract.
        let o = unsafe { std::slice::from_raw_parts_mut(out.ptr.get(), n * cout) };
        for (row, x) in o.chunks_exact_mut(cout).zip(xd.chunks_exact(c)) {
            dot_rows(x, &wts.w, &wts.bias, row);
            apply_chain(&self.post, row);
        }
    }

    /// A 1×1 conv with few channels on both sides (cls's and the recognizers' first
    /// stages: 8–32 → 8–32): each output row block is `bias[m]` plus one fused
    /// multiply-add per input channel in order, vectorized over pixels and read straight
    /// from the input planes. The GEMM path computed such convs in 6-row panels (8 output
    /// channels took two, a third of them padding) over 8–32-step k loops, and packed the
    /// input first: 13–20 GFLOP/s. Same bits as the GEMM path.
    ///
    /// # Safety
    /// As [`Conv::compute`], for a stride-1, unpadded 1×1 conv (`npix` pixels per plane
    /// on both sides).
    unsafe fn pointwise_small(
        &self,
        wts: &ConvWeights,
        xd: &[f32],
        n: usize,
        c: usize,
        npix: usize,
        out: Planes,
    ) {
        let cout = wts.cout;
        // Pixel runs per task: enough work per task to pay for the split.
        const RUN: usize = 2048;
        let runs = npix.div_ceil(RUN);
        let task = |t: usize| {
            let (b, run) = (t / runs, t % runs);
            let p0 = run * RUN;
            let len = RUN.min(npix - p0);
            let x = &xd[b * c * npix..(b + 1) * c * npix];
            for m in 0..cout {
                // SAFETY: plane b·cout + m, pixels p0..p0+len: this task's own, inside the
                // contract's planes.
                let dst = unsafe {
                    std::slice::from_raw_parts_mut(
                        out.ptr.get().add((b * cout + m) * out.stride + p0),
                        len,
                    )
                };
                let wrow = &wts.w[m * c..(m + 1) * c];
                pointwise_row(dst, x, npix, p0, wrow, wts.bias[m]);
                apply_chain(&self.post, dst);
            }
        };
        let tasks = n * runs;
        if tasks > 1 && super::threads() > 1 {
            (0..tasks).into_par_iter().for_each(task);
        } else {
            (0..tasks).for_each(task);
        }
    }

    /// The convolution of `x` (`[n, c, h, w]`, checked against the weights by the caller)
    /// into the `n · cout` planes of `out`, with `r` giving the output size and the top and
    /// left padding; input rows past the bottom (and columns past the right) read as zero
    /// padding. [`super::bands`] calls it on bands of rows with a band's own `r`, writing
    /// into the next stage's input rows or the chain's output.
    ///
    /// # Safety
    /// Every plane `i < n · cout` of `out` must be valid for writes of `r.oh · r.ow`
    /// floats, and no other thread may access them during the call.
    #[allow(clippy::too_many_arguments)]
    pub(crate) unsafe fn compute(
        &self,
        wts: &ConvWeights,
        xd: &[f32],
        [n, c, h, w]: [usize; 4],
        r: Resolved,
        out: Planes,
        alloc: &mut BufPool,
    ) {
        let g = self.group;
        let (oh, ow) = (r.oh, r.ow);
        let cout_g = wts.cout / g;
        let [kh, kw] = self.geo.kernel;
        if wts.cin_g == 1 && cout_g == 1 {
            // SAFETY: forwarded contract.
            unsafe { depthwise(xd, out, wts, &self.geo, r, [n, c, h, w], &self.post) };
        } else if g == 1
            && [kh, kw] == [1, 1]
            && [h, w, oh, ow] == [1, 1, 1, 1]
            && [r.pt, r.pl] == [0, 0]
            && out.stride == 1
        {
            // SAFETY: forwarded contract (one float per plane, planes contiguous).
            unsafe { self.pointwise_vectors(wts, xd, n, c, out) };
        } else {
            let geo = &self.geo;
            if !wts.winograd.is_empty() {
                if super::winograd::takes_f4(ow) && !wts.winograd4.is_empty() {
                    // SAFETY: forwarded contract.
                    unsafe { super::winograd4::conv(xd, out, wts, r, [n, c, h, w], &self.post) };
                } else {
                    // SAFETY: forwarded contract.
                    unsafe { super::winograd::conv(xd, out, wts, r, [n, c, h, w], &self.post) };
                }
                return;
            }
            #[cfg(target_arch = "x86_64")]
            if g == 1
                && kh * kw > 1
                && wts.packed.len() == 1
                && crate::packed::direct_block().is_some()
            {
                // SAFETY: forwarded contract.
                unsafe { direct_conv(xd, out, wts, geo, r, [n, c, h, w], &self.post) };
                return;
            }
            let npix = oh * ow;
            let direct = kh == 1
                && kw == 1
                && geo.strides == [1, 1]
                && r.pt == 0
                && r.pl == 0
                && oh == h
                && ow == w;
            if direct && g == 1 && wts.cout <= SMALL_POINTWISE && c <= SMALL_POINTWISE {
                // SAFETY: forwarded contract.
                unsafe { self.pointwise_small(wts, xd, n, c, npix, out) };
                return;
            }
            // Stride-2 im2col reads every other column; de-interleaving the input once
            // turns those gathers into contiguous copies.
            let deint = !direct && geo.strides[1] == 2 && geo.dilations[1] == 1;
            let xde = if deint {
                let mut buf = alloc.take(xd.len());
                deinterleave_rows(xd, w, &mut buf);
                Some(buf)
            } else {
                None
            };
            let xd: &[f32] = xde.as_deref().unwrap_or(xd);
            let threads = super::threads();
            let per_image = n * g;
            let ntiles = pixel_tiles(npix, threads);
            let tile_px = |ti: usize| tile_start(ti, ntiles, npix);
            // Split output channels too when pixel tiles alone cannot feed the threads.
            let mb = row_block(cout_g, per_image * ntiles, threads);
            let mblocks = cout_g.div_ceil(mb);
            let out_ptr = out.ptr;
            let ps = out.stride;
            let tasks = per_image * ntiles * mblocks;
            let run_task = |t: usize, scratch: &mut Vec<f32>| {
                let ti = t % ntiles;
                let rest = t / ntiles;
                let mbi = rest % mblocks;
                let img = rest / mblocks;
                let (b, gi) = (img / g, img % g);
                let p0 = tile_px(ti);
                let pn = tile_px(ti + 1) - p0;
                let m0 = mbi * mb;
                let mn = mb.min(cout_g - m0);
                let xin =
                    &xd[(b * c + gi * wts.cin_g) * h * w..(b * c + (gi + 1) * wts.cin_g) * h * w];
                let base = (b * wts.cout + gi * cout_g) * ps;
                let bias = &wts.bias[gi * cout_g..(gi + 1) * cout_g];
                let cols;
                let mat = MatB {
                    data: xin,
                    ld: h * w,
                };
                let src = if direct {
                    // 1×1: the input planes are the B matrix. (Reading them in place
                    // without packing measured no faster: the strided loads cost what the
                    // copy saves.)
                    BSrc::Pack(&mat)
                } else {
                    cols = Im2col {
                        x: xin,
                        h,
                        w,
                        geo,
                        r,
                        deint,
                    };
                    BSrc::Pack(&cols)
                };
                // SAFETY: tasks own disjoint (channel-range × pixel-range) tiles of `out`:
                // pixels p0..p0+pn < oh·ow of planes m0..m0+mn of this image/group, valid
                // by the contract.
                unsafe {
                    gemm_tile(
                        &wts.packed[gi],
                        src,
                        Some(bias),
                        m0,
                        mn,
                        p0,
                        pn,
                        out_ptr.get().add(base + p0),
                        ps,
                        scratch,
                        &self.post,
                    )
                };
            };
            if tasks > 1 && threads > 1 {
                (0..tasks)
                    .into_par_iter()
                    .for_each(|t| with_scratch(|s| run_task(t, &mut s.0)));
            } else {
                with_scratch(|s| (0..tasks).for_each(|t| run_task(t, &mut s.0)));
            }
            if let Some(buf) = xde {
                alloc.give(buf);
            }
        }
    }
}

/// How many pixel tiles a GEMM conv over `npix` output pixels takes: tiles of (nearly)
/// equal width in whole panels, at most [`TILE_N`] pixels, so that 480 pixels go as
/// 240 + 240, not 256 + 224, and threads taking one tile each finish together. Where there
/// are more tiles than threads, their count is a multiple of the threads: 3600 pixels
/// (v6 det's 60² maps) as 16 tiles of 14–15 panels, not 15 of 15, of which one thread took
/// 8 and the other 7 (such a conv alone 0.94 of its time at two threads).
fn pixel_tiles(npix: usize, threads: usize) -> usize {
    let mut ntiles = npix.div_ceil(TILE_N).max(1);
    if threads > 1 && ntiles > threads {
        ntiles = ntiles.next_multiple_of(threads);
    }
    ntiles.min(npix.div_ceil(NR).max(1))
}

/// First pixel of tile `ti` of [`pixel_tiles`]'s `ntiles` (`ti = ntiles`: `npix`): tile `ti`
/// holds panels `ti·P/ntiles` up to `(ti + 1)·P/ntiles` of the `P` panels.
fn tile_start(ti: usize, ntiles: usize, npix: usize) -> usize {
    (ti * npix.div_ceil(NR) / ntiles * NR).min(npix)
}

thread_local! {
    /// Per-thread scratch (packed B tile, column tile), kept across calls so that
    /// steady-state inference does not allocate (and page-fault) per tile.
    static SCRATCH: std::cell::RefCell<(Vec<f32>, Vec<f32>)> = const { std::cell::RefCell::new((Vec::new(), Vec::new())) };
}

pub(super) fn with_scratch<R>(f: impl FnOnce(&mut (Vec<f32>, Vec<f32>)) -> R) -> R {
    SCRATCH.with(|s| match s.try_borrow_mut() {
        Ok(mut s) => f(&mut s),
        // Re-entered on this thread (rayon work stealing inside a task): use a fresh one.
        Err(_) => f(&mut (Vec::new(), Vec::new())),
    })
}

/// Channel counts up to which a stride-1 1×1 conv takes [`Conv::pointwise_small`].
const SMALL_POINTWISE: usize = 32;

multiversion! {
    /// `dst[i] = bias + Σ_k w[k] · x[k · plane + p0 + i]`, one fused multiply-add per input
    /// channel in order (the GEMM kernel's arithmetic), 32 pixels at a time in registers.
    fn pointwise_row(dst: &mut [f32], x: &[f32], plane: usize, p0: usize, w: &[f32], bias: f32) {
        const B: usize = 32;
        let len = dst.len();
        let mut i = 0;
        while i + B <= len {
            let mut acc = [bias; B];
            for (k, &wv) in w.iter().enumerate() {
                let xs: &[f32; B] = x[k * plane + p0 + i..][..B].try_into().expect("B");
                for (a, &v) in acc.iter_mut().zip(xs) {
                    *a = wv.mul_add(v, *a);
                }
            }
            dst[i..i + B].copy_from_slice(&acc);
            i += B;
        }
        for (j, d) in dst.iter_mut().enumerate().skip(i) {
            let mut a = bias;
            for (k, &wv) in w.iter().enumerate() {
                a = wv.mul_add(x[k * plane + p0 + j], a);
            }
            *d = a;
        }
    }
}

multiversion! {
    /// `out[m] = bias[m] + Σ_k x[k] · w[m · k_len + k]` (`k_len = x.len()`): 16 partial
    /// sums per row, so that the loop vectorizes without reassociating anything.
    fn dot_rows(x: &[f32], w: &[f32], bias: &[f32], out: &mut [f32]) {
        let k = x.len();
        if k == 0 {
            out.iter_mut().zip(bias).for_each(|(o, b)| *o = *b);
            return;
        }
        for ((o, row), b) in out.iter_mut().zip(w.chunks_exact(k)).zip(bias) {
            let (mut a0, mut a1) = ([0f32; 8], [0f32; 8]);
            let (xs, xt) = x.split_at(k / 16 * 16);
            let (rs, rt) = row.split_at(k / 16 * 16);
            for (xv, rv) in xs.chunks_exact(16).zip(rs.chunks_exact(16)) {
                let (x0, x1) = xv.split_at(8);
                let (r0, r1) = rv.split_at(8);
                let (x0, x1): (&[f32; 8], &[f32; 8]) = (x0.try_into().expect("8"), x1.try_into().expect("8"));
                let (r0, r1): (&[f32; 8], &[f32; 8]) = (r0.try_into().expect("8"), r1.try_into().expect("8"));
                for l in 0..8 {
                    a0[l] += x0[l] * r0[l];
                    a1[l] += x1[l] * r1[l];
                }
            }
            let tail: f32 = xt.iter().zip(rt).map(|(xv, rv)| xv * rv).sum();
            // Pairwise over the lanes.
            let mut w8 = [0f32; 8];
            for l in 0..8 {
                w8[l] = a0[l] + a1[l];
            }
            let w4 = [w8[0] + w8[4], w8[1] + w8[5], w8[2] + w8[6], w8[3] + w8[7]];
            *o = *b + (((w4[0] + w4[2]) + (w4[1] + w4[3])) + tail);
        }
    }
}

/// A convolution of one group (any kernel, stride and dilation) without an im2col matrix:
/// the micro-kernel ([`crate::packed::direct_rows`]) reads each tap's pixels straight from a
/// *row window*, 32 (AVX-512) or 16 (AVX2) output pixels of one output row per call. The
/// window is a per-thread ring of the input rows that one output row's taps reach, every
/// channel's, copied with their zero padding and split into `sw` column phases (stride 2:
/// the even padded columns, then the odd ones), so that every tap's pixels are contiguous
/// whatever the stride. Output rows run in bands, one band per task: moving to the next
/// output row copies only the input rows that are new to the ring. Same bits as the
/// im2col + GEMM path.
///
/// Why a copy: read in place, channel planes whose size is a multiple of 1 KiB (240², 480²
/// pixels) put the same tap of every channel in the same few L1 sets; v6 det's narrow
/// 3×3 convs ran at 20–30 % of peak. The ring's row stride is an odd number of cache lines,
/// which spreads the rows over all sets, and each input row is copied about once.
///
/// # Safety
/// As [`Conv::compute`]: `out`'s `n · cout` planes are valid for `oh · ow` floats each and
/// exclusively this call's.
#[cfg(target_arch = "x86_64")]
#[allow(clippy::too_many_arguments)]
unsafe fn direct_conv(
    x: &[f32],
    out: Planes,
    wts: &ConvWeights,
    geo: &Geometry,
    r: Resolved,
    [n, c, h, w]: [usize; 4],
    post: &Chain,
) {
    let ([kh, _], [dh, _], [sh, _]) = (geo.kernel, geo.dilations, geo.strides);
    let (oh, ow, cout) = (r.oh, r.ow, wts.cout);
    let block = crate::packed::direct_block().expect("a direct kernel on this CPU");
    let win = Window::new(c, geo, ow.div_ceil(block) * block);
    let threads = super::threads();
    // Up to four bands per thread for balance (counting a batch's images), but none under
    // 8 output rows: each band copies the rows above its first output row again, and v6
    // rec's stride-2 stem conv (12 output rows) ran 1.3× as long at 2 threads in 2-row bands
    // as in 6-row ones.
    let per_image = if threads > 1 {
        (threads.div_ceil(n.max(1)) * (oh / (8 * threads)).clamp(1, 4)).min(oh)
    } else {
        1
    };
    let band_rows = oh.div_ceil(per_image.max(1));
    let bands = n * per_image;
    // Fewer bands than threads (a map a few rows high, such as v4 rec's 1-row convs): the
    // output channels are split too, in runs of 12 (two 6-row panels, which the AVX-512
    // kernel takes together); each part fills its own copy of the ring.
    let pairs = cout.div_ceil(2 * crate::packed::MR);
    let parts = if bands < threads {
        threads.div_ceil(bands.max(1)).min(pairs).max(1)
    } else {
        1
    };
    let part_rows = pairs.div_ceil(parts) * 2 * crate::packed::MR;
    let out_ptr = out.ptr;
    // Task t: image t / (per_image · parts), band (t / parts) mod per_image, part t mod parts.
    let task = |t: usize| {
        let (b, bi, part) = (t / (per_image * parts), (t / parts) % per_image, t % parts);
        let rows = (part * part_rows).min(cout)..((part + 1) * part_rows).min(cout);
        if rows.is_empty() {
            return;
        }
        let xb = &x[b * c * h * w..(b + 1) * c * h * w];
        // SAFETY: image b's planes, by the contract.
        let img_out = unsafe { out_ptr.get().add(b * cout * out.stride) };
        with_scratch(|s| {
            let buf = &mut s.0;
            if buf.len() != win.len {
                buf.clear();
                buf.resize(win.len, 0.0);
            }
            // The input row each ring slot holds.
            let mut held = vec![None; win.span];
            for oy in bi * band_rows..((bi + 1) * band_rows).min(oh) {
                let iy0 = (oy * sh) as isize - r.pt as isize;
                for ky in 0..kh {
                    let iy = iy0 + (ky * dh) as isize;
                    let slot = iy.rem_euclid(win.span as isize) as usize;
                    if held[slot] != Some(iy) {
                        win.fill(buf, slot, xb, [h, w], iy, r.pl);
                        held[slot] = Some(iy);
                    }
                }
                let taps = &win.taps[iy0.rem_euclid(win.span as isize) as usize];
                // SAFETY: this call owns output row oy of channels `rows` of image b (tasks
                // are disjoint), inside `out`; the ring holds every tap's `ow` (rounded up to
                // the block) pixels.
                unsafe {
                    crate::packed::direct_rows(
                        &wts.packed[0],
                        rows.clone(),
                        taps,
                        buf,
                        &wts.bias,
                        ow,
                        img_out.add(oy * ow),
                        out.stride,
                        post,
                    )
                };
            }
        })
    };
    let tasks = bands * parts;
    if tasks > 1 && threads > 1 {
        (0..tasks).into_par_iter().for_each(task);
    } else {
        (0..tasks).for_each(task);
    }
}

/// The ring of [`direct_conv`]: `[ci][slot][phase][j]`, input row `iy` in slot
/// `iy mod span`, phase `φ` of a row holding the padded input columns `j·sw + φ`; and the
/// tap offsets into it.
#[cfg(target_arch = "x86_64")]
struct Window {
    /// Slots: the input rows one output row spans, `(kh - 1)·dh + 1`.
    span: usize,
    sw: usize,
    /// Values per phase: the output row's pixels (rounded up to whole kernel blocks) plus
    /// the kernel's reach in that phase.
    phase: usize,
    /// Floats from one ring row to the next: an odd number of 64-byte lines.
    stride: usize,
    /// Total floats.
    len: usize,
    /// `taps[s][k]`: offset of tap `k = (ci, ky, kx)` (im2col row order), relative to
    /// output pixel 0, for an output row whose first input row is in slot `s`.
    taps: Vec<Vec<usize>>,
}

#[cfg(target_arch = "x86_64")]
impl Window {
    fn new(c: usize, geo: &Geometry, cols: usize) -> Window {
        let ([kh, kw], [dh, dw], [_, sw]) = (geo.kernel, geo.dilations, geo.strides);
        let span = (kh - 1) * dh + 1;
        let phase = cols + (kw - 1) * dw / sw;
        let stride = odd_lines(sw * phase);
        let taps = (0..span)
            .map(|s0| {
                (0..c * kh * kw)
                    .map(|k| {
                        let (ci, ky, kx) = (k / (kh * kw), (k / kw) % kh, k % kw);
                        let (slot, d) = ((s0 + ky * dh) % span, kx * dw);
                        (ci * span + slot) * stride + (d % sw) * phase + d / sw
                    })
                    .collect()
            })
            .collect();
        Window {
            span,
            sw,
            phase,
            stride,
            len: c * span * stride,
            taps,
        }
    }

    /// Copies input row `iy` of every channel into ring slot `slot` (zeros when the row
    /// is outside the image), padded column `t` holding input column `t - pl`.
    fn fill(
        &self,
        buf: &mut [f32],
        slot: usize,
        x: &[f32],
        [h, w]: [usize; 2],
        iy: isize,
        pl: usize,
    ) {
        for (ci, dst) in buf.chunks_exact_mut(self.span * self.stride).enumerate() {
            let dst = &mut dst[slot * self.stride..][..self.sw * self.phase];
            if iy < 0 || iy >= h as isize {
                dst.fill(0.0);
                continue;
            }
            let src = &x[(ci * h + iy as usize) * w..][..w];
            for (ph, dst) in dst.chunks_exact_mut(self.phase).enumerate() {
                fill_phase(dst, src, ph as isize - pl as isize, self.sw);
            }
        }
    }
}

multiversion! {
    /// `dst[j] = src[j·step + off]`, zero where that index falls outside `src` (step 2 as
    /// pair copies, which vectorize).
    #[cfg(any(target_arch = "x86_64", test))]
    fn fill_phase(dst: &mut [f32], src: &[f32], off: isize, step: usize) {
        let (n, step_i) = (src.len() as isize, step as isize);
        // First and one-past-last j whose source index lies inside `src`.
        let lo = if off < 0 { (-off + step_i - 1) / step_i } else { 0 }.min(dst.len() as isize);
        let hi = if n > off { (n - off + step_i - 1) / step_i } else { 0 }.clamp(lo, dst.len() as isize);
        let (lo, hi) = (lo as usize, hi as usize);
        dst[..lo].fill(0.0);
        dst[hi..].fill(0.0);
        if lo == hi {
            // No source index inside `src` (a 1-column input with a stride-3 window): `first`
            // below would lie past its end.
            return;
        }
        let first = (lo as isize * step_i + off) as usize;
        let body = &mut dst[lo..hi];
        let src = &src[first..];
        match step {
            1 => body.copy_from_slice(&src[..body.len()]),
            2 => {
                let pairs = body.len().min(src.len() / 2);
                for (d, p) in body[..pairs].iter_mut().zip(src.chunks_exact(2)) {
                    *d = p[0];
                }
                if let Some(d) = body.get_mut(pairs) {
                    *d = src[2 * pairs];
                }
            }
            _ => {
                for (d, s) in body.iter_mut().zip(src.iter().step_by(step)) {
                    *d = *s;
                }
            }
        }
    }
}

/// `floats` rounded up to an odd number of 64-byte lines: buffers read side by side at
/// that spacing (rows of a ring, operands of a batch) do not all map to the same L1 sets,
/// as they would at a multiple of 4 KiB.
pub(super) fn odd_lines(floats: usize) -> usize {
    (floats.div_ceil(16) | 1) * 16
}

/// im2col as a [`PackB`] source: row `k` = (input channel, ky, kx), column = output
/// pixel. Values are written straight into packed panel layout.
struct Im2col<'a> {
    x: &'a [f32],
    h: usize,
    w: usize,
    geo: &'a Geometry,
    r: Resolved,
    /// `x` rows are stored de-interleaved (even columns, then odd columns from
    /// `w.div_ceil(2)`), which makes stride-2 gathers contiguous copies.
    deint: bool,
}

/// Column `ix` of a row stored de-interleaved (see [`Im2col::deint`]).
#[inline(always)]
fn deint_index(ix: usize, half: usize) -> usize {
    (ix & 1) * half + (ix >> 1)
}

/// `even[j] = src[2j]`, `odd[j] = src[2j + 1]` for as many whole pairs as all three hold;
/// returns that count. A pair-copy loop that vectorizes (even/odd shuffles) when inlined
/// into a dispatched kernel.
#[inline(always)]
pub(super) fn split_pairs(src: &[f32], even: &mut [f32], odd: &mut [f32]) -> usize {
    let pairs = (src.len() / 2).min(even.len()).min(odd.len());
    for ((e, o), p) in even[..pairs]
        .iter_mut()
        .zip(&mut odd[..pairs])
        .zip(src.chunks_exact(2))
    {
        *e = p[0];
        *o = p[1];
    }
    pairs
}

/// De-interleaves every row of `x` (row length `w`) into `out`.
fn deinterleave_rows(x: &[f32], w: usize, out: &mut [f32]) {
    // 64 KiB of rows per task: enough to amortize a task, small enough to spread.
    let rows = (16384 / w.max(1)).max(1) * w;
    if super::threads() > 1 && x.len() > 1 << 16 {
        x.par_chunks(rows)
            .zip(out.par_chunks_mut(rows))
            .for_each(|(s, d)| deinterleave_block(s, w, d));
    } else {
        deinterleave_block(x, w, out);
    }
}

multiversion! {
    /// [`deinterleave_rows`] on one block of whole rows, written as plain pair copies so that
    /// it vectorizes (even/odd shuffles).
    fn deinterleave_block(x: &[f32], w: usize, out: &mut [f32]) {
        let (half, pairs) = (w.div_ceil(2), w / 2);
        for (src, dst) in x.chunks_exact(w).zip(out.chunks_exact_mut(w)) {
            let (ev, od) = dst.split_at_mut(half);
            split_pairs(src, ev, od);
            if w % 2 == 1 {
                ev[pairs] = src[w - 1];
            }
        }
    }
}

impl PackB for Im2col<'_> {
    fn pack(&self, k0: usize, kc: usize, j0: usize, nc: usize, out: &mut [f32]) {
        let [kh, kw] = self.geo.kernel;
        let [sh, sw] = self.geo.strides;
        let [dh, dw] = self.geo.dilations;
        let (h, w, ow) = (self.h, self.w, self.r.ow);
        let panels = nc.div_ceil(NR);
        // Output coordinates of each panel's first column (divisions hoisted out of the
        // k loop).
        let starts: Vec<(usize, usize, usize)> = (0..panels)
            .map(|q| {
                let c0 = j0 + q * NR;
                (c0 / ow, c0 % ow, NR.min(j0 + nc - c0))
            })
            .collect();
        // Panels whose 16 pixels sit in one output row with every horizontal tap inside
        // the input (stride 1): their rows are plain 16-float copies, no bounds logic.
        let (pl, reach) = (self.r.pl, (kw - 1) * dw);
        let interior: Vec<bool> = starts
            .iter()
            .map(|&(_, ox0, wid)| {
                sw == 1 && wid == NR && ox0 + NR <= ow && ox0 >= pl && ox0 + NR + reach <= w + pl
            })
            .collect();
        // Panels with every tap of every pixel inside the input (no padding at all) read
        // tap (ci, ky, kx) at `ci·h·w + base[q] + tap[ky·kw + kx]`: one 16-float copy,
        // with stride 2 from the de-interleaved rows.
        let pt = self.r.pt;
        let fully = |&(oy0, ox0, wid): &(usize, usize, usize)| -> Option<isize> {
            let iy0 = (oy0 * sh).checked_sub(pt)?;
            let rows_in = iy0 + (kh - 1) * dh < h;
            let cols_in = match (sw, self.deint) {
                (1, _) => ox0 >= pl && ox0 + NR + reach <= w + pl,
                (2, true) => 2 * ox0 >= pl && 2 * (ox0 + NR - 1) + reach < w + pl,
                _ => false,
            };
            (rows_in && cols_in && wid == NR && ox0 + NR <= ow)
                .then(|| (iy0 * w + if sw == 1 { ox0 - pl } else { ox0 }) as isize)
        };
        let base: Vec<Option<isize>> = starts.iter().map(fully).collect();
        let half = w.div_ceil(2);
        let tap: Vec<isize> = (0..kh * kw)
            .map(|t| {
                let (ky, kx) = (t / kw, t % kw);
                let col = if sw == 1 {
                    (kx * dw) as isize
                } else {
                    // Column 2·ox + e, e = kx - pl, of a de-interleaved row: even e in the
                    // even half at ox + e/2, odd e in the odd half at ox + (e-1)/2 (the
                    // panel's condition keeps ox + e/2 ≥ 0).
                    let e = (kx * dw) as isize - pl as isize;
                    let hoff = if e.rem_euclid(2) == 0 {
                        0
                    } else {
                        half as isize
                    };
                    hoff + e.div_euclid(2)
                };
                (ky * dh * w) as isize + col
            })
            .collect();
        for kk in 0..kc {
            let kidx = k0 + kk;
            let ci = kidx / (kh * kw);
            let ky = (kidx / kw) % kh;
            let kx = kidx % kw;
            let plane = &self.x[ci * h * w..(ci + 1) * h * w];
            let yoff = (ky * dh) as isize - self.r.pt as isize;
            let xoff = (kx * dw) as isize - self.r.pl as isize;
            let toff = tap[ky * kw + kx];
            for (q, &(oy0, ox0, wid)) in starts.iter().enumerate() {
                let dst: &mut [f32; NR] = (&mut out[q * kc * NR + kk * NR..][..NR])
                    .try_into()
                    .expect("NR-sized");
                if let Some(b) = base[q] {
                    // (non-negative: the panel's condition keeps every tap inside its row)
                    let s0 = (b + toff) as usize;
                    *dst = plane[s0..s0 + NR].try_into().expect("NR-sized");
                    continue;
                }
                if interior[q] {
                    let iy = (oy0 * sh) as isize + yoff;
                    if iy < 0 || iy >= h as isize {
                        *dst = [0.0; NR];
                    } else {
                        let s0 = iy as usize * w + (ox0 as isize + xoff) as usize;
                        *dst = plane[s0..s0 + NR].try_into().expect("NR-sized");
                    }
                    continue;
                }
                if self.deint && ox0 + wid <= ow {
                    // Stride 2 on de-interleaved rows: columns ix0, ix0+2, … are adjacent.
                    let iy = (oy0 * sh) as isize + yoff;
                    if iy < 0 || iy >= h as isize {
                        *dst = [0.0; NR];
                        continue;
                    }
                    let row = &plane[iy as usize * w..(iy as usize + 1) * w];
                    let half = w.div_ceil(2);
                    let ix0 = (ox0 * 2) as isize + xoff;
                    if ix0 >= 0 && ix0 as usize + 2 * (wid - 1) < w {
                        let s0 = deint_index(ix0 as usize, half);
                        if wid == NR {
                            *dst = row[s0..s0 + NR].try_into().expect("NR-sized");
                        } else {
                            dst[..wid].copy_from_slice(&row[s0..s0 + wid]);
                            dst[wid..].fill(0.0);
                        }
                    } else {
                        *dst = [0.0; NR];
                        for (t, d) in dst.iter_mut().enumerate().take(wid) {
                            let ix = ix0 + 2 * t as isize;
                            if ix >= 0 && (ix as usize) < w {
                                *d = row[deint_index(ix as usize, half)];
                            }
                        }
                    }
                    continue;
                }
                if ox0 + wid <= ow {
                    // Whole panel within one output row.
                    let iy = (oy0 * sh) as isize + yoff;
                    if iy < 0 || iy >= h as isize {
                        *dst = [0.0; NR];
                        continue;
                    }
                    let row = &plane[iy as usize * w..(iy as usize + 1) * w];
                    let start = (ox0 * sw) as isize + xoff;
                    // Valid t: 0 <= start + t*sw < w.
                    let lo = if start >= 0 {
                        0
                    } else {
                        ((-start) as usize).div_ceil(sw)
                    }
                    .min(wid);
                    let hi = if start >= w as isize {
                        0
                    } else {
                        ((w as isize - start) as usize).div_ceil(sw)
                    }
                    .clamp(lo, wid);
                    if lo == 0 && hi == NR && sw == 1 {
                        let s0 = start as usize;
                        *dst = row[s0..s0 + NR].try_into().expect("NR-sized");
                        continue;
                    }
                    *dst = [0.0; NR];
                    for (t, d) in dst.iter_mut().enumerate().take(hi).skip(lo) {
                        *d = row[(start + (t * sw) as isize) as usize];
                    }
                    continue;
                }
                let (mut oy, mut ox) = (oy0, ox0);
                *dst = [0.0; NR];
                for d in dst.iter_mut().take(wid) {
                    let iy = (oy * sh) as isize + yoff;
                    let ix = (ox * sw) as isize + xoff;
                    if iy >= 0 && iy < h as isize && ix >= 0 && ix < w as isize {
                        let ix = if self.deint {
                            deint_index(ix as usize, w.div_ceil(2))
                        } else {
                            ix as usize
                        };
                        *d = plane[iy as usize * w + ix];
                    }
                    ox += 1;
                    if ox == ow {
                        ox = 0;
                        oy += 1;
                    }
                }
            }
        }
    }
}

/// Output-channel affine folding (`y = y·s + t`) for weights that support it; used by
/// the optimizer to absorb BatchNorm, per-channel Add/Mul and scalar scale/shift.
pub(crate) trait ChannelAffine {
    fn cout(&self) -> usize;
    fn scale_shift(&mut self, s: &[f32], t: &[f32]);
}

impl ChannelAffine for ConvWeights {
    fn cout(&self) -> usize {
        self.cout
    }
    fn scale_shift(&mut self, s: &[f32], t: &[f32]) {
        let per = self.w.len() / self.cout.max(1);
        for co in 0..self.cout {
            self.w[co * per..(co + 1) * per]
                .iter_mut()
                .for_each(|v| *v *= s[co]);
            self.bias[co] = self.bias[co] * s[co] + t[co];
        }
        self.packed.clear();
        self.winograd.clear();
        self.winograd4.clear();
    }
}

/// ConvTranspose weights: ONNX layout `[cin, cout_g, kh, kw]`, plus the per-group
/// transposed-and-packed GEMM operand `Wᵀ[cout_g·kh·kw × cin_g]`.
#[derive(Clone, Debug)]
pub(crate) struct CtWeights {
    pub w: Vec<f32>,
    pub bias: Vec<f32>,
    pub cin: usize,
    pub cout_g: usize,
    pub kernel: [usize; 2],
    pub packed: Vec<PackedA>,
}

impl CtWeights {
    pub fn from_tensors(
        w: &Tensor,
        b: Option<&Tensor>,
        kernel: [usize; 2],
        group: usize,
    ) -> Result<Self, String> {
        let wa = w.as_f32()?;
        let s = wa.shape();
        if s.len() != 4
            || [s[2], s[3]] != kernel
            || group == 0
            || s[0] == 0
            || !s[0].is_multiple_of(group)
        {
            return Err(format!(
                "weight shape {s:?} does not fit kernel {kernel:?} and group {group}"
            ));
        }
        let cout = s[1]
            .checked_mul(group)
            .ok_or_else(|| format!("{} × group {group} output channels overflow", s[1]))?;
        let bias = match b {
            Some(b) => {
                let ba = b.as_f32()?;
                if ba.len() != cout {
                    return Err(format!("bias has {} elements, expected {cout}", ba.len()));
                }
                data(ba).to_vec()
            }
            None => vec![0.0; cout],
        };
        let mut cw = CtWeights {
            w: data(wa).to_vec(),
            bias,
            cin: s[0],
            cout_g: s[1],
            kernel,
            packed: vec![],
        };
        cw.pack(group)?;
        Ok(cw)
    }

    /// (Re)packs the transposed weights per group; an impossible `group` is refused before
    /// anything is allocated for it.
    pub fn pack(&mut self, group: usize) -> Result<(), String> {
        check_group(group, self.cin, "input")?;
        let cin_g = self.cin / group;
        let kk = self.cout_g * self.kernel[0] * self.kernel[1];
        self.packed = (0..group)
            .map(|g| {
                // Wᵀ for this group: row = (co, ky, kx), column = ci.
                let mut t = vec![0f32; kk * cin_g];
                for ci in 0..cin_g {
                    for r in 0..kk {
                        t[r * cin_g + ci] = self.w[(g * cin_g + ci) * kk + r];
                    }
                }
                PackedA::new(&t, kk, cin_g, cin_g)
            })
            .collect();
        Ok(())
    }
}

impl ChannelAffine for CtWeights {
    fn cout(&self) -> usize {
        self.bias.len()
    }
    fn scale_shift(&mut self, s: &[f32], t: &[f32]) {
        let group = self.bias.len() / self.cout_g.max(1);
        let cin_g = self.cin / group.max(1);
        let kpos = self.kernel[0] * self.kernel[1];
        for ci in 0..self.cin {
            let g = ci / cin_g.max(1);
            for col in 0..self.cout_g {
                let co = g * self.cout_g + col;
                let base = (ci * self.cout_g + col) * kpos;
                self.w[base..base + kpos]
                    .iter_mut()
                    .for_each(|v| *v *= s[co]);
            }
        }
        for co in 0..self.bias.len() {
            self.bias[co] = self.bias[co] * s[co] + t[co];
        }
        self.packed.clear();
    }
}

#[derive(Clone, Debug)]
pub(crate) struct ConvTranspose {
    pub geo: Geometry,
    pub group: usize,
    pub output_padding: [usize; 2],
    pub post: Chain,
    /// Captured at load time by the optimizer; `None` reads weight/bias from inputs.
    pub weights: Option<CtWeights>,
}

impl ConvTranspose {
    pub fn run(&self, inputs: &[Input<'_>], alloc: &mut BufPool) -> Result<Tensor, String> {
        let x = inputs[0].get().as_f32()?;
        let owned;
        let wts = match &self.weights {
            Some(w) => w,
            None => {
                let w = inputs
                    .get(1)
                    .and_then(|i| i.opt())
                    .ok_or("missing weight input")?;
                let b = inputs.get(2).and_then(|i| i.opt());
                owned = CtWeights::from_tensors(w, b, self.geo.kernel, self.group)?;
                &owned
            }
        };
        let xs = x.shape();
        if xs.len() != 4 {
            return Err(format!("expected a rank-4 NCHW input, got shape {xs:?}"));
        }
        let g = self.group;
        let (n, cin, h, w) = (xs[0], xs[1], xs[2], xs[3]);
        if g == 0 || wts.cin != cin || cin % g != 0 || wts.packed.len() != g {
            return Err(format!(
                "input has {cin} channels; weights expect {} (group {g})",
                wts.cin
            ));
        }
        if self.geo.auto_pad != AutoPad::NotSet && self.geo.auto_pad != AutoPad::Valid {
            return Err("ConvTranspose auto_pad SAME_* is not supported".into());
        }
        // Non-overlapping windows (kernel == stride, no padding): each input pixel owns
        // its output block; see `convt.rs`.
        if super::convt::disjoint(self) {
            let stage = super::convt::Stage {
                wts,
                group: g,
                post: &self.post,
            };
            return super::convt::run(x, &[stage], alloc);
        }
        let cout_g = wts.cout_g;
        let cout = cout_g * g;
        let cin_g = cin / g;
        let [kh, kw] = self.geo.kernel;
        let [sh, sw] = self.geo.strides;
        let [dh, dw] = self.geo.dilations;
        let [pt, pl, pb, pr] = if self.geo.auto_pad == AutoPad::Valid {
            [0; 4]
        } else {
            self.geo.pads
        };
        if h == 0 || w == 0 {
            return Err(format!("empty spatial input {xs:?}"));
        }
        let full_h = (h - 1) * sh + (kh - 1) * dh + 1 + self.output_padding[0];
        let full_w = (w - 1) * sw + (kw - 1) * dw + 1 + self.output_padding[1];
        if full_h < pt + pb + 1 || full_w < pl + pr + 1 {
            return Err("padding larger than the output".into());
        }
        let (oh, ow) = (full_h - pt - pb, full_w - pl - pr);
        let out_shape = [n, cout, oh, ow];
        let mut out = alloc.take(checked_numel(&out_shape)?);
        if out.is_empty() {
            return Ok(Tensor::F32(f32_array(&out_shape, out)));
        }
        let kk = cout_g * kh * kw;
        let hw = h * w;
        let xd = data(x);
        let threads = rayon::current_num_threads();
        // General case: full column matrix per (image, group), then a parallel scatter
        // per output channel (accumulating overlaps).
        let mut col = vec![0f32; kk * hw];
        for b in 0..n {
            for gi in 0..g {
                let xin = &xd[(b * cin + gi * cin_g) * hw..][..cin_g * hw];
                let mut pack = Vec::new();
                // SAFETY: `col` is kk × hw with row stride hw, exclusively ours.
                unsafe {
                    gemm_tile(
                        &wts.packed[gi],
                        BSrc::Pack(&MatB { data: xin, ld: hw }),
                        None,
                        0,
                        kk,
                        0,
                        hw,
                        col.as_mut_ptr(),
                        hw,
                        &mut pack,
                        &[],
                    )
                };
                let plane_out = &mut out[(b * cout + gi * cout_g) * oh * ow..][..cout_g * oh * ow];
                let scatter = |cl: usize, dst: &mut [f32]| {
                    dst.fill(wts.bias[gi * cout_g + cl]);
                    for ky in 0..kh {
                        for kx in 0..kw {
                            let crow = &col[((cl * kh + ky) * kw + kx) * hw..][..hw];
                            for iy in 0..h {
                                let oy = (iy * sh + ky * dh) as isize - pt as isize;
                                if oy < 0 || oy >= oh as isize {
                                    continue;
                                }
                                let orow = &mut dst[oy as usize * ow..][..ow];
                                for ix in 0..w {
                                    let ox = (ix * sw + kx * dw) as isize - pl as isize;
                                    if ox >= 0 && (ox as usize) < ow {
                                        orow[ox as usize] += crow[iy * w + ix];
                                    }
                                }
                            }
                        }
                    }
                    apply_chain(&self.post, dst);
                };
                if threads > 1 {
                    plane_out
                        .par_chunks_mut(oh * ow)
                        .enumerate()
                        .for_each(|(i, d)| scatter(i, d));
                } else {
                    plane_out
                        .chunks_mut(oh * ow)
                        .enumerate()
                        .for_each(|(i, d)| scatter(i, d));
                }
            }
        }
        Ok(Tensor::F32(f32_array(&out_shape, out)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::depthwise::{dw_fast_geometry, DW_FIVE, DW_WHOLE_PLANE};
    use crate::ops::elementwise::Step;

    /// The GEMM path's arithmetic per output element: the bias, then one fused multiply-add
    /// per (input channel, ky, kx) tap in that order, zero outside the input.
    fn reference(
        x: &[f32],
        wts: &ConvWeights,
        geo: &Geometry,
        r: Resolved,
        [c, h, w]: [usize; 3],
    ) -> Vec<f32> {
        let ([kh, kw], [dh, dw]) = (geo.kernel, geo.dilations);
        let mut out = vec![0f32; wts.cout * r.oh * r.ow];
        for co in 0..wts.cout {
            for oy in 0..r.oh {
                for ox in 0..r.ow {
                    let mut acc = wts.bias[co];
                    for ci in 0..c {
                        for ky in 0..kh {
                            for kx in 0..kw {
                                let iy = (oy * geo.strides[0] + ky * dh) as isize - r.pt as isize;
                                let ix = (ox * geo.strides[1] + kx * dw) as isize - r.pl as isize;
                                let v =
                                    if iy >= 0 && ix >= 0 && (iy as usize) < h && (ix as usize) < w
                                    {
                                        x[(ci * h + iy as usize) * w + ix as usize]
                                    } else {
                                        0.0
                                    };
                                let wv = wts.w[((co * c + ci) * kh + ky) * kw + kx];
                                acc = wv.mul_add(v, acc);
                            }
                        }
                    }
                    out[(co * r.oh + oy) * r.ow + ox] = acc;
                }
            }
        }
        out
    }

    /// cin, cout, h, w, kernel, pads (top, left, bottom, right), dilations, strides.
    type Case = (
        usize,
        usize,
        usize,
        usize,
        [usize; 2],
        [usize; 4],
        [usize; 2],
        [usize; 2],
    );

    /// Deterministic test values in [-0.5, 0.5): `(i·a mod b) / b − 0.5`.
    fn val(i: usize, a: usize, b: usize) -> f32 {
        ((i * a) % b) as f32 / b as f32 - 0.5
    }

    /// A geometry without auto-padding, in the order of a [`Case`]'s last four fields.
    fn geometry(
        kernel: [usize; 2],
        pads: [usize; 4],
        dilations: [usize; 2],
        strides: [usize; 2],
    ) -> Geometry {
        Geometry {
            kernel,
            strides,
            pads,
            dilations,
            auto_pad: AutoPad::NotSet,
        }
    }

    /// One case's weights (packed), geometry, input and the reference output.
    fn case_data(case: &Case) -> (ConvWeights, Geometry, Resolved, Vec<f32>, Vec<f32>) {
        let &(c, cout, h, w, kernel, pads, dilations, strides) = case;
        let k = c * kernel[0] * kernel[1];
        let mut wts = ConvWeights {
            w: (0..cout * k).map(|i| val(i, 7, 31)).collect(),
            bias: (0..cout).map(|i| val(i, 3, 11)).collect(),
            cout,
            cin_g: c,
            packed: vec![],
            winograd: vec![],
            winograd4: vec![],
        };
        wts.pack(1).unwrap();
        let geo = geometry(kernel, pads, dilations, strides);
        let r = geo.resolve(h, w, false).unwrap();
        let x: Vec<f32> = (0..c * h * w).map(|i| val(i, 13, 97)).collect();
        let want = reference(&x, &wts, &geo, r, [c, h, w]);
        (wts, geo, r, x, want)
    }

    fn assert_same_bits(case: &Case, got: &[f32], want: &[f32]) {
        assert_eq!(got.len(), want.len(), "{case:?}");
        for (i, (g, e)) in got.iter().zip(want).enumerate() {
            assert_eq!(g.to_bits(), e.to_bits(), "{case:?} element {i}: {g} vs {e}");
        }
    }

    /// `fill_phase` against its definition, including phases that read no column at all
    /// (a 1-column input under a stride-3 window with left padding panicked).
    #[test]
    fn phases_match_their_definition() {
        for len in [1usize, 2, 5, 9] {
            let src: Vec<f32> = (0..len).map(|i| i as f32 + 1.0).collect();
            for off in -4isize..5 {
                for step in 1..=4usize {
                    for n in 0..7usize {
                        let want: Vec<f32> = (0..n)
                            .map(|j| {
                                let i = j as isize * step as isize + off;
                                if (0..len as isize).contains(&i) {
                                    src[i as usize]
                                } else {
                                    0.0
                                }
                            })
                            .collect();
                        let mut got = vec![f32::NAN; n];
                        fill_phase(&mut got, &src, off, step);
                        assert_eq!(got, want, "len {len} off {off} step {step} n {n}");
                    }
                }
            }
        }
    }

    #[test]
    fn conv_has_the_bits_of_the_reference_on_every_path() {
        // Whatever path the CPU and `WENZI_NN_MAX_ISA` pick (direct, or im2col + GEMM with
        // its interior fast copies, stride 2 from de-interleaved rows), every element is
        // the bias plus the same fused multiply-adds in the same order.
        let cases: &[Case] = &[
            (3, 5, 9, 40, [3, 3], [1, 1, 1, 1], [1, 1], [1, 1]),
            (8, 13, 11, 53, [5, 5], [2, 1, 0, 3], [1, 1], [1, 1]),
            (4, 7, 12, 40, [3, 3], [2, 2, 2, 2], [2, 2], [1, 1]),
            (48, 24, 20, 150, [3, 3], [1, 1, 1, 1], [1, 1], [2, 2]),
            (3, 16, 9, 97, [3, 3], [1, 1, 1, 1], [1, 1], [2, 2]),
            (5, 6, 8, 80, [5, 5], [2, 2, 1, 1], [1, 1], [2, 2]),
            (4, 9, 7, 71, [2, 4], [0, 0, 0, 1], [2, 1], [1, 2]),
            (7, 12, 9, 66, [3, 3], [1, 1, 1, 1], [1, 1], [2, 1]),
            (6, 8, 6, 64, [3, 3], [0, 0, 0, 0], [1, 1], [2, 2]),
            // Few channels under a 1×1 kernel (`pointwise_small`): whole 32-pixel blocks,
            // a tail, and a plane of two pixel runs.
            (8, 24, 12, 96, [1, 1], [0, 0, 0, 0], [1, 1], [1, 1]),
            (5, 7, 3, 37, [1, 1], [0, 0, 0, 0], [1, 1], [1, 1]),
            (32, 9, 50, 45, [1, 1], [0, 0, 0, 0], [1, 1], [1, 1]),
            // A 1×1 map under a padded 1×1 kernel: the one output reads padding, so it is
            // the bias alone (not the dot products of `pointwise_vectors`).
            (3, 5, 1, 1, [1, 1], [1, 1, 1, 1], [1, 1], [3, 3]),
        ];
        for case in cases {
            let (got, want) = run_case(case);
            assert_same_bits(case, &got, &want);
        }
    }

    /// `Conv::run` on a case (one group, no chain), its output's shape checked: the output
    /// and the reference's.
    fn run_case(case: &Case) -> (Vec<f32>, Vec<f32>) {
        let (wts, geo, r, x, want) = case_data(case);
        let &(c, cout, h, w, ..) = case;
        let conv = Conv {
            geo,
            group: 1,
            weights: Some(wts),
            post: Vec::new(),
        };
        let xt = Tensor::F32(f32_array(&[1, c, h, w], x));
        let got = conv
            .run(&[Input::Ref(&xt)], &mut BufPool::default())
            .unwrap()
            .into_f32()
            .unwrap();
        assert_eq!(got.shape(), [1, cout, r.oh, r.ow], "{case:?}");
        (got.into_raw_vec_and_offset().0, want)
    }

    /// Random geometries (1-column and 1-row inputs, kernels up to 5, strides up to 3,
    /// dilation 2, pads up to the kernel's reach) on whichever path this CPU takes: the
    /// reference's bits, and no panic.
    #[test]
    fn random_geometries_have_the_bits_of_the_reference() {
        let mut rnd = super::super::xorshift(0x2545_f491_4f6c_dd1d);
        let mut ran = 0;
        for _ in 0..300 {
            let kernel = [1 + rnd(5), 1 + rnd(5)];
            let dilations = [1 + rnd(2), 1 + rnd(2)];
            let reach = [
                (kernel[0] - 1) * dilations[0],
                (kernel[1] - 1) * dilations[1],
            ];
            let pads = [
                rnd(reach[0] + 1),
                rnd(reach[1] + 1),
                rnd(reach[0] + 1),
                rnd(reach[1] + 1),
            ];
            let strides = [1 + rnd(3), 1 + rnd(3)];
            let case: Case = (
                1 + rnd(9),
                1 + rnd(20),
                1 + rnd(30),
                1 + rnd(70),
                kernel,
                pads,
                dilations,
                strides,
            );
            let geo = geometry(kernel, pads, dilations, strides);
            let Ok(r) = geo.resolve(case.2, case.3, false) else {
                continue;
            };
            ran += 1;
            let (got, want) = run_case(&case);
            // The cases `pointwise_vectors` takes: an unpadded 1×1 kernel over a 1×1 map.
            let one_pixel = kernel == [1, 1]
                && [case.2, case.3, r.oh, r.ow] == [1, 1, 1, 1]
                && [r.pt, r.pl] == [0, 0];
            if (case.0 == 1 && case.1 == 1) || one_pixel {
                // One channel in and out is the depthwise kernel, and a 1×1 map under a 1×1
                // kernel takes dot products (`dot_rows`); both sum the taps in their own
                // order: equal within roundings.
                for (g, e) in got.iter().zip(&want) {
                    assert!(
                        (g - e).abs() <= 1e-5 * (1.0 + e.abs()),
                        "{case:?}: {g} vs {e}"
                    );
                }
            } else {
                assert_same_bits(&case, &got, &want);
            }
        }
        assert!(ran >= 150, "only {ran} geometries fit their inputs");
    }

    /// Pixel tiles cover every pixel once, in whole panels of at most `TILE_N` pixels,
    /// their widths differ by at most a panel, and where there are more tiles than
    /// threads their count is a multiple of the threads.
    #[test]
    fn pixel_tiles_are_even_and_feed_every_thread() {
        assert_eq!(pixel_tiles(3600, 2), 16);
        assert_eq!(pixel_tiles(3600, 1), 15);
        assert_eq!(pixel_tiles(480, 2), 2);
        for threads in [1, 2, 3, 4] {
            for npix in (1..6000).step_by(7).chain([240, 480, 900, 3600, 14400]) {
                let n = pixel_tiles(npix, threads);
                let fewest = npix.div_ceil(TILE_N);
                if fewest > threads {
                    assert_eq!(
                        n % threads,
                        0,
                        "{npix} pixels, {threads} threads: {n} tiles"
                    );
                }
                let widths: Vec<usize> = (0..n)
                    .map(|t| {
                        let (a, b) = (tile_start(t, n, npix), tile_start(t + 1, n, npix));
                        assert!(
                            a % NR == 0 && b > a && b - a <= TILE_N,
                            "{npix}/{n}: tile {t}"
                        );
                        b - a
                    })
                    .collect();
                assert_eq!((tile_start(0, n, npix), tile_start(n, n, npix)), (0, npix));
                let full: Vec<_> = widths[..n - 1].iter().collect();
                if let (Some(lo), Some(hi)) = (full.iter().min(), full.iter().max()) {
                    assert!(**hi - **lo <= NR, "{npix} pixels in {n} tiles: {widths:?}");
                }
            }
        }
    }

    /// A 1×1 conv through the GEMM path on maps of 3600 and 900 pixels (15 and 4 tiles
    /// on one thread, 16 on two, 15 on three): on every pool size the bits of the bias
    /// followed by each input channel's fused multiply-add in order.
    #[test]
    fn gemm_convs_have_the_same_bits_on_any_pool() {
        for side in [60, 30] {
            let case = (40, 20, side, side, [1, 1], [0; 4], [1, 1], [1, 1]);
            let (wts, geo, _, x, want) = case_data(&case);
            let conv = Conv {
                geo,
                group: 1,
                weights: Some(wts),
                post: Vec::new(),
            };
            let xt = Tensor::F32(f32_array(&[1, 40, side, side], x));
            for threads in [1, 2, 3] {
                let pool = rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .build()
                    .unwrap();
                let got = pool
                    .install(|| conv.run(&[Input::Ref(&xt)], &mut BufPool::default()))
                    .unwrap()
                    .into_f32()
                    .unwrap();
                assert_same_bits(&case, got.as_slice().unwrap(), &want);
            }
        }
    }

    /// 1×1 convs of batches of 1×1 maps (`pointwise_vectors`): every image, every output
    /// channel, input lengths around the 16-lane blocks, the bias and the chain applied;
    /// against the reference within roundings (the dot products sum in 16 lanes).
    #[test]
    fn one_pixel_batches_match_the_reference() {
        for (n, c, cout) in [
            (1, 1, 1),
            (3, 7, 5),
            (8, 16, 50),
            (8, 200, 50),
            (2, 33, 17),
            (5, 50, 200),
        ] {
            let case: Case = (c, cout, 1, 1, [1, 1], [0; 4], [1, 1], [1, 1]);
            let (wts, geo, r, _, _) = case_data(&case);
            let x: Vec<f32> = (0..n * c).map(|i| val(i, 13, 97) * 3.0).collect();
            let conv = Conv {
                geo: geo.clone(),
                group: 1,
                weights: Some(wts),
                post: vec![Step::Relu],
            };
            let xt = Tensor::F32(f32_array(&[n, c, 1, 1], x.clone()));
            let got = conv
                .run(&[Input::Ref(&xt)], &mut BufPool::default())
                .unwrap()
                .into_f32()
                .unwrap();
            assert_eq!(got.shape(), [n, cout, 1, 1]);
            let got = got.into_raw_vec_and_offset().0;
            let wts = conv.weights.as_ref().unwrap();
            let mut negatives = 0;
            for b in 0..n {
                let want = reference(&x[b * c..(b + 1) * c], wts, &geo, r, [c, 1, 1]);
                for (m, e) in want.iter().enumerate() {
                    negatives += usize::from(*e < 0.0);
                    let g = got[b * cout + m];
                    let e = e.max(0.0);
                    assert!(
                        (g - e).abs() <= 1e-5 * (1.0 + e.abs()),
                        "n {n} c {c} cout {cout}: image {b} channel {m}: {g} vs {e}"
                    );
                }
            }
            // The Relu had something to do (the cases are not all positive).
            assert!(n * cout < 10 || negatives > 0);
        }
    }

    /// Random depthwise geometries (several channels and images, kernels up to the ring's 8
    /// rows, strides up to 3, pads past the kernel, 1-row and 1-column planes) against the
    /// depthwise kernels' own arithmetic: the bias, then `w · x` (a multiply, then an add)
    /// per tap inside the input, kernel rows then columns in order. Equal values (padding
    /// taps, which add ±0, may change only a zero's sign).
    #[test]
    fn depthwise_sums_every_tap_in_order_in_any_geometry() {
        let mut rnd = super::super::xorshift(0x9e37_79b9_7f4a_7c15);
        let (mut ran, mut five_blocks, mut ring) = (0, 0, 0);
        for _ in 0..400 {
            let kernel = [1 + rnd(8), 1 + rnd(7)];
            let dilations = [1 + rnd(2) * rnd(2), 1 + rnd(2) * rnd(2)];
            let pads = [rnd(kernel[0] + 2), rnd(4), rnd(kernel[0] + 2), rnd(4)];
            let strides = [1 + rnd(3), 1 + rnd(3)];
            // A third of the widths near 80, so that rows of 40 and 80 outputs (the
            // recognizers', in blocks of `DW_FIVE`) come up.
            let w = if rnd(3) == 0 {
                78 + rnd(8)
            } else {
                1 + rnd(90)
            };
            // One case in eight on a plane too large to pad whole (the row ring's path).
            let big = rnd(8) == 0;
            let w = if big { 150 + rnd(60) } else { w };
            let (n, c, h) = (
                1 + rnd(2),
                1 + rnd(5),
                if big { 60 + rnd(40) } else { 1 + rnd(12) },
            );
            let geo = geometry(kernel, pads, dilations, strides);
            let Ok(r) = geo.resolve(h, w, false) else {
                continue;
            };
            ran += 1;
            let fast = dw_fast_geometry(&geo) && [3, 5, 7].contains(&kernel[1]);
            five_blocks += usize::from(fast && r.ow.is_multiple_of(DW_FIVE));
            let pw = (r.ow - 1) * strides[1] + kernel[1];
            let row_len = if strides[1] == 2 {
                2 * pw.div_ceil(2)
            } else {
                pw
            };
            ring += usize::from(fast && h * row_len > DW_WHOLE_PLANE);
            let [kh, kw] = kernel;
            let mut wts = ConvWeights {
                w: (0..c * kh * kw).map(|i| val(i, 7, 31)).collect(),
                bias: (0..c).map(|i| val(i, 3, 11)).collect(),
                cout: c,
                cin_g: 1,
                packed: vec![],
                winograd: vec![],
                winograd4: vec![],
            };
            wts.pack(c).unwrap();
            let x: Vec<f32> = (0..n * c * h * w).map(|i| val(i, 13, 97)).collect();
            let conv = Conv {
                geo: geo.clone(),
                group: c,
                weights: Some(wts.clone()),
                post: Vec::new(),
            };
            let xt = Tensor::F32(f32_array(&[n, c, h, w], x.clone()));
            let got = conv
                .run(&[Input::Ref(&xt)], &mut BufPool::default())
                .unwrap()
                .into_f32()
                .unwrap();
            let case = (n, c, h, w, kernel, pads, dilations, strides);
            assert_eq!(got.shape(), [n, c, r.oh, r.ow], "{case:?}");
            let got = got.into_raw_vec_and_offset().0;
            for (plane, out) in got.chunks(r.oh * r.ow).enumerate() {
                let ch = plane % c;
                let src = &x[plane * h * w..(plane + 1) * h * w];
                for (i, &g) in out.iter().enumerate() {
                    let (oy, ox) = (i / r.ow, i % r.ow);
                    let mut acc = wts.bias[ch];
                    for ky in 0..kh {
                        let iy = (oy * strides[0] + ky * dilations[0]) as isize - r.pt as isize;
                        if iy < 0 || iy >= h as isize {
                            continue;
                        }
                        for kx in 0..kw {
                            let ix = (ox * strides[1] + kx * dilations[1]) as isize - r.pl as isize;
                            if ix >= 0 && ix < w as isize {
                                let v = src[iy as usize * w + ix as usize];
                                acc += wts.w[(ch * kh + ky) * kw + kx] * v;
                            }
                        }
                    }
                    assert!(g == acc, "{case:?} plane {plane} pixel {i}: {g} vs {acc}");
                }
            }
        }
        assert!(ran >= 200, "only {ran} geometries fit their inputs");
        assert!(
            five_blocks >= 3,
            "only {five_blocks} cases with rows in blocks of {DW_FIVE}"
        );
        assert!(
            ring >= 3,
            "only {ring} fast cases on planes too large to pad whole"
        );
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn direct_conv_has_the_bits_of_the_gemm_path() {
        if crate::packed::direct_block().is_none() {
            eprintln!("no AVX2 or AVX-512 here: the direct path is not used");
            return;
        }
        // Edges, tails shorter than a 16- or 32-pixel block, more than one k block
        // (cin·kh·kw > 256), odd channel counts.
        let cases: &[Case] = &[
            (3, 5, 9, 7, [3, 3], [1, 1, 1, 1], [1, 1], [1, 1]),
            (32, 24, 6, 70, [3, 3], [1, 1, 1, 1], [1, 1], [1, 1]),
            (8, 13, 11, 33, [5, 5], [2, 1, 0, 3], [1, 1], [1, 1]),
            (4, 7, 12, 40, [3, 3], [2, 2, 2, 2], [2, 2], [1, 1]),
            (6, 12, 5, 45, [1, 7], [0, 3, 0, 3], [1, 1], [1, 1]),
            (2, 1, 3, 3, [3, 3], [0, 0, 0, 0], [1, 1], [1, 1]),
            // Strides (the window's column phases): 2 with odd and even padding, odd and
            // even widths, more than one k block; 3; 2 in one direction only; dilated.
            (3, 24, 19, 41, [3, 3], [1, 1, 1, 1], [1, 1], [2, 2]),
            (96, 13, 9, 36, [3, 3], [1, 1, 1, 1], [1, 1], [2, 2]),
            (5, 8, 10, 37, [2, 2], [0, 0, 0, 0], [1, 1], [2, 2]),
            (4, 6, 11, 50, [5, 5], [2, 2, 2, 2], [1, 1], [3, 3]),
            (7, 9, 8, 35, [3, 3], [1, 0, 1, 2], [1, 1], [1, 2]),
            (6, 5, 12, 33, [3, 3], [2, 2, 2, 2], [2, 2], [2, 2]),
            // Fewer output rows than threads: the output channels split into parts of 12
            // (a 1-row map with 30 and 37 channels, a 3-row one with 25, one with 12).
            (20, 30, 3, 40, [3, 3], [1, 1, 1, 1], [1, 1], [1, 1]),
            (9, 37, 1, 21, [1, 3], [0, 1, 0, 1], [1, 1], [1, 1]),
            (7, 25, 6, 18, [3, 3], [1, 1, 1, 1], [1, 1], [2, 2]),
            (5, 12, 2, 30, [3, 3], [1, 1, 1, 1], [1, 1], [1, 1]),
        ];
        // Every split of rows and channels the pool sizes give: results must not change.
        for threads in [1, 2, 3, 5] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            for case in cases {
                let (wts, geo, r, x, want) = case_data(case);
                let &(c, cout, h, w, ..) = case;
                let mut got = vec![f32::NAN; cout * r.oh * r.ow];
                let planes = Planes::of(&mut got, r.oh * r.ow);
                // SAFETY: the planes cover `got`.
                pool.install(|| unsafe {
                    direct_conv(&x, planes, &wts, &geo, r, [1, c, h, w], &Vec::new())
                });
                assert_same_bits(case, &got, &want);
                // A batch of three (the case's image, then it negated, then doubled): each
                // image as it is alone, whatever the split of images, bands and channels.
                let xs: Vec<f32> = [1.0f32, -1.0, 2.0]
                    .iter()
                    .flat_map(|&k| x.iter().map(move |v| v * k))
                    .collect();
                let plane = r.oh * r.ow;
                let mut alone = Vec::new();
                for img in xs.chunks(x.len()) {
                    let mut o = vec![f32::NAN; cout * plane];
                    let planes = Planes::of(&mut o, plane);
                    // SAFETY: the planes cover `o`.
                    pool.install(|| unsafe {
                        direct_conv(img, planes, &wts, &geo, r, [1, c, h, w], &Vec::new())
                    });
                    alone.extend(o);
                }
                let mut batch = vec![f32::NAN; 3 * cout * plane];
                let planes = Planes::of(&mut batch, plane);
                // SAFETY: the planes cover `batch`.
                pool.install(|| unsafe {
                    direct_conv(&xs, planes, &wts, &geo, r, [3, c, h, w], &Vec::new())
                });
                assert_same_bits(case, &batch, &alone);
            }
        }
    }
}
