//! Conversion of an RGB image into a normalized NCHW float tensor.

use image::RgbImage;
use ndarray::Array4;

/// Channel order of the tensor. PP-OCR models were trained on OpenCV-loaded (BGR) images, and
/// RapidOCR feeds them BGR, so [`ChannelOrder::Bgr`] is what the det/rec/cls models expect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ChannelOrder {
    /// Channel 0 = red.
    Rgb,
    /// Channel 0 = blue (OpenCV order).
    #[default]
    Bgr,
}

/// Builds a `1×3×H×W` tensor with `(v / 255 - mean[c]) / std[c]`, where `c` indexes the
/// *output* channels (so for BGR, `mean[0]` applies to blue). A zero or non-finite `std` is
/// treated as 1 so the tensor never contains inf/NaN.
pub fn to_nchw(img: &RgbImage, mean: [f32; 3], std: [f32; 3], order: ChannelOrder) -> Array4<f32> {
    let (w, h) = (img.width() as usize, img.height() as usize);
    let mut out = Array4::<f32>::zeros((1, 3, h, w));
    let src_channel = match order {
        ChannelOrder::Rgb => [0usize, 1, 2],
        ChannelOrder::Bgr => [2usize, 1, 0],
    };
    let raw = img.as_raw();
    for c in 0..3 {
        let s = if std[c].is_finite() && std[c] != 0.0 {
            std[c]
        } else {
            1.0
        };
        let m = if mean[c].is_finite() { mean[c] } else { 0.0 };
        let (scale, bias) = (1.0 / (255.0 * s), -m / s);
        let sc = src_channel[c];
        let mut plane = out.slice_mut(ndarray::s![0, c, .., ..]);
        if let Some(dst) = plane.as_slice_mut() {
            for (d, px) in dst.iter_mut().zip(raw.chunks_exact(3)) {
                *d = f32::from(px[sc]) * scale + bias;
            }
        }
    }
    out
}
