//! Decoding of hostile and ordinary inputs.

use std::io::Cursor;

use image::{DynamicImage, GrayImage, ImageFormat, Luma, Rgb, RgbImage, Rgba, RgbaImage};
use wenzi_preprocess::{decode, DecodeLimits, PreprocessError};

fn encode(img: DynamicImage, format: ImageFormat) -> Vec<u8> {
    let mut buf = Cursor::new(Vec::new());
    img.write_to(&mut buf, format).expect("encode");
    buf.into_inner()
}

fn sample_rgb(w: u32, h: u32) -> RgbImage {
    RgbImage::from_fn(w, h, |x, y| {
        Rgb([(x * 7) as u8, (y * 11) as u8, ((x + y) * 3) as u8])
    })
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn png_chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    let mut body = kind.to_vec();
    body.extend_from_slice(data);
    out.extend_from_slice(&body);
    out.extend_from_slice(&crc32(&body).to_be_bytes());
}

/// A syntactically valid PNG whose IHDR claims `w × h` RGB pixels, with a tiny IDAT.
fn png_claiming(w: u32, h: u32) -> Vec<u8> {
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&w.to_be_bytes());
    ihdr.extend_from_slice(&h.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]); // 8-bit, truecolour, deflate, filter 0, no interlace
    png_chunk(&mut out, b"IHDR", &ihdr);
    // zlib stream of a few zero bytes (stored block).
    png_chunk(
        &mut out,
        b"IDAT",
        &[
            0x78, 0x01, 0x01, 0x04, 0x00, 0xfb, 0xff, 0, 0, 0, 0, 0, 0x04, 0, 0x01,
        ],
    );
    png_chunk(&mut out, b"IEND", &[]);
    out
}

#[test]
fn crc_matches_known_value() {
    assert_eq!(crc32(b"IEND"), 0xAE42_6082);
}

#[test]
fn empty_input_is_empty() {
    assert_eq!(
        decode(&[], &DecodeLimits::default()),
        Err(PreprocessError::Empty)
    );
}

