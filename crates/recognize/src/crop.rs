//! Cutting one text line out of a page: a perspective warp of its quadrilateral onto an
//! upright rectangle, so slanted or rotated lines reach the recognizer horizontal.

use image::{Rgb, RgbImage};

/// A line quad: four corners clockwise from top-left, in image pixels.
pub type Quad = [[f32; 2]; 4];

/// Largest side, in pixels, of a crop: a hostile quad cannot make us allocate more.
pub const MAX_CROP_SIDE: u32 = 16_384;

/// Warps the quad's content to an upright image whose size follows the quad's side lengths,
/// scaled down (aspect kept) so that its height is at most `max_height`.
///
/// Capping the height here, rather than resizing afterwards, keeps a huge quad from costing
/// a huge intermediate image. Samples bilinearly; pixels outside the page replicate the
/// border. Returns `None` for a degenerate quad (non-finite, or under one pixel on a side).
pub fn crop_quad(image: &RgbImage, quad: &Quad, max_height: u32) -> Option<RgbImage> {
    if image.width() == 0 || image.height() == 0 {
        return None;
    }
    if quad.iter().flatten().any(|v| !v.is_finite()) {
        return None;
    }
    let dist = |a: [f32; 2], b: [f32; 2]| ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)).sqrt();
    let width = dist(quad[0], quad[1]).max(dist(quad[3], quad[2]));
    let height = dist(quad[0], quad[3]).max(dist(quad[1], quad[2]));
    if !(width >= 1.0 && height >= 1.0) {
        return None;
    }
    let scale = (max_height.max(1) as f32 / height).min(1.0);
    let (w, h) = (
        ((width * scale).round() as u32).clamp(1, MAX_CROP_SIDE),
        ((height * scale).round() as u32).clamp(1, MAX_CROP_SIDE),
    );
    let dst = [
        [0.0, 0.0],
        [w as f32, 0.0],
        [w as f32, h as f32],
        [0.0, h as f32],
    ];
    // Maps output coordinates back into the page (inverse warping: every output pixel is set).
    let m = homography(&dst, quad)?;
    let mut out = RgbImage::new(w, h);
    for (x, y, px) in out.enumerate_pixels_mut() {
        let (fx, fy) = (x as f64 + 0.5, y as f64 + 0.5);
        let z = m[6] * fx + m[7] * fy + m[8];
        let (sx, sy) = if z.abs() > 1e-12 {
            (
                (m[0] * fx + m[1] * fy + m[2]) / z,
                (m[3] * fx + m[4] * fy + m[5]) / z,
            )
        } else {
            (0.0, 0.0)
        };
        *px = sample_bilinear(image, sx as f32 - 0.5, sy as f32 - 0.5);
    }
    Some(out)
}

/// The image point that [`crop_quad`] maps to the point at fractions `(u, v)` of its crop's
/// width and height (`(0, 0)` is `quad[0]`, `(1, 0)` is `quad[1]`, `(1, 1)` is `quad[2]`).
///
/// The crop is a perspective warp of the quad, whatever its size, so this is exact for any
/// crop of `quad`. `None` for a degenerate quad.
pub fn crop_point_to_image(quad: &Quad, u: f32, v: f32) -> Option<[f32; 2]> {
    const UNIT: Quad = [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]];
    let m = homography(&UNIT, quad)?;
    let (x, y) = (f64::from(u), f64::from(v));
    let z = m[6] * x + m[7] * y + m[8];
    if z.abs() < 1e-12 {
        return None;
    }
    let p = [
        ((m[0] * x + m[1] * y + m[2]) / z) as f32,
        ((m[3] * x + m[4] * y + m[5]) / z) as f32,
    ];
    p.iter().all(|v| v.is_finite()).then_some(p)
}

