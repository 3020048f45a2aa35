//! Global (Otsu) and local (Sauvola) binarization.
//!
//! Both produce images containing only `0` (ink) and `255` (background), with dark text assumed;
//! callers that may see light-on-dark text should check [`dark_is_minority`] first and
//! [`invert`](crate::invert) if needed.

use image::GrayImage;

use crate::gray::histogram;

/// Otsu's threshold: the gray level that maximises the between-class variance of the histogram.
///
/// Pixels `<= t` form the dark class. A constant image returns its own value, so that
/// [`otsu`] classifies it entirely as background.
pub fn otsu_threshold(gray: &GrayImage) -> u8 {
    otsu_threshold_hist(&histogram(gray))
}

/// [`otsu_threshold`] on a precomputed histogram.
pub fn otsu_threshold_hist(hist: &[u64; 256]) -> u8 {
    let total: u64 = hist.iter().sum();
    if total == 0 {
        return 127;
    }
    let sum_all: f64 = hist
        .iter()
        .enumerate()
        .map(|(i, &c)| i as f64 * c as f64)
        .sum();
    let (mut w0, mut sum0) = (0f64, 0f64);
    let (mut best_t, mut best_var) = (0u8, -1f64);
    let first = hist.iter().position(|&c| c > 0).unwrap_or(0);
    let last = hist.iter().rposition(|&c| c > 0).unwrap_or(255);
    if first == last {
        // Flat image: no dark class at all.
        return (first as u8).saturating_sub(1);
    }
    for (t, &count) in hist.iter().enumerate().take(last).skip(first) {
        w0 += count as f64;
        sum0 += t as f64 * count as f64;
        let w1 = total as f64 - w0;
        if w0 == 0.0 || w1 == 0.0 {
            continue;
        }
        let m0 = sum0 / w0;
        let m1 = (sum_all - sum0) / w1;
        let var = w0 * w1 * (m0 - m1) * (m0 - m1);
        if var > best_var {
            best_var = var;
            best_t = t as u8;
        }
    }
    best_t
}

/// Global Otsu binarization: `v <= t` becomes 0 (ink), everything else 255.
pub fn otsu(gray: &GrayImage) -> GrayImage {
    threshold(gray, otsu_threshold(gray))
}

/// Binarizes with a fixed threshold: `v <= t` becomes 0, everything else 255.
pub fn threshold(gray: &GrayImage, t: u8) -> GrayImage {
    let mut out = gray.clone();
    for v in out.as_mut().iter_mut() {
        *v = if *v <= t { 0 } else { 255 };
    }
    out
}

/// True when the dark Otsu class covers less than half the image, i.e. the text is probably
/// dark on a light background. False suggests light-on-dark text (dark mode, banners).
pub fn dark_is_minority(gray: &GrayImage) -> bool {
    let hist = histogram(gray);
    let t = usize::from(otsu_threshold_hist(&hist));
    let total: u64 = hist.iter().sum();
    let dark: u64 = hist[..=t].iter().sum();
    dark * 2 <= total
}

/// Parameters of [`sauvola`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SauvolaParams {
    /// Side of the square window (pixels; made odd and clamped to the image). It should span a
    /// few characters: too small hollows out thick strokes, too large behaves like a global
    /// threshold under uneven lighting.
    pub window: u32,
    /// Sensitivity `k` (typically 0.2–0.5): larger values classify less as ink.
    pub k: f32,
    /// Dynamic range of the standard deviation, `R` (128 for 8-bit images).
    pub r: f32,
}

impl Default for SauvolaParams {
    fn default() -> Self {
        Self {
            window: 31,
            k: 0.2,
            r: 128.0,
        }
    }
}

/// Sauvola local binarization: `T = m * (1 + k * (s / R - 1))` over a window around each pixel.
///
/// Window sums come from summed-area tables (integral images) of `v` and `v²`, so the cost is
/// O(1) per pixel whatever the window. To keep memory at O(width) instead of 16 bytes per pixel,
/// the tables are kept as running column sums over the rows currently inside the window plus a
/// 1-D prefix sum along each row, which is the same integral-image identity applied one axis at
/// a time.
pub fn sauvola(gray: &GrayImage, params: &SauvolaParams) -> GrayImage {
    let (w, h) = gray.dimensions();
    let mut out = GrayImage::new(w, h);
    if w == 0 || h == 0 {
        return out;
    }
    let (wu, hu) = (w as usize, h as usize);
    let radius = (params.window.max(1) / 2) as usize;
    let k = if params.k.is_finite() { params.k } else { 0.2 };
    let r = if params.r.is_finite() && params.r > 0.0 {
        params.r
    } else {
        128.0
    };
    let src = gray.as_raw();

    // Column sums over rows [y - radius, y + radius] ∩ [0, h).
    let mut col_sum = vec![0u64; wu];
    let mut col_sq = vec![0u64; wu];
    let add_row = |row: usize, sign: bool, cs: &mut [u64], cq: &mut [u64]| {
        let line = &src[row * wu..(row + 1) * wu];
        for x in 0..wu {
            let v = u64::from(line[x]);
            if sign {
                cs[x] += v;
                cq[x] += v * v;
            } else {
                cs[x] -= v;
                cq[x] -= v * v;
            }
        }
    };
    for row in 0..radius.min(hu - 1) + 1 {
        add_row(row, true, &mut col_sum, &mut col_sq);
    }
    // Prefix sums along the row: pre[x] = sum of col[0..x].
    let mut pre_sum = vec![0u64; wu + 1];
    let mut pre_sq = vec![0u64; wu + 1];
    let dst = out.as_mut();
    for y in 0..hu {
        if y > 0 {
            let enter = y + radius;
            if enter < hu {
                add_row(enter, true, &mut col_sum, &mut col_sq);
            }
            if y > radius {
                add_row(y - radius - 1, false, &mut col_sum, &mut col_sq);
            }
        }
        let rows = (y + radius).min(hu - 1) - y.saturating_sub(radius) + 1;
        for x in 0..wu {
            pre_sum[x + 1] = pre_sum[x] + col_sum[x];
            pre_sq[x + 1] = pre_sq[x] + col_sq[x];
        }
        for x in 0..wu {
            let x0 = x.saturating_sub(radius);
            let x1 = (x + radius).min(wu - 1) + 1;
            let n = ((x1 - x0) * rows) as f64;
            let s = (pre_sum[x1] - pre_sum[x0]) as f64;
            let sq = (pre_sq[x1] - pre_sq[x0]) as f64;
            let mean = s / n;
            let var = (sq / n - mean * mean).max(0.0);
            let t = mean * (1.0 + f64::from(k) * (var.sqrt() / f64::from(r) - 1.0));
            let v = f64::from(src[y * wu + x]);
            dst[y * wu + x] = if v <= t { 0 } else { 255 };
        }
    }
    out
}
