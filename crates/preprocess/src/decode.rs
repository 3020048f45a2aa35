//! Safe image decoding: format sniffing, decompression-bomb refusal, EXIF orientation and
//! alpha flattening.
//!
//! Every untrusted upload passes through [`decode`], so it must never panic and never allocate
//! memory proportional to what a header *claims* before that claim has been checked.

use std::io::Cursor;

use image::{DynamicImage, ImageDecoder, ImageError, ImageFormat, ImageReader, RgbImage};

use crate::PreprocessError;

/// Resource limits applied while decoding untrusted bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeLimits {
    /// Largest accepted `width * height`. Checked against the header before any pixel is decoded.
    pub max_pixels: u64,
    /// Upper bound on what the decoder itself may allocate (passed to `image::Limits::max_alloc`).
    /// `None` derives it from `max_pixels` (8 bytes per pixel, the widest layout we accept,
    /// plus 16 MiB of slack for decoder state).
    pub max_alloc: Option<u64>,
}

impl Default for DecodeLimits {
    fn default() -> Self {
        Self {
            max_pixels: 50_000_000,
            max_alloc: None,
        }
    }
}

impl DecodeLimits {
    /// Limits that accept at most `max_pixels` pixels, with a derived allocation limit.
    pub fn with_max_pixels(max_pixels: u64) -> Self {
        Self {
            max_pixels,
            max_alloc: None,
        }
    }

    fn alloc_limit(&self) -> u64 {
        self.max_alloc
            .unwrap_or_else(|| self.max_pixels.saturating_mul(8).saturating_add(16 << 20))
    }
}

/// Decodes an image from memory into 8-bit RGB.
///
/// * The format is sniffed from the content (magic bytes), never from a file name.
/// * Supported: PNG, JPEG, BMP, GIF (first frame), WebP, TIFF, PNM.
/// * Dimensions are read from the header first; images with a zero side or more than
///   `limits.max_pixels` pixels are refused before any pixel buffer is allocated.
/// * EXIF orientation (JPEG, and any other format whose decoder exposes EXIF) is applied, so the
///   result is upright the way a photo viewer would show it.
/// * Transparency is composited onto white: transparent screenshots of black text become
///   black-on-white rather than black-on-black.
pub fn decode(bytes: &[u8], limits: &DecodeLimits) -> Result<RgbImage, PreprocessError> {
    if bytes.is_empty() {
        return Err(PreprocessError::Empty);
    }
    let format = image::guess_format(bytes).map_err(|_| PreprocessError::UnsupportedFormat)?;
    if !is_supported(format) {
        return Err(PreprocessError::UnsupportedFormat);
    }

    // Some decoders reject a zero side as a generic format error; read the fixed-layout headers
    // ourselves so callers get the precise reason.
    // The same header read refuses decompression bombs before any decoder runs.
    if let Some((w, h)) = header_dimensions(bytes, format) {
        check_dimensions(w, h, limits)?;
    }

    let mut image_limits = image::Limits::default();
    image_limits.max_alloc = Some(limits.alloc_limit());
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    reader.limits(image_limits);

    let mut decoder = match reader.into_decoder() {
        Ok(d) => d,
        // The decoder refused the header against our allocation limit. Learn the dimensions from
        // the header alone (no pixel allocation) so the caller gets a precise error.
        Err(ImageError::Limits(_)) => return Err(too_large_from_header(bytes, format, limits)),
        Err(e) => return Err(map_image_error(e, limits)),
    };

    let (width, height) = decoder.dimensions();
    check_dimensions(width, height, limits)?;

    // Malformed EXIF must not make an otherwise valid image fail: fall back to "as stored".
    let orientation = decoder
        .orientation()
        .unwrap_or(image::metadata::Orientation::NoTransforms);

    let mut img = DynamicImage::from_decoder(decoder).map_err(|e| map_image_error(e, limits))?;
    img.apply_orientation(orientation);
    Ok(flatten_onto_white(img))
}

