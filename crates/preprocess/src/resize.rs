//! Bilinear resizing and the detector's input-size policy.

use fast_image_resize as fir;
use image::{GrayImage, ImageBuffer, Pixel, RgbImage};

use crate::binarize::{dark_is_minority, otsu_threshold};
use crate::components::label;
use crate::gray::to_gray;

/// Bilinear resize by `fast_image_resize`, whose `Interpolation(Bilinear)` is OpenCV's
/// `INTER_LINEAR` (two taps, pixel centres aligned), the resize the PP-OCR models were trained
/// with. It replaced our scalar two-pass code (within ±1 of it, and faster: the table in
/// docs/design.md).
fn resize_impl<P: Pixel<Subpixel = u8>>(
    img: &ImageBuffer<P, Vec<u8>>,
    width: u32,
    height: u32,
) -> ImageBuffer<P, Vec<u8>> {
    let (dw, dh) = (width.max(1), height.max(1));
    let (sw, sh) = img.dimensions();
    let mut out: ImageBuffer<P, Vec<u8>> = ImageBuffer::new(dw, dh);
    if sw == 0 || sh == 0 {
        out.as_mut().fill(255);
        return out;
    }
    if (sw, sh) == (dw, dh) {
        return img.clone();
    }
    let pixel = match P::CHANNEL_COUNT {
        1 => fir::PixelType::U8,
        2 => fir::PixelType::U8x2,
        3 => fir::PixelType::U8x3,
        _ => fir::PixelType::U8x4,
    };
    let options = fir::ResizeOptions::new()
        .resize_alg(fir::ResizeAlg::Interpolation(fir::FilterType::Bilinear));
    let done = fir::images::ImageRef::new(sw, sh, img.as_raw(), pixel)
        .map_err(|e| e.to_string())
        .and_then(|src| {
            let mut dst = fir::images::Image::from_slice_u8(dw, dh, out.as_mut(), pixel)
                .map_err(|e| e.to_string())?;
            fir::Resizer::new()
                .resize(&src, &mut dst, &options)
                .map_err(|e| e.to_string())
        });
    // The buffers are built from the images' own sizes and u8 pixels need no alignment, so
    // this cannot fail; a white image rather than a panic if it ever did.
    debug_assert!(done.is_ok(), "fast_image_resize: {done:?}");
    if done.is_err() {
        out.as_mut().fill(255);
    }
    out
}

/// Bilinear resize of an RGB image (pixel-centre aligned like OpenCV's `INTER_LINEAR`, edges
/// clamped). Zero target sides are raised to 1; an empty source yields a white image.
pub fn resize_rgb(img: &RgbImage, width: u32, height: u32) -> RgbImage {
    resize_impl(img, width, height)
}

/// Bilinear resize of a grayscale image; same conventions as [`resize_rgb`].
pub fn resize_gray(img: &GrayImage, width: u32, height: u32) -> GrayImage {
    resize_impl(img, width, height)
}

/// How [`resize_for_det`] chooses the detector's input size. Sides are always multiples of 32
/// (the DB network downsamples by 32) and at least 32.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum DetResizePolicy {
    /// Text-size aware policy (the default, see [`AdaptiveResize`]).
    Adaptive(AdaptiveResize),
    /// PaddleOCR `limit_type: max`: shrink so the long side is at most `side`; never enlarge.
    LimitMax {
        /// Longest allowed side.
        side: u32,
    },
    /// RapidOCR's behaviour: first cap the long side at `max_side` (its `Global.max_side_len`,
    /// 2000), then `limit_type: min`: enlarge so the short side is at least `side` (736).
    LimitMin {
        /// Shortest allowed side.
        side: u32,
        /// Longest side before the `min` step.
        max_side: u32,
    },
}

impl Default for DetResizePolicy {
    fn default() -> Self {
        Self::Adaptive(AdaptiveResize::default())
    }
}

impl DetResizePolicy {
    /// RapidOCR's exact defaults (`limit_type: min`, `limit_side_len: 736`, `max_side_len: 2000`).
    pub fn rapidocr() -> Self {
        Self::LimitMin {
            side: 736,
            max_side: 2000,
        }
    }
}

/// Text-size aware resize policy.
///
/// Why not RapidOCR's "short side ≥ 736": it blows a 60-pixel-high line up to 736 pixels
/// (a 5000-pixel-wide input) and enlarges every page whether or not its text is small. DB
/// finds text reliably once glyphs are ~12–14 px high, so we only pay for pixels where they
/// buy recall. (Not yet validated against the model end to end; [`DetResizePolicy::rapidocr`]
/// is there for A/B comparison.)
///
/// 1. Big images are shrunk so the long side is at most `max_side` (speed; 1536 keeps common
///    screenshots and page renders at their native resolution)...
/// 2. ...but never so far that the typical glyph height ([`estimate_text_height`]) drops below
///    `min_text_height`; pages whose text is already smaller are enlarged up to `max_upscale`.
/// 3. Tiny images are enlarged so the short side is at least `min_short_side`.
/// 4. Whatever the above says, the long side stays within `hard_max_side` and the area within
///    `max_pixels` (memory and time bounds for hostile inputs).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdaptiveResize {
    /// Preferred maximum for the long side.
    pub max_side: u32,
    /// Smallest typical glyph height (pixels) the network should see.
    pub min_text_height: f32,
    /// Largest enlargement applied for small text.
    pub max_upscale: f32,
    /// Smallest short side.
    pub min_short_side: u32,
    /// Absolute maximum for the long side.
    pub hard_max_side: u32,
    /// Absolute maximum for `width * height`.
    pub max_pixels: u64,
}

