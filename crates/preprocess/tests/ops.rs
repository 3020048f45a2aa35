//! Binarization, deskew, resize and normalization on synthetic images.

use image::{GrayImage, Luma, Rgb, RgbImage};
use wenzi_preprocess::*;

/// A synthetic "page": lines of dark word-rectangles on white.
pub fn page(w: u32, h: u32, seed: u32) -> GrayImage {
    let mut img = GrayImage::from_pixel(w, h, Luma([250]));
    let mut rng = seed.wrapping_mul(747796405).wrapping_add(2891336453);
    let mut next = |m: u32| {
        rng ^= rng << 13;
        rng ^= rng >> 17;
        rng ^= rng << 5;
        rng % m.max(1)
    };
    let mut y = 30;
    while y + 12 < h - 30 {
        let mut x = 30 + next(20);
        while x + 10 < w - 30 {
            let ww = 8 + next(40);
            for yy in y..y + 12 {
                for xx in x..(x + ww).min(w - 30) {
                    img.put_pixel(xx, yy, Luma([20]));
                }
            }
            x += ww + 6;
        }
        y += 24;
    }
    img
}

#[test]
fn otsu_separates_two_levels() {
    let img = GrayImage::from_fn(20, 10, |x, _| Luma([if x < 5 { 40 } else { 210 }]));
    let t = otsu_threshold(&img);
    assert!((40..210).contains(&t), "t = {t}");
    let b = otsu(&img);
    assert_eq!(b.get_pixel(0, 0)[0], 0);
    assert_eq!(b.get_pixel(19, 0)[0], 255);
}

#[test]
fn constant_images_binarize_to_background() {
    for v in [1u8, 128, 255] {
        let img = GrayImage::from_pixel(9, 9, Luma([v]));
        assert!(otsu(&img).pixels().all(|p| p[0] == 255), "v={v}");
        assert!(
            sauvola(&img, &SauvolaParams::default())
                .pixels()
                .all(|p| p[0] == 255),
            "v={v}"
        );
    }
}

#[test]
fn sauvola_handles_uneven_illumination() {
    // Text-like dark bars on a background that darkens from 240 to 90 left to right; the right
    // part's *background* is darker than the left part's *ink*, which defeats any global
    // threshold.
    let (w, h) = (300u32, 60u32);
    let img = GrayImage::from_fn(w, h, |x, y| {
        let bg = 240.0 - 150.0 * x as f32 / w as f32;
        let ink = (y / 6) % 2 == 0 && (x / 10) % 2 == 0;
        Luma([if ink { (bg * 0.45) as u8 } else { bg as u8 }])
    });
    let b = sauvola(
        &img,
        &SauvolaParams {
            window: 25,
            ..Default::default()
        },
    );
    let mut wrong = 0;
    for (x, y, p) in b.enumerate_pixels() {
        let ink = (y / 6) % 2 == 0 && (x / 10) % 2 == 0;
        if (p[0] == 0) != ink {
            wrong += 1;
        }
    }
    assert!(wrong * 20 < (w * h) as usize, "{wrong} misclassified");
}

#[test]
fn dark_mode_is_detected() {
    let light = page(200, 120, 1);
    assert!(dark_is_minority(&light));
    assert!(!dark_is_minority(&invert(&light)));
}

#[test]
fn deskew_straightens_a_rotated_page() {
    let page = page(500, 360, 7);
    for angle in [-7.5f32, -2.0, 0.0, 3.3, 9.0] {
        let rot = Rotation::new(page.width(), page.height(), angle);
        let skewed = rotate_gray(&page, &rot, 255);
        let est = estimate_skew(&skewed);
        assert!((est - angle).abs() <= 0.3, "angle {angle}: estimated {est}");
        let (fixed, a) = deskew(&skewed);
        assert_eq!(a, est);
        assert!(estimate_skew(&fixed).abs() <= 0.3);
    }
}