/// Bilinear sample at pixel-centre coordinates `(x, y)`, clamping to the border.
fn sample_bilinear(image: &RgbImage, x: f32, y: f32) -> Rgb<u8> {
    let (w, h) = (image.width() as i64, image.height() as i64);
    let x = if x.is_finite() { x } else { 0.0 };
    let y = if y.is_finite() { y } else { 0.0 };
    let x = x.clamp(0.0, (w - 1) as f32);
    let y = y.clamp(0.0, (h - 1) as f32);
    let (x0, y0) = (x.floor() as i64, y.floor() as i64);
    let (x1, y1) = ((x0 + 1).min(w - 1), (y0 + 1).min(h - 1));
    let (ax, ay) = (x - x0 as f32, y - y0 as f32);
    let p = |xx: i64, yy: i64| image.get_pixel(xx as u32, yy as u32).0;
    let (p00, p10, p01, p11) = (p(x0, y0), p(x1, y0), p(x0, y1), p(x1, y1));
    let mut out = [0u8; 3];
    for c in 0..3 {
        let top = p00[c] as f32 * (1.0 - ax) + p10[c] as f32 * ax;
        let bottom = p01[c] as f32 * (1.0 - ax) + p11[c] as f32 * ax;
        out[c] = (top * (1.0 - ay) + bottom * ay).round().clamp(0.0, 255.0) as u8;
    }
    Rgb(out)
}

/// The 3×3 projective map (row-major, `m[8] = 1`) taking `from[i]` to `to[i]`; `None` if the
/// points are degenerate (three collinear corners).
fn homography(from: &Quad, to: &Quad) -> Option<[f64; 9]> {
    // Unknowns h0..h7; two equations per correspondence.
    let mut a = [[0.0f64; 9]; 8];
    for i in 0..4 {
        let (x, y) = (from[i][0] as f64, from[i][1] as f64);
        let (u, v) = (to[i][0] as f64, to[i][1] as f64);
        a[2 * i] = [x, y, 1.0, 0.0, 0.0, 0.0, -u * x, -u * y, u];
        a[2 * i + 1] = [0.0, 0.0, 0.0, x, y, 1.0, -v * x, -v * y, v];
    }
    // Gaussian elimination with partial pivoting on the augmented 8×9 system.
    for col in 0..8 {
        let pivot = (col..8).max_by(|&p, &q| a[p][col].abs().total_cmp(&a[q][col].abs()))?;
        if a[pivot][col].abs() < 1e-9 {
            return None;
        }
        a.swap(col, pivot);
        let pivot_row = a[col];
        for (row, r) in a.iter_mut().enumerate() {
            if row != col {
                let f = r[col] / pivot_row[col];
                for (x, p) in r[col..].iter_mut().zip(&pivot_row[col..]) {
                    *x -= f * p;
                }
            }
        }
    }
    let mut m = [0.0f64; 9];
    for i in 0..8 {
        m[i] = a[i][8] / a[i][i];
    }
    m[8] = 1.0;
    m.iter().all(|v| v.is_finite()).then_some(m)
}

/// Rotates an image by 90° counter-clockwise (a tall crop of vertical text becomes a line).
pub fn rotate90_ccw(image: &RgbImage) -> RgbImage {
    image::imageops::rotate270(image)
}

