//! Pre- and post-processing for the PP-OCR DB (Differentiable Binarization) text detector.
//!
//! The network maps a `1×3×H×W` image tensor to a `1×1×H×W` text probability map whose
//! high-probability regions are *shrunk* text lines. Post-processing mirrors RapidOCR's
//! `DBPostProcess` (its defaults are [`DbParams::default`]): threshold, 2×2 dilation,
//! connected regions, minimum-area rectangle, mean-probability score, unclip (re-grow the
//! shrunk kernel), and mapping back to the original image.

use image::RgbImage;
use ndarray::{Array4, ArrayView2};
use wenzi_preprocess::components::label;
use wenzi_preprocess::{resize_for_det, to_nchw, ChannelOrder};

use crate::geometry::{convex_hull, min_area_rect_of_hull, order_quad, unclip_rect};
use crate::{sort_by_position, TextBox};

pub use wenzi_preprocess::{AdaptiveResize, DetResizePolicy};

/// Per-channel mean of the det model's normalization (applied to `pixel / 255`).
pub const DET_MEAN: [f32; 3] = [0.5, 0.5, 0.5];
/// Per-channel standard deviation of the det model's normalization.
pub const DET_STD: [f32; 3] = [0.5, 0.5, 0.5];
/// Channel order the det model expects (it was trained on OpenCV-loaded BGR images).
pub const DET_CHANNEL_ORDER: ChannelOrder = ChannelOrder::Bgr;

/// Builds the det model's input: resized per `policy` (sides multiples of 32), BGR,
/// `(v / 255 - 0.5) / 0.5`, shape `1×3×H×W` — exactly what RapidOCR feeds the PP-OCR det
/// models. Also returns the scale factors `resized / original` to pass to [`postprocess`].
pub fn prepare_input(img: &RgbImage, policy: &DetResizePolicy) -> (Array4<f32>, f32, f32) {
    let (resized, sx, sy) = resize_for_det(img, policy);
    (
        to_nchw(&resized, DET_MEAN, DET_STD, DET_CHANNEL_ORDER),
        sx,
        sy,
    )
}

/// The det model's input for one part of an image: `img` resized to `size` (the detector
/// size its whole page got, see [`prepare_input`]), then cut to `part` = `[x0, y0, x1, y1]`
/// in resized pixels, rounded out to the network's 32-pixel grid. Inside the part the
/// network sees exactly the pixels, on exactly the grid, of the whole page's input, so it
/// finds the same lines there for a fraction of the work.
///
/// Returns the input, the scale factors `resized / original` and the part's top-left corner
/// in resized pixels: a box [`postprocess`]ed from the part's map (with the part's size in
/// original pixels) is moved by `x0 / scale_x`, `y0 / scale_y` onto the image.
pub fn prepare_part(
    img: &RgbImage,
    size: (u32, u32),
    part: [u32; 4],
) -> (Array4<f32>, f32, f32, [u32; 2]) {
    let (w, h) = (size.0.max(32), size.1.max(32));
    let resized = wenzi_preprocess::resize_rgb(img, w, h);
    let down = |v: u32, max: u32| (v / 32 * 32).min(max.saturating_sub(32));
    let up = |v: u32, max: u32| v.div_ceil(32).saturating_mul(32).min(max);
    let (x0, y0) = (down(part[0], w), down(part[1], h));
    let (x1, y1) = (up(part[2], w).max(x0 + 32), up(part[3], h).max(y0 + 32));
    let cut = image::imageops::crop_imm(&resized, x0, y0, x1 - x0, y1 - y0).to_image();
    let sx = w as f32 / img.width().max(1) as f32;
    let sy = h as f32 / img.height().max(1) as f32;
    (
        to_nchw(&cut, DET_MEAN, DET_STD, DET_CHANNEL_ORDER),
        sx,
        sy,
        [x0, y0],
    )
}

/// How a candidate region is scored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ScoreMode {
    /// Mean probability inside the candidate's minimum-area rectangle (RapidOCR "fast").
    #[default]
    Fast,
    /// Mean probability over the region's own pixels (closer to RapidOCR "slow", which uses the
    /// contour polygon).
    Slow,
}