#[test]
fn blank_pages_have_no_skew() {
    assert_eq!(
        estimate_skew(&GrayImage::from_pixel(50, 50, Luma([255]))),
        0.0
    );
    assert_eq!(estimate_skew(&GrayImage::new(0, 0)), 0.0);
    let (img, a) = deskew(&GrayImage::new(1, 1));
    assert_eq!((img.dimensions(), a), ((1, 1), 0.0));
}

#[test]
fn rotation_maps_points_both_ways() {
    let rot = Rotation::new(300, 100, 12.0);
    for p in [[0.0f32, 0.0], [299.0, 99.0], [150.0, 20.0]] {
        let q = rot.to_src(rot.to_dst(p));
        assert!((q[0] - p[0]).abs() < 1e-3 && (q[1] - p[1]).abs() < 1e-3);
        let d = rot.to_dst(p);
        assert!(
            d[0] >= -0.5 && d[1] >= -0.5 && d[0] <= rot.dst_w as f32 && d[1] <= rot.dst_h as f32
        );
    }
    // Zero rotation is the identity, same size.
    let id = Rotation::new(31, 17, 0.0);
    assert_eq!((id.dst_w, id.dst_h), (31, 17));
    let img = GrayImage::from_fn(31, 17, |x, y| Luma([(x * 8 + y) as u8]));
    assert_eq!(rotate_gray(&img, &id, 255), img);
}

#[test]
fn bilinear_resize_matches_opencv_conventions() {
    // Upscaling 2 px [0, 100] to 4 px with half-pixel centres gives [0, 25, 75, 100].
    let img = GrayImage::from_raw(2, 1, vec![0, 100]).unwrap();
    let up = resize_gray(&img, 4, 1);
    assert_eq!(up.as_raw(), &vec![0, 25, 75, 100]);
    // Downscaling by 2 averages pairs.
    let img = GrayImage::from_raw(4, 1, vec![0, 100, 200, 250]).unwrap();
    assert_eq!(resize_gray(&img, 2, 1).as_raw(), &vec![50, 225]);
    // Constant images stay constant, including at the edges.
    let c = RgbImage::from_pixel(7, 5, Rgb([10, 20, 30]));
    assert!(resize_rgb(&c, 23, 3)
        .pixels()
        .all(|p| *p == Rgb([10, 20, 30])));
    // Zero sizes are clamped.
    assert_eq!(resize_rgb(&c, 0, 0).dimensions(), (1, 1));
    assert_eq!(resize_rgb(&RgbImage::new(0, 0), 3, 2).dimensions(), (3, 2));
}

#[test]
fn det_sizes_are_multiples_of_32() {
    let policies = [
        DetResizePolicy::default(),
        DetResizePolicy::rapidocr(),
        DetResizePolicy::LimitMax { side: 960 },
    ];
    for (w, h) in [
        (1u32, 1u32),
        (10, 1000),
        (1366, 732),
        (526, 60),
        (3000, 2000),
    ] {
        let img = RgbImage::from_pixel(w, h, Rgb([255, 255, 255]));
        for p in &policies {
            let (rw, rh) = det_input_size(&img, p);
            assert!(
                rw >= 32 && rh >= 32 && rw % 32 == 0 && rh % 32 == 0,
                "{w}x{h} {p:?} -> {rw}x{rh}"
            );
        }
    }
}

#[test]
fn rapidocr_policy_matches_rapidocr() {
    // Values computed with RapidOCR's DetPreProcess (limit_type=min, 736) after
    // resize_image_within_bounds(max_side_len=2000).
    let size = |w, h| det_input_size(&RgbImage::new(w, h), &DetResizePolicy::rapidocr());
    assert_eq!(size(1366, 732), (1376, 736));
    assert_eq!(size(1266, 600), (1536, 736)); // int(1266*736/600)=1552 -> round(48.5)=48 (ties to even)
    assert_eq!(size(4000, 3000), (1984, 1504)); // 2000 -> round(62.5) = 62 (ties to even)
}

