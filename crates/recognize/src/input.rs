//! Turning line crops into the tensors the PP-OCR rec and cls networks expect.
//!
//! Both networks were trained on OpenCV images: channels in B, G, R order, values mapped
//! from `[0, 255]` to `[-1, 1]`, each line resized to the network height keeping its aspect
//! ratio and right-padded with zeros to the batch width.

use image::{imageops::FilterType, RgbImage};
use ndarray::{s, Array4};

/// Builds a `N×3×height×width` batch. Each line is resized to `height` rows and
/// `ceil(height·w/h)` columns (at most `width`), and zero-padded to `width` on the right.
pub fn line_batch(lines: &[&RgbImage], height: u32, width: u32) -> Array4<f32> {
    let mut batch = Array4::<f32>::zeros((lines.len(), 3, height as usize, width as usize));
    for (n, line) in lines.iter().enumerate() {
        let (w, h) = line.dimensions();
        if w == 0 || h == 0 {
            continue;
        }
        let resized_w = resized_width(w, h, height, width);
        let resized = if (w, h) == (resized_w, height) {
            (*line).clone()
        } else {
            image::imageops::resize(*line, resized_w, height, FilterType::Triangle)
        };
        let mut plane = batch.slice_mut(s![n, .., .., ..resized_w as usize]);
        for (x, y, px) in resized.enumerate_pixels() {
            let [r, g, b] = px.0;
            for (c, v) in [b, g, r].into_iter().enumerate() {
                plane[[c, y as usize, x as usize]] = v as f32 / 127.5 - 1.0;
            }
        }
    }
    batch
}

/// Columns a `w × h` line takes in a batch `height` rows high and `width` columns wide: its
/// aspect kept, rounded up, at least 1 and at most `width`.
pub(crate) fn resized_width(w: u32, h: u32, height: u32, width: u32) -> u32 {
    if h == 0 {
        return width.max(1);
    }
    ((height as f64 * w as f64 / h as f64).ceil() as u32).clamp(1, width.max(1))
}

/// Width-to-height ratio of a crop (1 for an empty one).
pub fn aspect(line: &RgbImage) -> f32 {
    let (w, h) = line.dimensions();
    if w == 0 || h == 0 {
        1.0
    } else {
        w as f32 / h as f32
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Rgb;

    #[test]
    fn normalizes_bgr_and_pads_right() {
        let line = RgbImage::from_pixel(20, 10, Rgb([255, 0, 51]));
        let b = line_batch(&[&line], 10, 30);
        assert_eq!(b.shape(), &[1, 3, 10, 30]);
        assert!((b[[0, 0, 5, 5]] - (51.0 / 127.5 - 1.0)).abs() < 1e-6); // B
        assert!((b[[0, 1, 5, 5]] + 1.0).abs() < 1e-6); // G
        assert!((b[[0, 2, 5, 5]] - 1.0).abs() < 1e-6); // R
        assert_eq!(b[[0, 0, 5, 25]], 0.0); // padding
    }

    #[test]
    fn too_wide_lines_are_squeezed_to_the_batch_width() {
        let line = RgbImage::from_pixel(100, 5, Rgb([0, 0, 0]));
        let b = line_batch(&[&line], 10, 40);
        assert_eq!(b[[0, 0, 0, 39]], -1.0);
    }
}
