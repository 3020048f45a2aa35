//! Property tests: no panics, binary outputs, skew recovery, non-zero sizes.

use image::{GrayImage, Luma, RgbImage};
use proptest::prelude::*;
use wenzi_preprocess::*;

fn gray_image() -> impl Strategy<Value = GrayImage> {
    (1u32..40, 1u32..40).prop_flat_map(|(w, h)| {
        proptest::collection::vec(any::<u8>(), (w * h) as usize)
            .prop_map(move |px| GrayImage::from_raw(w, h, px).unwrap())
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn binarized_output_is_only_0_or_255(img in gray_image(), window in 1u32..50, k in -1.0f32..1.0) {
        prop_assert!(otsu(&img).pixels().all(|p| p[0] == 0 || p[0] == 255));
        let b = sauvola(&img, &SauvolaParams { window, k, r: 128.0 });
        prop_assert_eq!(b.dimensions(), img.dimensions());
        prop_assert!(b.pixels().all(|p| p[0] == 0 || p[0] == 255));
    }

    #[test]
    fn decode_of_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = decode(&bytes, &DecodeLimits::default());
    }

    #[test]
    fn decode_of_mangled_headers_never_panics(
        magic in prop_oneof![
            Just(b"\x89PNG\r\n\x1a\n".to_vec()), Just(b"\xFF\xD8\xFF".to_vec()), Just(b"GIF89a".to_vec()),
            Just(b"BM".to_vec()), Just(b"II*\x00".to_vec()), Just(b"MM\x00*".to_vec()),
            Just(b"RIFF\x00\x00\x00\x00WEBPVP8 ".to_vec()), Just(b"P6\n".to_vec()), Just(b"P1 ".to_vec()),
        ],
        tail in proptest::collection::vec(any::<u8>(), 0..512),
    ) {
        let mut bytes = magic;
        bytes.extend_from_slice(&tail);
        let _ = decode(&bytes, &DecodeLimits::with_max_pixels(1 << 20));
    }

    #[test]
    fn resize_never_yields_zero_dimension(w in 0u32..64, h in 0u32..64, tw in 0u32..64, th in 0u32..64) {
        let img = RgbImage::new(w, h);
        let r = resize_rgb(&img, tw, th);
        prop_assert!(r.width() >= 1 && r.height() >= 1);
        prop_assert_eq!(r.dimensions(), (tw.max(1), th.max(1)));
        let (d, sx, sy) = resize_for_det(&img, &DetResizePolicy::default());
        prop_assert!(d.width() >= 32 && d.height() >= 32);
        prop_assert!(sx.is_finite() && sy.is_finite() && sx > 0.0 && sy > 0.0);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn deskew_recovers_the_rotation(theta in -10.0f32..10.0, seed in 0u32..1000) {
        let page = synthetic_page(420, 300, seed);
        let rot = Rotation::new(page.width(), page.height(), theta);
        let skewed = rotate_gray(&page, &rot, 255);
        let est = estimate_skew(&skewed);
        prop_assert!((est - theta).abs() <= 0.3, "theta {} estimated {}", theta, est);
    }
}

fn synthetic_page(w: u32, h: u32, seed: u32) -> GrayImage {
    let mut img = GrayImage::from_pixel(w, h, Luma([245]));
    let mut s = seed.wrapping_mul(2654435761).wrapping_add(1);
    let mut next = |m: u32| {
        s ^= s << 13;
        s ^= s >> 17;
        s ^= s << 5;
        s % m.max(1)
    };
    let pitch = 18 + next(10);
    let th = 8 + next(5);
    let mut y = 20;
    while y + th + 20 < h {
        let mut x = 20 + next(30);
        let end = w - 20 - next(120);
        while x + 6 < end {
            let ww = 5 + next(30);
            for yy in y..y + th {
                for xx in x..(x + ww).min(end) {
                    img.put_pixel(xx, yy, Luma([25]));
                }
            }
            x += ww + 4 + next(4);
        }
        y += pitch;
    }
    img
}
