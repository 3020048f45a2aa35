//! `--draw`: the page with each line's box and number, for checking detection by eye.

use image::{Rgb, RgbImage};

/// 3×5 bitmap digits, one row per `u8` (low 3 bits, left to right).
const DIGITS: [[u8; 5]; 10] = [
    [0b111, 0b101, 0b101, 0b101, 0b111],
    [0b010, 0b110, 0b010, 0b010, 0b111],
    [0b111, 0b001, 0b111, 0b100, 0b111],
    [0b111, 0b001, 0b111, 0b001, 0b111],
    [0b101, 0b101, 0b111, 0b001, 0b001],
    [0b111, 0b100, 0b111, 0b001, 0b111],
    [0b111, 0b100, 0b111, 0b101, 0b111],
    [0b111, 0b001, 0b010, 0b010, 0b010],
    [0b111, 0b101, 0b111, 0b101, 0b111],
    [0b111, 0b101, 0b111, 0b001, 0b111],
];

const BOX: Rgb<u8> = Rgb([230, 30, 30]);

/// Draws every quad (2 px outline) and its 1-based number at its top-left corner.
pub fn draw_boxes(image: &mut RgbImage, quads: &[[[f32; 2]; 4]]) {
    for (i, q) in quads.iter().enumerate() {
        for k in 0..4 {
            let (a, b) = (q[k], q[(k + 1) % 4]);
            line(image, a, b);
            line(image, [a[0] + 1.0, a[1] + 1.0], [b[0] + 1.0, b[1] + 1.0]);
        }
        number(image, i + 1, q[0][0] as i64 + 3, q[0][1] as i64 + 3);
    }
}

fn put(image: &mut RgbImage, x: i64, y: i64, color: Rgb<u8>) {
    if x >= 0 && y >= 0 && (x as u64) < image.width() as u64 && (y as u64) < image.height() as u64 {
        image.put_pixel(x as u32, y as u32, color);
    }
}

fn line(image: &mut RgbImage, a: [f32; 2], b: [f32; 2]) {
    let steps = (b[0] - a[0])
        .abs()
        .max((b[1] - a[1]).abs())
        .ceil()
        .clamp(1.0, 100_000.0) as i64;
    for s in 0..=steps {
        let t = s as f32 / steps as f32;
        let (x, y) = (a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t);
        put(image, x.round() as i64, y.round() as i64, BOX);
    }
}

fn number(image: &mut RgbImage, n: usize, x: i64, y: i64) {
    const SCALE: i64 = 2;
    for (k, ch) in n.to_string().bytes().enumerate() {
        let glyph = DIGITS[(ch - b'0') as usize];
        let x0 = x + k as i64 * 4 * SCALE;
        for (row, bits) in glyph.iter().enumerate() {
            for col in 0..3 {
                if bits & (0b100 >> col) != 0 {
                    for dy in 0..SCALE {
                        for dx in 0..SCALE {
                            put(
                                image,
                                x0 + col * SCALE + dx,
                                y + row as i64 * SCALE + dy,
                                BOX,
                            );
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_outline_and_stays_inside_the_image() {
        let mut img = RgbImage::from_pixel(50, 30, Rgb([255, 255, 255]));
        draw_boxes(
            &mut img,
            &[
                [[5.0, 5.0], [40.0, 5.0], [40.0, 20.0], [5.0, 20.0]],
                [[-9.0, -9.0], [1e9, -9.0], [1e9, 1e9], [-9.0, 1e9]],
            ],
        );
        assert_eq!(*img.get_pixel(20, 5), BOX);
        assert_eq!(*img.get_pixel(40, 12), BOX);
        assert_eq!(*img.get_pixel(25, 12), Rgb([255, 255, 255]));
    }
}
