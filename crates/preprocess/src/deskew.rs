//! Skew estimation by projection-profile sharpness, and deskewing.
//!
//! Text lines rotated by `a` become sharp horizontal bands when ink pixels are projected onto
//! the normal of angle `a`; the sum of squared bin counts (proportional to the profile's
//! variance, since the total is fixed) peaks there. We search that score coarse-to-fine over
//! ±[`MAX_SKEW_DEG`].

use image::GrayImage;

use crate::binarize::{dark_is_minority, otsu_threshold};
use crate::rotate::{rotate_gray, Rotation};

/// Largest skew (degrees, either direction) that [`estimate_skew`] searches.
pub const MAX_SKEW_DEG: f32 = 15.0;

/// Fewer ink pixels than this and the page is considered blank (skew 0).
const MIN_POINTS: usize = 64;
/// The coarse search uses at most this many points, the middle one `MID_POINTS`, the fine
/// ones `FINE_POINTS`: early stages only need to land near the peak.
const COARSE_POINTS: usize = 30_000;
const MID_POINTS: usize = 60_000;
const FINE_POINTS: usize = 200_000;

/// Estimates the skew of the text lines in degrees, counter-clockwise as displayed (a positive
/// value means lines rise to the right). Range ±[`MAX_SKEW_DEG`]; 0 for blank images.
pub fn estimate_skew(gray: &GrayImage) -> f32 {
    let points = ink_points(gray);
    if points.len() < MIN_POINTS {
        return 0.0;
    }
    let coarse = subsample(&points, COARSE_POINTS);
    let mid = subsample(&points, MID_POINTS);
    let fine = subsample(&points, FINE_POINTS);

    let mut best = search(&coarse, 0.0, MAX_SKEW_DEG, 0.4);
    best = search(&mid, best, 0.4, 0.1);
    best = search(&fine, best, 0.1, 0.02);
    best = search(&fine, best, 0.02, 0.005);
    best.clamp(-MAX_SKEW_DEG, MAX_SKEW_DEG)
}

/// Deskews: estimates the skew and rotates the image back by it (bilinear, white fill, canvas
/// expanded so no text is cut off). Returns the corrected image and the estimated skew in
/// degrees (see [`estimate_skew`]); skews under 0.05° are left alone.
pub fn deskew(gray: &GrayImage) -> (GrayImage, f32) {
    let angle = estimate_skew(gray);
    if angle.abs() < 0.05 {
        return (gray.clone(), angle);
    }
    let rot = Rotation::new(gray.width(), gray.height(), -angle);
    (rotate_gray(gray, &rot, 255), angle)
}

/// Ink pixel coordinates (dark text assumed; light-on-dark pages are handled by polarity).
fn ink_points(gray: &GrayImage) -> Vec<(f32, f32)> {
    let t = otsu_threshold(gray);
    let dark_ink = dark_is_minority(gray);
    let w = gray.width() as usize;
    let mut pts = Vec::new();
    for (i, &v) in gray.as_raw().iter().enumerate() {
        let ink = if dark_ink { v <= t } else { v > t };
        if ink {
            pts.push(((i % w) as f32, (i / w) as f32));
        }
    }
    pts
}

fn subsample(points: &[(f32, f32)], max: usize) -> Vec<(f32, f32)> {
    if points.len() <= max {
        return points.to_vec();
    }
    // A stride that is coprime-ish with typical widths avoids sampling a single column.
    let step = points.len().div_ceil(max);
    points.iter().step_by(step).copied().collect()
}

/// Returns the angle in `center ± half` (step `step`) with the sharpest profile. Candidates are
/// visited by increasing distance from `center`, and only a strictly better score replaces the
/// incumbent, so ties resolve toward `center` (0 on the first pass).
fn search(points: &[(f32, f32)], center: f32, half: f32, step: f32) -> f32 {
    let n = (half / step).round() as i32;
    let mut hist = Vec::new();
    let mut best = center;
    let mut best_score = profile_score(points, center, &mut hist);
    for i in 1..=n {
        for s in [-1.0f32, 1.0] {
            let a = center + s * i as f32 * step;
            if a.abs() > MAX_SKEW_DEG + 1e-3 {
                continue;
            }
            let score = profile_score(points, a, &mut hist);
            if score > best_score {
                best_score = score;
                best = a;
            }
        }
    }
    best
}

fn profile_score(points: &[(f32, f32)], angle_deg: f32, hist: &mut Vec<u32>) -> f64 {
    let (sin, cos) = angle_deg.to_radians().sin_cos();
    let mut lo = f32::INFINITY;
    let mut hi = f32::NEG_INFINITY;
    for &(x, y) in points {
        let p = x * sin + y * cos;
        lo = lo.min(p);
        hi = hi.max(p);
    }
    if !lo.is_finite() || !hi.is_finite() {
        return 0.0;
    }
    let bins = (hi - lo) as usize + 2;
    hist.clear();
    hist.resize(bins, 0);
    for &(x, y) in points {
        let b = (x * sin + y * cos - lo) as usize;
        if let Some(h) = hist.get_mut(b) {
            *h += 1;
        }
    }
    hist.iter().map(|&c| f64::from(c) * f64::from(c)).sum()
}