/// Rotates an image by 180° (the classifier found it upside down).
pub fn rotate180(image: &RgbImage) -> RgbImage {
    image::imageops::rotate180(image)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn gradient(w: u32, h: u32) -> RgbImage {
        RgbImage::from_fn(w, h, |x, y| Rgb([(x % 256) as u8, (y % 256) as u8, 7]))
    }

    #[test]
    fn axis_aligned_quad_is_a_plain_crop() {
        let img = gradient(100, 50);
        let crop = crop_quad(
            &img,
            &[[10.0, 5.0], [40.0, 5.0], [40.0, 25.0], [10.0, 25.0]],
            48,
        )
        .unwrap();
        assert_eq!(crop.dimensions(), (30, 20));
        for (x, y, p) in crop.enumerate_pixels() {
            assert_eq!(p.0, [(10 + x) as u8, (5 + y) as u8, 7], "at {x},{y}");
        }
    }

    #[test]
    fn rotated_quad_comes_out_upright() {
        // A 2:1 quad rotated by 90°: corners listed from its own top-left.
        let img = gradient(60, 60);
        let crop = crop_quad(
            &img,
            &[[40.0, 10.0], [40.0, 50.0], [20.0, 50.0], [20.0, 10.0]],
            48,
        )
        .unwrap();
        assert_eq!(crop.dimensions(), (40, 20));
        // Moving right in the crop moves down in the page.
        assert!(crop.get_pixel(30, 10).0[1] > crop.get_pixel(5, 10).0[1]);
    }

    #[test]
    fn degenerate_quads_give_none() {
        let img = gradient(10, 10);
        assert!(crop_quad(&img, &[[1.0, 1.0]; 4], 48).is_none());
        assert!(crop_quad(
            &img,
            &[[f32::NAN, 0.0], [5.0, 0.0], [5.0, 5.0], [0.0, 5.0]],
            48
        )
        .is_none());
        assert!(crop_quad(
            &RgbImage::new(0, 0),
            &[[0.0, 0.0], [5.0, 0.0], [5.0, 5.0], [0.0, 5.0]],
            48
        )
        .is_none());
    }

    #[test]
    fn tall_quads_are_scaled_to_max_height() {
        let img = gradient(300, 300);
        let crop = crop_quad(
            &img,
            &[[0.0, 0.0], [200.0, 0.0], [200.0, 100.0], [0.0, 100.0]],
            48,
        )
        .unwrap();
        assert_eq!(crop.dimensions(), (96, 48));
        // Column 48 of the crop is column ~100 of the page.
        assert!((crop.get_pixel(48, 0).0[0] as i32 - 101).abs() <= 2);
    }

    #[test]
    fn crop_points_map_back_onto_the_quads_pixels() {
        // A perspective quad: a crop pixel's colour is the page's colour where the point lands.
        let img = gradient(200, 200);
        let quad = [[20.0, 30.0], [180.0, 10.0], [170.0, 120.0], [30.0, 90.0]];
        let crop = crop_quad(&img, &quad, 1000).unwrap();
        let (w, h) = crop.dimensions();
        assert_eq!(crop_point_to_image(&quad, 0.0, 0.0).unwrap(), quad[0]);
        let c = crop_point_to_image(&quad, 1.0, 1.0).unwrap();
        assert!((c[0] - quad[2][0]).abs() < 1e-3 && (c[1] - quad[2][1]).abs() < 1e-3);
        for &(x, y) in &[(10u32, 5u32), (w / 2, h / 2), (w - 3, h - 4)] {
            let (u, v) = ((x as f32 + 0.5) / w as f32, (y as f32 + 0.5) / h as f32);
            let p = crop_point_to_image(&quad, u, v).unwrap();
            let px = crop.get_pixel(x, y).0;
            assert!(
                (px[0] as f32 - (p[0] - 0.5)).abs() <= 1.5,
                "{x},{y}: {px:?} vs {p:?}"
            );
            assert!(
                (px[1] as f32 - (p[1] - 0.5)).abs() <= 1.5,
                "{x},{y}: {px:?} vs {p:?}"
            );
        }
        assert!(crop_point_to_image(&[[1.0, 1.0]; 4], 0.5, 0.5).is_none());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn any_quad_in_or_out_of_the_image_never_panics(
            w in 1u32..40, h in 1u32..40,
            pts in proptest::array::uniform8(-2e3f32..2e3f32),
        ) {
            let img = gradient(w, h);
            let q = [[pts[0], pts[1]], [pts[2], pts[3]], [pts[4], pts[5]], [pts[6], pts[7]]];
            if let Some(c) = crop_quad(&img, &q, 48) {
                prop_assert!(c.width() >= 1 && c.height() >= 1);
                prop_assert!(c.width() <= MAX_CROP_SIDE && c.height() <= 48);
            }
        }
    }
}