#[test]
fn random_bytes_are_unsupported() {
    let bytes: Vec<u8> = (0..1000u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    assert_eq!(
        decode(&bytes, &DecodeLimits::default()),
        Err(PreprocessError::UnsupportedFormat)
    );
    assert_eq!(
        decode(b"hello", &DecodeLimits::default()),
        Err(PreprocessError::UnsupportedFormat)
    );
}

#[test]
fn truncated_png_is_corrupt() {
    let png = encode(
        DynamicImage::ImageRgb8(sample_rgb(64, 64)),
        ImageFormat::Png,
    );
    for cut in [9, 20, 33, 60, png.len() / 2, png.len() - 13] {
        match decode(&png[..cut], &DecodeLimits::default()) {
            Err(PreprocessError::Corrupt(_)) => {}
            other => panic!("cut at {cut}: expected Corrupt, got {other:?}"),
        }
    }
}

#[test]
fn truncated_jpeg_never_panics_and_header_cuts_are_corrupt() {
    let jpg = encode(
        DynamicImage::ImageRgb8(sample_rgb(64, 48)),
        ImageFormat::Jpeg,
    );
    for cut in [3, 10, 40, 100] {
        match decode(&jpg[..cut], &DecodeLimits::default()) {
            Err(PreprocessError::Corrupt(_)) => {}
            other => panic!("cut at {cut}: expected Corrupt, got {other:?}"),
        }
    }
    // Cuts inside the entropy-coded data may be decoded leniently (grey fill) or refused,
    // but must never panic.
    for cut in (100..jpg.len()).step_by(37) {
        let _ = decode(&jpg[..cut], &DecodeLimits::default());
    }
}

#[test]
fn header_claiming_huge_image_is_too_large_without_decoding() {
    let png = png_claiming(100_000, 100_000);
    assert_eq!(
        decode(&png, &DecodeLimits::default()),
        Err(PreprocessError::TooLarge {
            width: 100_000,
            height: 100_000,
            max_pixels: 50_000_000
        })
    );
}

#[test]
fn max_pixels_is_configurable() {
    let png = encode(
        DynamicImage::ImageRgb8(sample_rgb(100, 100)),
        ImageFormat::Png,
    );
    assert_eq!(
        decode(&png, &DecodeLimits::with_max_pixels(5000)),
        Err(PreprocessError::TooLarge {
            width: 100,
            height: 100,
            max_pixels: 5000
        })
    );
    assert!(decode(&png, &DecodeLimits::with_max_pixels(10_000)).is_ok());
}

#[test]
fn zero_sized_header_is_refused() {
    for (w, h) in [(0, 0), (0, 10), (10, 0)] {
        match decode(&png_claiming(w, h), &DecodeLimits::default()) {
            Err(PreprocessError::ZeroSized) => {}
            other => panic!("{w}x{h}: expected ZeroSized, got {other:?}"),
        }
    }
}

#[test]
fn one_by_one_decodes() {
    let png = encode(
        DynamicImage::ImageRgb8(RgbImage::from_pixel(1, 1, Rgb([1, 2, 3]))),
        ImageFormat::Png,
    );
    let img = decode(&png, &DecodeLimits::default()).unwrap();
    assert_eq!(img.dimensions(), (1, 1));
    assert_eq!(img.get_pixel(0, 0), &Rgb([1, 2, 3]));
}

#[test]
fn all_supported_formats_round_trip_by_content() {
    let rgb = sample_rgb(16, 12);
    let lossless = [
        ImageFormat::Png,
        ImageFormat::Bmp,
        ImageFormat::Tiff,
        ImageFormat::Pnm,
        ImageFormat::WebP,
    ];
    for format in lossless {
        let bytes = encode(DynamicImage::ImageRgb8(rgb.clone()), format);
        let img =
            decode(&bytes, &DecodeLimits::default()).unwrap_or_else(|e| panic!("{format:?}: {e}"));
        assert_eq!(img, rgb, "{format:?}");
    }
    // Lossy / palette formats: size and rough colour.
    let flat = RgbImage::from_pixel(16, 12, Rgb([200, 30, 30]));
    for format in [ImageFormat::Jpeg, ImageFormat::Gif] {
        let bytes = encode(DynamicImage::ImageRgb8(flat.clone()), format);
        let img =
            decode(&bytes, &DecodeLimits::default()).unwrap_or_else(|e| panic!("{format:?}: {e}"));
        assert_eq!(img.dimensions(), (16, 12));
        let p = img.get_pixel(8, 6);
        assert!(p[0] > 170 && p[1] < 70 && p[2] < 70, "{format:?}: {p:?}");
    }
}

#[test]
fn grayscale_sources_become_rgb() {
    let gray = GrayImage::from_fn(5, 4, |x, _| Luma([(x * 50) as u8]));
    let bytes = encode(DynamicImage::ImageLuma8(gray), ImageFormat::Png);
    let img = decode(&bytes, &DecodeLimits::default()).unwrap();
    assert_eq!(img.get_pixel(2, 1), &Rgb([100, 100, 100]));
}

#[test]
fn transparency_is_composited_onto_white() {
    // Black "text" pixels on a fully transparent black background (a typical screenshot crop).
    let rgba = RgbaImage::from_fn(8, 8, |x, _| {
        if x < 2 {
            Rgba([0, 0, 0, 255])
        } else {
            Rgba([0, 0, 0, 0])
        }
    });
    let bytes = encode(DynamicImage::ImageRgba8(rgba), ImageFormat::Png);
    let img = decode(&bytes, &DecodeLimits::default()).unwrap();
    assert_eq!(img.get_pixel(0, 0), &Rgb([0, 0, 0]));
    assert_eq!(img.get_pixel(5, 5), &Rgb([255, 255, 255]));
    // Half transparency blends halfway.
    let half = RgbaImage::from_pixel(2, 2, Rgba([0, 0, 0, 128]));
    let img = decode(
        &encode(DynamicImage::ImageRgba8(half), ImageFormat::Png),
        &DecodeLimits::default(),
    )
    .unwrap();
    assert!((126..=128).contains(&img.get_pixel(0, 0)[0]));
}

/// Inserts an APP1/Exif segment carrying `orientation` right after the JPEG SOI marker.
fn with_exif_orientation(jpeg: &[u8], orientation: u16) -> Vec<u8> {
    let mut tiff = b"MM\x00\x2a\x00\x00\x00\x08".to_vec();
    tiff.extend_from_slice(&1u16.to_be_bytes()); // one IFD entry
    tiff.extend_from_slice(&0x0112u16.to_be_bytes()); // Orientation
    tiff.extend_from_slice(&3u16.to_be_bytes()); // SHORT
    tiff.extend_from_slice(&1u32.to_be_bytes()); // count
    tiff.extend_from_slice(&orientation.to_be_bytes());
    tiff.extend_from_slice(&[0, 0]);
    tiff.extend_from_slice(&0u32.to_be_bytes()); // no next IFD
    let mut payload = b"Exif\x00\x00".to_vec();
    payload.extend_from_slice(&tiff);
    let mut out = jpeg[..2].to_vec();
    out.extend_from_slice(&[0xFF, 0xE1]);
    out.extend_from_slice(&((payload.len() + 2) as u16).to_be_bytes());
    out.extend_from_slice(&payload);
    out.extend_from_slice(&jpeg[2..]);
    out
}

#[test]
fn exif_orientation_is_applied() {
    // 40×20: left half black, right half white.
    let img = RgbImage::from_fn(40, 20, |x, _| {
        if x < 20 {
            Rgb([0, 0, 0])
        } else {
            Rgb([255, 255, 255])
        }
    });
    let jpeg = encode(DynamicImage::ImageRgb8(img), ImageFormat::Jpeg);

    let plain = decode(&jpeg, &DecodeLimits::default()).unwrap();
    assert_eq!(plain.dimensions(), (40, 20));

    // Orientation 6: the stored image must be rotated 90° clockwise for display, so the left
    // (black) half ends up on top.
    let rotated = decode(&with_exif_orientation(&jpeg, 6), &DecodeLimits::default()).unwrap();
    assert_eq!(rotated.dimensions(), (20, 40));
    assert!(rotated.get_pixel(10, 5)[0] < 50, "top should be black");
    assert!(rotated.get_pixel(10, 35)[0] > 200, "bottom should be white");

    // Orientation 8 (90° counter-clockwise): the black half ends up at the bottom.
    let rotated = decode(&with_exif_orientation(&jpeg, 8), &DecodeLimits::default()).unwrap();
    assert_eq!(rotated.dimensions(), (20, 40));
    assert!(rotated.get_pixel(10, 35)[0] < 50);

    // Garbage orientation values are ignored, not fatal.
    let odd = decode(&with_exif_orientation(&jpeg, 77), &DecodeLimits::default()).unwrap();
    assert_eq!(odd.dimensions(), (40, 20));
}

#[test]
fn animated_gif_yields_first_frame() {
    use image::codecs::gif::GifEncoder;
    use image::Frame;
    let mut bytes = Vec::new();
    {
        let mut enc = GifEncoder::new(&mut bytes);
        let red = RgbaImage::from_pixel(6, 4, Rgba([255, 0, 0, 255]));
        let blue = RgbaImage::from_pixel(6, 4, Rgba([0, 0, 255, 255]));
        enc.encode_frames(vec![Frame::new(red), Frame::new(blue)])
            .unwrap();
    }
    let img = decode(&bytes, &DecodeLimits::default()).unwrap();
    assert_eq!(img.dimensions(), (6, 4));
    let p = img.get_pixel(2, 2);
    assert!(p[0] > 200 && p[2] < 50, "{p:?}");
}