/// Post-processing parameters. Defaults are RapidOCR's (`config.yaml`, Det section).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DbParams {
    /// Probability above which a map pixel is text.
    pub thresh: f32,
    /// Minimum mean probability for a region to be kept.
    pub box_thresh: f32,
    /// At most this many regions are examined (raster order).
    pub max_candidates: usize,
    /// Unclip ratio: regions grow by `area * ratio / perimeter` per side.
    pub unclip_ratio: f32,
    /// Dilate the binary map with a 2×2 kernel first (joins kernels split by one pixel).
    pub use_dilation: bool,
    /// Region scoring.
    pub score_mode: ScoreMode,
    /// Regions whose rectangle's short side is below this (map pixels) are dropped; after
    /// unclip the limit is `min_size + 2`.
    pub min_size: f32,
}

impl Default for DbParams {
    fn default() -> Self {
        Self {
            thresh: 0.3,
            box_thresh: 0.5,
            max_candidates: 1000,
            unclip_ratio: 1.6,
            use_dilation: true,
            score_mode: ScoreMode::Fast,
            min_size: 3.0,
        }
    }
}

/// Turns a DB probability map (`H×W`, values in `[0, 1]`, the `[0, 0]` plane of the network
/// output) into text boxes in original-image coordinates, sorted top to bottom by their top
/// edge, then left to right ([`sort_by_position`]; reading order is
/// `wenzi-layout`'s job).
///
/// `scale_x`/`scale_y` are the factors returned by [`prepare_input`] (`map / original`);
/// `orig_w`/`orig_h` the original image size, to which boxes are clipped. Boxes whose sides are
/// under 4 pixels in the original image are dropped, as RapidOCR does. NaN probabilities count
/// as 0; non-positive or non-finite scales fall back to `map size / original size`.
pub fn postprocess(
    prob: ArrayView2<f32>,
    params: &DbParams,
    scale_x: f32,
    scale_y: f32,
    orig_w: u32,
    orig_h: u32,
) -> Vec<TextBox> {
    let (h, w) = prob.dim();
    if h == 0 || w == 0 || orig_w == 0 || orig_h == 0 {
        return Vec::new();
    }
    let fix_scale = |s: f32, map: usize, orig: u32| {
        if s.is_finite() && s > 0.0 {
            f64::from(s)
        } else {
            map as f64 / f64::from(orig)
        }
    };
    let (sx, sy) = (fix_scale(scale_x, w, orig_w), fix_scale(scale_y, h, orig_h));
    let p = |y: usize, x: usize| -> f64 {
        let v = prob[[y, x]];
        if v.is_finite() {
            f64::from(v)
        } else {
            0.0
        }
    };

    let mut mask: Vec<bool> = prob.iter().map(|&v| v > params.thresh).collect();
    if params.use_dilation {
        mask = dilate_2x2(&mask, w, h);
    }
    let comps = label(w as u32, h as u32, &mask);
    let by_comp = comps.runs_by_component();

    let min_size = f64::from(if params.min_size.is_finite() {
        params.min_size
    } else {
        3.0
    });
    let ratio = f64::from(params.unclip_ratio);
    let (max_x, max_y) = (f64::from(orig_w) - 1.0, f64::from(orig_h) - 1.0);
    let mut boxes = Vec::new();
    for run_ids in by_comp.iter().take(params.max_candidates) {
        // The hull of a pixel region is the hull of its row extremes (pixel centres, as
        // OpenCV's contour points are).
        let mut pts = Vec::with_capacity(run_ids.len() * 2);
        for &r in run_ids {
            let run = comps.runs[r];
            pts.push([run.x0 as f32, run.y as f32]);
            pts.push([run.x1 as f32, run.y as f32]);
        }
        let hull = convex_hull(&pts);
        let Some(rect) = min_area_rect_of_hull(&hull) else {
            continue;
        };
        if rect.short_side() < min_size {
            continue;
        }
        let score = match params.score_mode {
            ScoreMode::Fast => polygon_mean(&p, w, h, &rect.corners()),
            ScoreMode::Slow => {
                let (mut sum, mut n) = (0.0, 0usize);
                for &r in run_ids {
                    let run = comps.runs[r];
                    for x in run.x0..=run.x1 {
                        sum += p(run.y as usize, x as usize);
                    }
                    n += (run.x1 - run.x0 + 1) as usize;
                }
                sum / n.max(1) as f64
            }
        };
        if score.is_nan() || score < f64::from(params.box_thresh) {
            continue;
        }
        let grown = unclip_rect(&rect, ratio);
        if grown.short_side() < min_size + 2.0 {
            continue;
        }
        let quad = grown.corners().map(|c| {
            [
                (f64::from(c[0]) / sx).clamp(0.0, max_x) as f32,
                (f64::from(c[1]) / sy).clamp(0.0, max_y) as f32,
            ]
        });
        let tb = TextBox {
            points: order_quad(quad),
            score: score as f32,
        };
        if tb.width() < 4.0 || tb.height() < 4.0 {
            continue;
        }
        boxes.push(tb);
    }
    sort_by_position(&mut boxes);
    boxes
}

