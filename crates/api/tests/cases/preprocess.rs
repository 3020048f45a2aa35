//! The `preprocess` fuzz case: shared by `fuzz/fuzz_targets/preprocess.rs` and the
//! regression replay in `crates/api/tests/regressions.rs`, so both run exactly the same code.
//!
//! Input layout: byte 0 = width - 1, byte 1 = height - 1 (so at most 256×256), byte 2 =
//! option bits (bit 0: Sauvola instead of Otsu, bit 1: deskew, bits 4-7: Sauvola window), the
//! rest = pixels (repeated cyclically to fill the image). Panics on any broken invariant.

use wenzi_detect::classic::{self, Binarization, ClassicParams};
use wenzi_preprocess::image::{GrayImage, RgbImage};
use wenzi_preprocess::SauvolaParams;

pub fn run(data: &[u8]) {
    if data.len() < 4 {
        return;
    }
    let w = u32::from(data[0]) + 1;
    let h = u32::from(data[1]) + 1;
    let opts = data[2];
    let px = &data[3..];
    let gray = GrayImage::from_fn(w, h, |x, y| {
        let i = (y as usize * w as usize + x as usize) % px.len();
        wenzi_preprocess::image::Luma([px[i]])
    });

    let _ = wenzi_preprocess::otsu(&gray);
    let window = match opts >> 4 {
        0 => 0,
        n => 1 + 2 * u32::from(n),
    };
    let _ = wenzi_preprocess::sauvola(
        &gray,
        &SauvolaParams {
            window,
            ..SauvolaParams::default()
        },
    );
    let (rotated, angle) = wenzi_preprocess::deskew(&gray);
    assert!(angle.is_finite(), "deskew angle {angle}");
    assert!(rotated.width() > 0 && rotated.height() > 0);

    let params = ClassicParams {
        binarization: if opts & 1 == 0 {
            Binarization::Otsu
        } else {
            Binarization::Sauvola(SauvolaParams {
                window,
                ..SauvolaParams::default()
            })
        },
        deskew: opts & 2 != 0,
        ..ClassicParams::default()
    };
    let boxes = classic::detect(&gray, &params);
    for b in &boxes {
        assert!(
            b.points.iter().flatten().all(|v| v.is_finite()),
            "non-finite box {:?}",
            b.points
        );
    }
    let lines: Vec<_> = boxes
        .iter()
        .map(|b| wenzi_layout::LineBox::horizontal(b.points))
        .collect();
    let boxes: Vec<_> = wenzi_layout::reading_order(&lines)
        .into_iter()
        .map(|i| boxes[i])
        .collect();

    let rgb = RgbImage::from_fn(w, h, |x, y| {
        let v = gray.get_pixel(x, y).0[0];
        wenzi_preprocess::image::Rgb([v, v, v])
    });
    for b in boxes.iter().take(16) {
        if let Some(crop) = wenzi_recognize::crop_quad(&rgb, &b.points, 96) {
            assert!(crop.width() > 0 && crop.height() > 0);
            assert!(crop.width() <= wenzi_recognize::MAX_CROP_SIDE && crop.height() <= 96);
        }
    }
    // A quad built straight from the input bytes (any corners, any order).
    if px.len() >= 16 {
        let c = |i: usize| f32::from(i16::from_le_bytes([px[i], px[i + 1]])) / 4.0;
        let quad = [[c(0), c(2)], [c(4), c(6)], [c(8), c(10)], [c(12), c(14)]];
        if let Some(crop) = wenzi_recognize::crop_quad(&rgb, &quad, 96) {
            assert!(crop.width() <= wenzi_recognize::MAX_CROP_SIDE && crop.height() <= 96);
        }
    }
}
