//! Single-line input recognition.

use std::path::PathBuf;

use image::{GrayImage, Luma};
use wenzi_detect::looks_like_single_line;
use wenzi_detect::preprocess::{decode, to_gray, DecodeLimits};

/// Glyph-like marks (outlined squares with a bar) of height `th` along a row.
fn text_row(img: &mut GrayImage, x: u32, y: u32, n: u32, th: u32) {
    let stroke = (th / 8).max(1);
    for k in 0..n {
        let cx = x + k * (th + th / 8);
        for yy in y..y + th {
            for xx in cx..cx + th {
                let edge = xx < cx + stroke
                    || xx + stroke >= cx + th
                    || yy < y + stroke
                    || yy + stroke >= y + th;
                let bar = yy == y + th / 2;
                if (edge || bar) && xx < img.width() && yy < img.height() {
                    img.put_pixel(xx, yy, Luma([20]));
                }
            }
        }
    }
}

#[test]
fn one_line_crop_is_a_single_line() {
    let mut img = GrayImage::from_pixel(400, 40, Luma([250]));
    text_row(&mut img, 8, 6, 12, 28);
    assert!(looks_like_single_line(&img));
    // Light-on-dark too.
    let mut inv = img.clone();
    inv.pixels_mut().for_each(|p| p[0] = 255 - p[0]);
    assert!(looks_like_single_line(&inv));
    // An underline does not make it two lines.
    for x in 8..380 {
        img.put_pixel(x, 37, Luma([20]));
    }
    assert!(looks_like_single_line(&img));
}

#[test]
fn short_two_line_image_is_not_a_single_line() {
    let mut img = GrayImage::from_pixel(300, 60, Luma([250]));
    text_row(&mut img, 5, 3, 10, 24);
    text_row(&mut img, 5, 32, 3, 24); // a short second line
    assert!(!looks_like_single_line(&img));
    // Lines only one blank row apart (one projection band) are still two lines.
    let mut tight = GrayImage::from_pixel(300, 52, Luma([250]));
    text_row(&mut tight, 5, 1, 10, 24);
    text_row(&mut tight, 17, 26, 10, 24);
    assert!(!looks_like_single_line(&tight));
}

#[test]
fn pages_blank_and_tiny_images_are_not_single_lines() {
    let mut page = GrayImage::from_pixel(600, 400, Luma([250]));
    for i in 0..8 {
        text_row(&mut page, 20, 20 + 45 * i, 15, 24);
    }
    assert!(!looks_like_single_line(&page));
    assert!(!looks_like_single_line(&GrayImage::from_pixel(
        400,
        40,
        Luma([255])
    )));
    assert!(!looks_like_single_line(&GrayImage::new(0, 0)));
    assert!(!looks_like_single_line(&GrayImage::from_pixel(
        3,
        1,
        Luma([0])
    )));
    // Wide image with a small line lost in a big margin: detection should crop it first.
    let mut sparse = GrayImage::from_pixel(1200, 300, Luma([250]));
    text_row(&mut sparse, 100, 140, 20, 20);
    assert!(!looks_like_single_line(&sparse));
}

#[test]
fn rendered_line_fixture_is_a_single_line() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/detect/line_000.png");
    let img = decode(&std::fs::read(path).unwrap(), &DecodeLimits::default()).unwrap();
    assert!(looks_like_single_line(&to_gray(&img)));
}