/// OpenCV `dilate` with a 2×2 kernel and default anchor (1, 1): a pixel is set if it or its
/// left, upper or upper-left neighbour is set.
fn dilate_2x2(mask: &[bool], w: usize, h: usize) -> Vec<bool> {
    let mut out = mask.to_vec();
    for y in 0..h {
        for x in 0..w {
            if out[y * w + x] {
                continue;
            }
            let left = x > 0 && mask[y * w + x - 1];
            let up = y > 0 && mask[(y - 1) * w + x];
            let diag = x > 0 && y > 0 && mask[(y - 1) * w + x - 1];
            out[y * w + x] = left || up || diag;
        }
    }
    out
}

/// X-extent of a convex polygon on the horizontal line `y`, if it meets it.
fn x_extent_at(poly: &[[f64; 2]; 4], y: f64) -> Option<(f64, f64)> {
    let mut lo = f64::INFINITY;
    let mut hi = f64::NEG_INFINITY;
    for i in 0..4 {
        let (a, b) = (poly[i], poly[(i + 1) % 4]);
        if (a[1] - y) * (b[1] - y) > 0.0 {
            continue; // edge entirely above or below
        }
        if (a[1] - b[1]).abs() < 1e-12 {
            lo = lo.min(a[0].min(b[0]));
            hi = hi.max(a[0].max(b[0]));
        } else {
            let x = a[0] + (y - a[1]) * (b[0] - a[0]) / (b[1] - a[1]);
            lo = lo.min(x);
            hi = hi.max(x);
        }
    }
    (lo <= hi).then_some((lo, hi))
}

/// Mean of the map over the pixels covered by a quadrilateral (RapidOCR `box_score_fast`:
/// vertices truncated to integers, boundary pixels included as `cv2.fillPoly` does),
/// restricted to the quad's clipped bounding box.
fn polygon_mean(p: &impl Fn(usize, usize) -> f64, w: usize, h: usize, quad: &[[f32; 2]; 4]) -> f64 {
    let clampi = |v: f64, hi: usize| v.clamp(0.0, (hi - 1) as f64) as usize;
    let xs = quad.map(|q| f64::from(q[0]));
    let ys = quad.map(|q| f64::from(q[1]));
    let fold_min = |v: [f64; 4]| v.iter().copied().fold(f64::INFINITY, f64::min);
    let fold_max = |v: [f64; 4]| v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let (xmin, xmax) = (
        clampi(fold_min(xs).floor(), w),
        clampi(fold_max(xs).ceil(), w),
    );
    let (ymin, ymax) = (
        clampi(fold_min(ys).floor(), h),
        clampi(fold_max(ys).ceil(), h),
    );
    let poly = quad.map(|q| [f64::from(q[0]).trunc(), f64::from(q[1]).trunc()]);
    let (pymin, pymax) = (fold_min(poly.map(|q| q[1])), fold_max(poly.map(|q| q[1])));

    let (mut sum, mut n) = (0.0, 0usize);
    for y in ymin..=ymax {
        let yf = y as f64;
        // Extent over the pixel's row band, so thin or steep polygons still cover their edges.
        let (lo_y, hi_y) = ((yf - 0.5).max(pymin), (yf + 0.5).min(pymax));
        if lo_y > hi_y {
            continue;
        }
        let mut lo = f64::INFINITY;
        let mut hi = f64::NEG_INFINITY;
        for yy in [lo_y, hi_y] {
            if let Some((a, b)) = x_extent_at(&poly, yy) {
                lo = lo.min(a);
                hi = hi.max(b);
            }
        }
        for q in &poly {
            if q[1] >= lo_y && q[1] <= hi_y {
                lo = lo.min(q[0]);
                hi = hi.max(q[0]);
            }
        }
        if lo > hi {
            continue;
        }
        let x0 = ((lo - 0.5).ceil().max(xmin as f64)) as usize;
        let x1f = (hi + 0.5).floor().min(xmax as f64);
        if x1f < x0 as f64 {
            continue;
        }
        for x in x0..=x1f as usize {
            sum += p(y, x);
            n += 1;
        }
    }
    if n == 0 {
        0.0
    } else {
        sum / n as f64
    }
}
