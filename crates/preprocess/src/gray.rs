//! Colour to grayscale conversion.

use image::{GrayImage, RgbImage};

/// Converts RGB to 8-bit luma with the BT.601 weights (0.299, 0.587, 0.114) that OpenCV's
/// `COLOR_RGB2GRAY` uses, in 8.8 fixed point so it is exact-ish and fast.
pub fn to_gray(rgb: &RgbImage) -> GrayImage {
    let (w, h) = rgb.dimensions();
    let mut out = GrayImage::new(w, h);
    for (dst, src) in out.as_mut().iter_mut().zip(rgb.as_raw().chunks_exact(3)) {
        let y = 77 * u32::from(src[0]) + 150 * u32::from(src[1]) + 29 * u32::from(src[2]);
        *dst = ((y + 128) >> 8) as u8;
    }
    out
}

/// Returns the photographic negative (`255 - v`), used to turn light-on-dark text into
/// dark-on-light before binarization.
pub fn invert(gray: &GrayImage) -> GrayImage {
    let mut out = gray.clone();
    for v in out.as_mut().iter_mut() {
        *v = 255 - *v;
    }
    out
}

/// 256-bin histogram of a grayscale image.
pub fn histogram(gray: &GrayImage) -> [u64; 256] {
    let mut hist = [0u64; 256];
    for &v in gray.as_raw() {
        hist[usize::from(v)] += 1;
    }
    hist
}
