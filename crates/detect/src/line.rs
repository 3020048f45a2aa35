//! Recognising an input that is already a single text line.

use image::GrayImage;
use wenzi_preprocess::components::label;
use wenzi_preprocess::{dark_is_minority, otsu_threshold};

/// Minimum width / height for an image to be considered a single line.
const MIN_ASPECT: f32 = 3.0;
/// The ink band must fill at least this fraction of the height (otherwise the recognizer would
/// see a small line lost in margins; detection should crop it first).
const MIN_FILL: f32 = 0.4;

/// True when the image is itself one line of text (a crop, a screenshot of one label), so it
/// can go straight to the recognizer without detection.
///
/// Requires a wide image (width ≥ 3 × height) whose horizontal projection profile has exactly
/// one band of ink that fills most of the height, is about one glyph tall and has no deep
/// valley inside it (two lines whose ascenders and descenders touch). Extra bands
/// that are too thin or too light to be text (underlines, specks) are tolerated; a second band
/// that looks like a text line, even a short one, makes the answer false.
pub fn looks_like_single_line(gray: &GrayImage) -> bool {
    let (w, h) = gray.dimensions();
    if w == 0 || h < 8 || (w as f32) < MIN_ASPECT * h as f32 {
        return false;
    }
    let t = otsu_threshold(gray);
    let dark = dark_is_minority(gray);
    let (wu, hu) = (w as usize, h as usize);
    let raw = gray.as_raw();
    let mut profile = vec![0u32; hu];
    for (y, row) in raw.chunks_exact(wu).enumerate() {
        profile[y] = row
            .iter()
            .filter(|&&v| if dark { v <= t } else { v > t })
            .count() as u32;
    }
    let max = profile.iter().copied().max().unwrap_or(0);
    if max == 0 {
        return false;
    }
    // Rows count as inked above a small fraction of the densest row (ignores speckle noise).
    let floor = (max as f32 * 0.03).max(1.0);
    let inked: Vec<bool> = profile.iter().map(|&c| c as f32 >= floor).collect();

    // Bands of inked rows; single-row gaps (anti-aliasing) do not split a band.
    let mut bands: Vec<(usize, usize, u64)> = Vec::new(); // (start, end inclusive, mass)
    let mut y = 0;
    while y < hu {
        if !inked[y] {
            y += 1;
            continue;
        }
        let start = y;
        let mut end = y;
        while y < hu && (inked[y] || (y + 1 < hu && inked[y + 1] && y > start)) {
            if inked[y] {
                end = y;
            }
            y += 1;
        }
        let mass = profile[start..=end].iter().map(|&c| u64::from(c)).sum();
        bands.push((start, end, mass));
    }
    let Some(&(ms, me, _)) = bands.iter().max_by_key(|b| (b.2, std::cmp::Reverse(b.0))) else {
        return false;
    };
    let main_h = me - ms + 1;
    let total: u64 = bands.iter().map(|b| b.2).sum();
    let other_line = bands.iter().any(|&(s, e, m)| {
        s != ms && (e - s + 1) as f32 >= 0.35 * main_h as f32 && m as f32 >= 0.03 * total as f32
    });
    if other_line || (main_h as f32) < MIN_FILL * h as f32 {
        return false;
    }
    // Two lines whose ascenders and descenders touch form one band with a deep valley between
    // their bodies; a real line is dense through its middle.
    let band = &profile[ms..=me];
    let mut sorted: Vec<u32> = band.to_vec();
    sorted.sort_unstable();
    let p80 = sorted[(sorted.len() * 4 / 5).min(sorted.len() - 1)] as f32;
    let (c0, c1) = (
        main_h * 3 / 10,
        (main_h * 7 / 10).max(main_h * 3 / 10 + 1).min(main_h),
    );
    let valley = band[c0..c1].iter().copied().min().unwrap_or(0) as f32;
    if valley < 0.12 * p80 {
        return false;
    }
    // A line is about one glyph tall; two stacked lines about two. The glyph height is a high
    // percentile of ink component heights: many CJK characters split into shorter components
    // (氵 + 肖), so the median would underestimate it.
    let fg: Vec<bool> = raw
        .iter()
        .map(|&v| if dark { v <= t } else { v > t })
        .collect();
    let comps = label(w, h, &fg);
    let mut heights: Vec<u32> = comps
        .components
        .iter()
        .filter(|c| c.area >= 3)
        .map(|c| c.height())
        .collect();
    if heights.is_empty() {
        return false;
    }
    heights.sort_unstable();
    let glyph = heights[(heights.len() * 9 / 10).min(heights.len() - 1)] as f32;
    (main_h as f32) <= 1.6 * glyph
}