fn is_supported(format: ImageFormat) -> bool {
    matches!(
        format,
        ImageFormat::Png
            | ImageFormat::Jpeg
            | ImageFormat::Bmp
            | ImageFormat::Gif
            | ImageFormat::WebP
            | ImageFormat::Tiff
            | ImageFormat::Pnm
    )
}

/// Dimensions from fixed-offset header fields (PNG IHDR, GIF screen descriptor, BMP info
/// header), when present. Other formats rely on their decoder.
fn header_dimensions(bytes: &[u8], format: ImageFormat) -> Option<(u32, u32)> {
    let be32 = |o: usize| Some(u32::from_be_bytes(bytes.get(o..o + 4)?.try_into().ok()?));
    let le16 = |o: usize| {
        Some(u32::from(u16::from_le_bytes(
            bytes.get(o..o + 2)?.try_into().ok()?,
        )))
    };
    let le32 = |o: usize| Some(i32::from_le_bytes(bytes.get(o..o + 4)?.try_into().ok()?));
    match format {
        ImageFormat::Png if bytes.get(12..16) == Some(b"IHDR") => Some((be32(16)?, be32(20)?)),
        ImageFormat::Gif => Some((le16(6)?, le16(8)?)),
        // BITMAPINFOHEADER and later (size >= 40): signed width/height at 18/22.
        ImageFormat::Bmp if le32(14)? >= 40 => {
            Some((le32(18)?.unsigned_abs(), le32(22)?.unsigned_abs()))
        }
        _ => None,
    }
}

fn check_dimensions(width: u32, height: u32, limits: &DecodeLimits) -> Result<(), PreprocessError> {
    if width == 0 || height == 0 {
        return Err(PreprocessError::ZeroSized);
    }
    if u64::from(width) * u64::from(height) > limits.max_pixels {
        return Err(PreprocessError::TooLarge {
            width,
            height,
            max_pixels: limits.max_pixels,
        });
    }
    Ok(())
}

fn too_large_from_header(
    bytes: &[u8],
    format: ImageFormat,
    limits: &DecodeLimits,
) -> PreprocessError {
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    reader.no_limits();
    match reader.into_dimensions() {
        Ok((w, h)) => match check_dimensions(w, h, limits) {
            Err(e) => e,
            // Within the pixel budget yet over the allocation budget (e.g. a huge ICC profile or
            // a wide sample format): still a resource refusal.
            Ok(()) => PreprocessError::TooLarge {
                width: w,
                height: h,
                max_pixels: limits.max_pixels,
            },
        },
        Err(e) => map_image_error(e, limits),
    }
}

fn map_image_error(e: ImageError, limits: &DecodeLimits) -> PreprocessError {
    match e {
        ImageError::Unsupported(u) => match u.kind() {
            image::error::UnsupportedErrorKind::Format(_) => PreprocessError::UnsupportedFormat,
            // A known container with an unsupported feature (e.g. an exotic TIFF compression):
            // from the caller's point of view the data cannot be read.
            _ => PreprocessError::Corrupt(u.to_string()),
        },
        ImageError::Limits(_) => PreprocessError::TooLarge {
            width: 0,
            height: 0,
            max_pixels: limits.max_pixels,
        },
        other => PreprocessError::Corrupt(other.to_string()),
    }
}

/// Converts any decoded layout to RGB8, compositing transparent pixels onto white.
pub fn flatten_onto_white(img: DynamicImage) -> RgbImage {
    if !img.color().has_alpha() {
        return img.into_rgb8();
    }
    let rgba = img.into_rgba8();
    let (w, h) = rgba.dimensions();
    let mut out = RgbImage::new(w, h);
    for (dst, src) in out.pixels_mut().zip(rgba.pixels()) {
        let a = u32::from(src[3]);
        let inv = 255 - a;
        for c in 0..3 {
            // Rounded integer blend: c*a/255 + 255*(1-a/255).
            dst[c] = ((u32::from(src[c]) * a + 255 * inv + 127) / 255) as u8;
        }
    }
    out
}
