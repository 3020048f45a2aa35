//! Rotation about the image centre with bilinear sampling and an expanded canvas.

use image::{GrayImage, Luma, Pixel, Rgb, RgbImage};

/// A rotation of a `src_w × src_h` image by `angle_deg` (counter-clockwise as displayed, i.e.
/// with the y axis pointing down) onto a canvas just large enough to hold all of it.
///
/// Keeping the transform as a value lets detectors work on a deskewed image and map their boxes
/// back to the caller's coordinates with [`Rotation::to_src`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rotation {
    /// Rotation angle in degrees, counter-clockwise as displayed.
    pub angle_deg: f32,
    /// Source width.
    pub src_w: u32,
    /// Source height.
    pub src_h: u32,
    /// Width of the rotated canvas.
    pub dst_w: u32,
    /// Height of the rotated canvas.
    pub dst_h: u32,
    cos: f64,
    sin: f64,
}

impl Rotation {
    /// Plans a rotation. Non-finite angles are treated as 0.
    pub fn new(src_w: u32, src_h: u32, angle_deg: f32) -> Self {
        let a = if angle_deg.is_finite() {
            angle_deg
        } else {
            0.0
        };
        let rad = f64::from(a).to_radians();
        let (sin, cos) = rad.sin_cos();
        let (w, h) = (f64::from(src_w), f64::from(src_h));
        // Snap tiny floating error so that a 0° rotation keeps the exact size.
        let dw = (w * cos.abs() + h * sin.abs() - 1e-6).ceil().max(1.0);
        let dh = (w * sin.abs() + h * cos.abs() - 1e-6).ceil().max(1.0);
        Self {
            angle_deg: a,
            src_w,
            src_h,
            dst_w: dw.min(f64::from(u32::MAX)) as u32,
            dst_h: dh.min(f64::from(u32::MAX)) as u32,
            cos,
            sin,
        }
    }

    fn centers(&self) -> ((f64, f64), (f64, f64)) {
        (
            (
                (f64::from(self.src_w) - 1.0) / 2.0,
                (f64::from(self.src_h) - 1.0) / 2.0,
            ),
            (
                (f64::from(self.dst_w) - 1.0) / 2.0,
                (f64::from(self.dst_h) - 1.0) / 2.0,
            ),
        )
    }

    /// Maps a source pixel coordinate into the rotated canvas.
    pub fn to_dst(&self, p: [f32; 2]) -> [f32; 2] {
        let ((scx, scy), (dcx, dcy)) = self.centers();
        let (x, y) = (f64::from(p[0]) - scx, f64::from(p[1]) - scy);
        [
            (x * self.cos + y * self.sin + dcx) as f32,
            (-x * self.sin + y * self.cos + dcy) as f32,
        ]
    }

    /// Maps a rotated-canvas coordinate back into the source image.
    pub fn to_src(&self, p: [f32; 2]) -> [f32; 2] {
        let ((scx, scy), (dcx, dcy)) = self.centers();
        let (x, y) = (f64::from(p[0]) - dcx, f64::from(p[1]) - dcy);
        [
            (x * self.cos - y * self.sin + scx) as f32,
            (x * self.sin + y * self.cos + scy) as f32,
        ]
    }
}

fn rotate_impl<P: Pixel<Subpixel = u8>>(
    img: &image::ImageBuffer<P, Vec<u8>>,
    rot: &Rotation,
    fill: P,
) -> image::ImageBuffer<P, Vec<u8>> {
    let mut out = image::ImageBuffer::from_pixel(rot.dst_w, rot.dst_h, fill);
    let (w, h) = (i64::from(img.width()), i64::from(img.height()));
    if w == 0 || h == 0 {
        return out;
    }
    let n = usize::from(P::CHANNEL_COUNT);
    let fill_ch = fill.channels().to_vec();
    let ((scx, scy), (dcx, dcy)) = rot.centers();
    let src = img.as_raw();
    let stride = w as usize * n;
    for (y, row) in out
        .as_mut()
        .chunks_exact_mut(rot.dst_w as usize * n)
        .enumerate()
    {
        let dy = y as f64 - dcy;
        for x in 0..rot.dst_w as usize {
            let dx = x as f64 - dcx;
            let sx = dx * rot.cos - dy * rot.sin + scx;
            let sy = dx * rot.sin + dy * rot.cos + scy;
            if sx <= -1.0 || sy <= -1.0 || sx >= w as f64 || sy >= h as f64 {
                continue; // entirely outside: keep the fill
            }
            let (x0, y0) = (sx.floor() as i64, sy.floor() as i64);
            let (fx, fy) = (sx - x0 as f64, sy - y0 as f64);
            for c in 0..n {
                let at = |xx: i64, yy: i64| -> f64 {
                    if xx < 0 || yy < 0 || xx >= w || yy >= h {
                        f64::from(fill_ch[c])
                    } else {
                        f64::from(src[yy as usize * stride + xx as usize * n + c])
                    }
                };
                let top = at(x0, y0) * (1.0 - fx) + at(x0 + 1, y0) * fx;
                let bot = at(x0, y0 + 1) * (1.0 - fx) + at(x0 + 1, y0 + 1) * fx;
                let v = top * (1.0 - fy) + bot * fy;
                row[x * n + c] = v.round().clamp(0.0, 255.0) as u8;
            }
        }
    }
    out
}

/// Rotates a grayscale image by `rot` (see [`Rotation::new`]), filling uncovered canvas with
/// `fill` (255 = white paper).
pub fn rotate_gray(img: &GrayImage, rot: &Rotation, fill: u8) -> GrayImage {
    rotate_impl(img, rot, Luma([fill]))
}

/// Rotates an RGB image by `rot`, filling uncovered canvas with `fill`.
pub fn rotate_rgb(img: &RgbImage, rot: &Rotation, fill: [u8; 3]) -> RgbImage {
    rotate_impl(img, rot, Rgb(fill))
}