#[test]
fn adaptive_policy_keeps_small_text_and_shrinks_big_pages() {
    // Big page, big text: shrunk to the preferred long side.
    let big = page_rgb(2400, 1600, 40);
    let (w, h) = det_input_size(&big, &DetResizePolicy::default());
    assert_eq!((w, h), (1536, 1024), "{w}x{h}");
    // Same page with small text: not shrunk below ~12 px glyphs.
    let small = page_rgb(2400, 1600, 12);
    let (w, _) = det_input_size(&small, &DetResizePolicy::default());
    assert!(w >= 2300, "{w}");
    // Tiny image: short side raised to >= 64.
    let tiny = RgbImage::from_pixel(100, 20, Rgb([255, 255, 255]));
    let (_, h) = det_input_size(&tiny, &DetResizePolicy::default());
    assert!(h >= 64);
}

fn page_rgb(w: u32, h: u32, text_h: u32) -> RgbImage {
    let mut img = RgbImage::from_pixel(w, h, Rgb([255, 255, 255]));
    let mut y = 20;
    while y + text_h + 20 < h {
        let mut x = 20;
        while x + text_h < w - 20 {
            for yy in y..y + text_h {
                for xx in x..x + text_h * 8 / 10 {
                    img.put_pixel(xx, yy, Rgb([0, 0, 0]));
                }
            }
            x += text_h;
        }
        y += text_h * 2;
    }
    img
}

#[test]
fn text_height_estimate_does_not_depend_on_which_way_the_page_lies() {
    // Glyphs 30 high and 24 wide: a page turned a quarter has the same text size.
    let page = to_gray(&page_rgb(600, 400, 30));
    let upright = estimate_text_height(&page).unwrap();
    for turned in [
        image::imageops::rotate90(&page),
        image::imageops::rotate270(&page),
    ] {
        assert_eq!(estimate_text_height(&turned), Some(upright));
    }
    assert!((upright - 30.0).abs() <= 1.0, "{upright}");
}

#[test]
fn text_height_estimate_is_close() {
    for th in [10u32, 18, 30] {
        let est = estimate_text_height(&to_gray(&page_rgb(600, 400, th))).unwrap();
        assert!((est - th as f32).abs() <= 1.0, "{th}: {est}");
    }
    assert_eq!(
        estimate_text_height(&GrayImage::from_pixel(100, 100, Luma([255]))),
        None
    );
}

#[test]
fn resize_for_det_reports_scales() {
    let img = RgbImage::from_pixel(1000, 500, Rgb([255, 255, 255]));
    let (r, sx, sy) = resize_for_det(&img, &DetResizePolicy::LimitMax { side: 640 });
    assert_eq!(r.dimensions(), (640, 320));
    assert!((sx - 0.64).abs() < 1e-6 && (sy - 0.64).abs() < 1e-6);
}

#[test]
fn nchw_normalization_in_bgr_order() {
    let img = RgbImage::from_fn(3, 2, |x, _| Rgb([255, (x * 100) as u8, 0]));
    let t = to_nchw(&img, [0.5; 3], [0.5; 3], ChannelOrder::Bgr);
    assert_eq!(t.shape(), &[1, 3, 2, 3]);
    // Channel 0 is blue (0 -> -1), channel 2 is red (255 -> 1).
    assert!((t[[0, 0, 1, 2]] + 1.0).abs() < 1e-6);
    assert!((t[[0, 2, 0, 0]] - 1.0).abs() < 1e-6);
    assert!((t[[0, 1, 0, 1]] - (100.0 / 255.0 - 0.5) / 0.5).abs() < 1e-6);
    let rgb = to_nchw(&img, [0.0; 3], [1.0; 3], ChannelOrder::Rgb);
    assert!((rgb[[0, 0, 0, 0]] - 1.0).abs() < 1e-6);
    // Degenerate std never produces inf/NaN.
    let z = to_nchw(
        &img,
        [f32::NAN, 0.0, 0.0],
        [0.0, f32::INFINITY, 1.0],
        ChannelOrder::Bgr,
    );
    assert!(z.iter().all(|v| v.is_finite()));
}