impl Default for AdaptiveResize {
    fn default() -> Self {
        Self {
            max_side: 1536,
            min_text_height: 14.0,
            max_upscale: 2.5,
            min_short_side: 64,
            hard_max_side: 3200,
            max_pixels: 2560 * 2560,
        }
    }
}

fn round32(v: f64) -> u32 {
    // Ties to even, like Python's round() in PaddleOCR/RapidOCR.
    let r = (v / 32.0).round_ties_even() * 32.0;
    if r.is_finite() {
        r.clamp(32.0, f64::from(u32::MAX - 31)) as u32
    } else {
        32
    }
}

/// Computes the detector input size `(width, height)` for an image, without resizing.
pub fn det_input_size(img: &RgbImage, policy: &DetResizePolicy) -> (u32, u32) {
    let (w, h) = img.dimensions();
    if w == 0 || h == 0 {
        return (32, 32);
    }
    let (wf, hf) = (f64::from(w), f64::from(h));
    let long = wf.max(hf);
    let short = wf.min(hf);
    match *policy {
        DetResizePolicy::LimitMax { side } => {
            let s = if long > f64::from(side) {
                f64::from(side.max(1)) / long
            } else {
                1.0
            };
            (round32((wf * s).floor()), round32((hf * s).floor()))
        }
        DetResizePolicy::LimitMin { side, max_side } => {
            // Two steps exactly like RapidOCR (each truncates, then rounds to 32).
            let (mut w1, mut h1) = (wf, hf);
            if long > f64::from(max_side) {
                let s = f64::from(max_side.max(1)) / long;
                w1 = f64::from(round32((wf * s).floor()));
                h1 = f64::from(round32((hf * s).floor()));
            }
            let short1 = w1.min(h1);
            let s = if short1 < f64::from(side) {
                f64::from(side) / short1
            } else {
                1.0
            };
            (round32((w1 * s).floor()), round32((h1 * s).floor()))
        }
        DetResizePolicy::Adaptive(p) => {
            let mut s = 1.0f64;
            if long > f64::from(p.max_side) {
                s = f64::from(p.max_side.max(32)) / long;
            }
            if let Some(th) = estimate_text_height(&to_gray(img)) {
                let th = f64::from(th);
                let min_th = f64::from(p.min_text_height);
                if th * s < min_th {
                    s = (min_th / th).min(f64::from(p.max_upscale.max(1.0)));
                }
            }
            if short * s < f64::from(p.min_short_side) {
                s = f64::from(p.min_short_side) / short;
            }
            if long * s > f64::from(p.hard_max_side) {
                s = f64::from(p.hard_max_side.max(32)) / long;
            }
            let area = wf * hf * s * s;
            if area > p.max_pixels as f64 {
                s *= (p.max_pixels as f64 / area).sqrt();
            }
            (round32(wf * s), round32(hf * s))
        }
    }
}

/// Resizes an image for the text detector according to `policy`.
///
/// Returns the resized image and the scale factors `resized / original` per axis, so that a
/// detector coordinate maps back as `x_orig = x / scale_x`.
pub fn resize_for_det(img: &RgbImage, policy: &DetResizePolicy) -> (RgbImage, f32, f32) {
    let (w, h) = det_input_size(img, policy);
    let resized = resize_rgb(img, w, h);
    let sx = w as f32 / img.width().max(1) as f32;
    let sy = h as f32 / img.height().max(1) as f32;
    (resized, sx, sy)
}

/// Typical glyph height in pixels: the 75th percentile of the heights of plausibly-sized ink
/// components (so Latin capitals/ascenders and CJK characters dominate rather than x-height).
/// `None` when the image holds too few such components to say (photos, blank pages).
pub fn estimate_text_height(gray: &GrayImage) -> Option<f32> {
    let (w, h) = gray.dimensions();
    if w < 4 || h < 4 {
        return None;
    }
    // Large images: estimate at half resolution; glyph heights scale back exactly enough.
    let (img, factor) = if u64::from(w) * u64::from(h) > 4_000_000 {
        (resize_gray(gray, w / 2, h / 2), 2.0)
    } else {
        (gray.clone(), 1.0)
    };
    let t = otsu_threshold(&img);
    let dark = dark_is_minority(&img);
    let fg: Vec<bool> = img
        .as_raw()
        .iter()
        .map(|&v| if dark { v <= t } else { v > t })
        .collect();
    let comps = label(img.width(), img.height(), &fg);
    // Glyph height along the image's y axis, and along its x axis as if the page were turned
    // a quarter: a sideways page's glyphs are measured across, and the larger of the two is
    // its text size whichever way it lies (an upright page's glyphs are taller than wide).
    let sizes = |across: bool| -> Option<u32> {
        let max_h = if across { img.width() } else { img.height() } / 3;
        let mut heights: Vec<u32> = comps
            .components
            .iter()
            .filter_map(|c| {
                let (cw, ch) = if across {
                    (c.height(), c.width())
                } else {
                    (c.width(), c.height())
                };
                (ch >= 4
                    && ch <= max_h.max(4)
                    && cw <= ch * 4
                    && c.area >= 6
                    && c.area * 10 >= u64::from(cw) * u64::from(ch))
                .then_some(ch)
            })
            .collect();
        if heights.len() < 8 {
            return None;
        }
        heights.sort_unstable();
        Some(heights[heights.len() * 3 / 4])
    };
    let size = match (sizes(false), sizes(true)) {
        (Some(a), Some(b)) => a.max(b),
        (a, b) => a.or(b)?,
    };
    Some(size as f32 * factor)
}
