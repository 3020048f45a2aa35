//! PDF pages as images: a page that is one scanned image is read from that image (exact
//! pixels, no rendering); other pages are rendered with the `render` feature.
//!
//! A page counts as one scan when its content draws exactly one image XObject covering at
//! least half of the page, and no visible text (an invisible OCR layer, text render mode 3,
//! is fine: re-reading a searchable PDF reads its scan), no form XObject, inline image or
//! shading. Vector paths beside such an image (rules, frames) are ignored.

use std::panic::{catch_unwind, AssertUnwindSafe};

use hayro_syntax::content::ops::TypedInstruction;
use hayro_syntax::object::stream::{ImageColorSpace, ImageDecodeParams};
use hayro_syntax::object::{Array, Dict, Name, Object, Stream};
use hayro_syntax::page::{Page, Rotation};
use hayro_syntax::{Filter, LoadPdfError, Pdf};
use wenzi::image::{imageops, RgbImage};

use crate::input::{rgb_from_samples, PageImage};
use crate::{pdf_limits, DocumentError};

pub(crate) struct PdfPages {
    pdf: Pdf,
}

type Matrix = [f32; 6];
const IDENTITY: Matrix = [1.0, 0.0, 0.0, 1.0, 0.0, 0.0];

/// `m` then `n` (row vectors: p · m · n).
fn concat(m: &Matrix, n: &Matrix) -> Matrix {
    [
        m[0] * n[0] + m[1] * n[2],
        m[0] * n[1] + m[1] * n[3],
        m[2] * n[0] + m[3] * n[2],
        m[2] * n[1] + m[3] * n[3],
        m[4] * n[0] + m[5] * n[2] + n[4],
        m[4] * n[1] + m[5] * n[3] + n[5],
    ]
}

fn reader_failed() -> DocumentError {
    DocumentError::InvalidPdf("the PDF reader failed on this file".into())
}

impl PdfPages {
    pub(crate) fn open(bytes: Vec<u8>) -> Result<Self, DocumentError> {
        let pdf = catch_unwind(|| Pdf::new(bytes)).map_err(|_| reader_failed())?;
        let pdf = pdf.map_err(|e| match e {
            LoadPdfError::Decryption(_) => DocumentError::Encrypted,
            _ => DocumentError::InvalidPdf(
                "no readable cross-reference table or page tree (truncated or not a PDF)".into(),
            ),
        })?;
        Ok(Self { pdf })
    }

    pub(crate) fn len(&self) -> usize {
        catch_unwind(AssertUnwindSafe(|| self.pdf.pages().len())).unwrap_or(0)
    }

    pub(crate) fn image(
        &self,
        index: usize,
        dpi: f32,
        checked: &dyn Fn(u64, u64) -> Result<(), DocumentError>,
    ) -> Result<PageImage, DocumentError> {
        catch_unwind(AssertUnwindSafe(|| {
            let pages = self.pdf.pages();
            let page = pages.get(index).ok_or(DocumentError::NoPages)?;
            check_contents(page, index + 1)?;
            match single_image(page) {
                Some((stream, ctm)) => scan_image(page, &stream, &ctm, index + 1, dpi, checked),
                None => render(page, index + 1, dpi, checked),
            }
        }))
        .unwrap_or_else(|_| Err(reader_failed()))
    }
}

/// Most bytes a page's content streams may decode to (together): a scan's content is a few
/// operators, a dense vector page a few MB.
const MAX_CONTENT_BYTES: u64 = 64 << 20;

/// Refuses a page whose content streams would decode past [`MAX_CONTENT_BYTES`] (a
/// decompression bomb), before hayro-syntax decodes them whole.
fn check_contents(page: &Page<'_>, number: usize) -> Result<(), DocumentError> {
    let streams: Vec<Stream<'_>> = match page.raw().get::<Object<'_>>(b"Contents".as_slice()) {
        Some(Object::Stream(s)) => vec![s],
        Some(Object::Array(a)) => a.iter::<Stream<'_>>().collect(),
        _ => Vec::new(),
    };
    let mut left = MAX_CONTENT_BYTES;
    for stream in &streams {
        let size = pdf_limits::check(stream, left).map_err(|_| DocumentError::InvalidPage {
            page: number,
            message: format!("its content decompresses to more than {MAX_CONTENT_BYTES} bytes"),
        })?;
        left -= size;
    }
    Ok(())
}

/// The page's one image and the transform it is drawn with, if the page is one scan.
pub(crate) fn single_image<'a>(page: &Page<'a>) -> Option<(Stream<'a>, Matrix)> {
    let mut ops = page.typed_operations();
    let mut ctm = IDENTITY;
    let mut stack: Vec<Matrix> = Vec::new();
    let mut invisible = false;
    let mut found: Option<(Stream<'a>, Matrix)> = None;
    while let Some(op) = ops.next() {
        match op {
            TypedInstruction::SaveState(_) => {
                if stack.len() > 256 {
                    return None;
                }
                stack.push(ctm);
            }
            TypedInstruction::RestoreState(_) => ctm = stack.pop().unwrap_or(IDENTITY),
            TypedInstruction::Transform(t) => {
                let m = [t.0, t.1, t.2, t.3, t.4, t.5].map(|n| n.as_f32());
                ctm = concat(&m, &ctm);
            }
            TypedInstruction::TextRenderingMode(m) => invisible = m.0.as_i64() == 3,
            TypedInstruction::ShowText(_)
            | TypedInstruction::ShowTexts(_)
            | TypedInstruction::NextLineAndShowText(_)
            | TypedInstruction::ShowTextWithParameters(_)
                if !invisible =>
            {
                return None;
            }
            TypedInstruction::InlineImage(_) | TypedInstruction::Shading(_) => return None,
            TypedInstruction::XObject(x) => {
                let stream = page.resources().get_x_object(x.0)?;
                let subtype = stream.dict().get::<Name<'_>>(b"Subtype".as_slice())?;
                if subtype.as_ref() != b"Image" || found.is_some() {
                    return None;
                }
                found = Some((stream, ctm));
            }
            _ => {}
        }
    }
    let (stream, ctm) = found?;
    // The image's parallelogram covers at least half the page. The crop box's own size, not
    // `base_dimensions` (which takes sides under 1 pt as 1 pt, so a very thin page would never
    // count as a scan).
    let crop = page.intersected_crop_box();
    let (pw, ph) = if crop.width() > 0.0 && crop.height() > 0.0 {
        (crop.width() as f32, crop.height() as f32)
    } else {
        page.base_dimensions()
    };
    let area = (ctm[0] * ctm[3] - ctm[1] * ctm[2]).abs();
    (area >= 0.5 * pw * ph).then_some((stream, ctm))
}

/// Components of an image colour space, and its palette (base components, lookup) if indexed.
struct Colors {
    components: u32,
    palette: Option<(u32, Vec<u8>)>,
}

fn color_space(obj: Option<Object<'_>>) -> Option<Colors> {
    let plain = |n: u32| {
        Some(Colors {
            components: n,
            palette: None,
        })
    };
    match obj? {
        Object::Name(n) => match n.as_ref() {
            b"DeviceGray" | b"CalGray" | b"G" => plain(1),
            b"DeviceRGB" | b"CalRGB" | b"RGB" => plain(3),
            b"DeviceCMYK" | b"CMYK" => plain(4),
            _ => None,
        },
        Object::Array(a) => array_color_space(&a),
        _ => None,
    }
}

fn array_color_space(a: &Array<'_>) -> Option<Colors> {
    let mut items = a.iter::<Object<'_>>();
    let family = match items.next()? {
        Object::Name(n) => n,
        _ => return None,
    };
    match family.as_ref() {
        b"ICCBased" => {
            let stream = match items.next()? {
                Object::Stream(s) => s,
                _ => return None,
            };
            let n = stream.dict().get::<u32>(b"N".as_slice())?;
            matches!(n, 1 | 3 | 4).then_some(Colors {
                components: n,
                palette: None,
            })
        }
        b"CalGray" => Some(Colors {
            components: 1,
            palette: None,
        }),
        b"CalRGB" | b"Lab" => Some(Colors {
            components: 3,
            palette: None,
        }),
        b"Indexed" | b"I" => {
            let base = color_space(items.next())?;
            if base.palette.is_some() {
                return None;
            }
            let _hival = items.next()?;
            let lookup = match items.next()? {
                Object::String(s) => s.as_ref().to_vec(),
                // A palette is at most 256 entries of 4 bytes: refuse a bomb before decoding.
                Object::Stream(s) => {
                    pdf_limits::check(&s, 1 << 16).ok()?;
                    s.decoded().ok()?.to_vec()
                }
                _ => return None,
            };
            Some(Colors {
                components: 1,
                palette: Some((base.components, lookup)),
            })
        }
        _ => None,
    }
}

/// Unpacks rows of `bits`-bit samples (rows padded to whole bytes) into one byte per sample:
/// raw values when `raw` (palette indices), else scaled to 0..=255.
fn unpack(
    data: &[u8],
    width: u32,
    height: u32,
    comps: u32,
    bits: u32,
    raw: bool,
) -> Option<Vec<u8>> {
    if bits == 8 {
        let n = (width * comps) as usize * height as usize;
        return (data.len() >= n).then(|| data[..n].to_vec());
    }
    if !matches!(bits, 1 | 2 | 4 | 16) {
        return None;
    }
    let per_row = (width * comps) as usize;
    let stride = (per_row * bits as usize).div_ceil(8);
    if data.len() < stride * height as usize {
        return None;
    }
    let max = (1u32 << bits.min(8)) - 1;
    let mut out = Vec::with_capacity(per_row * height as usize);
    for row in data.chunks_exact(stride).take(height as usize) {
        for i in 0..per_row {
            let v = match bits {
                16 => row[2 * i] as u32, // the high byte
                _ => {
                    let bit = i * bits as usize;
                    let byte = row[bit / 8] as u32;
                    (byte >> (8 - bits as usize - bit % 8)) & max
                }
            };
            out.push(if raw || bits == 16 {
                v as u8
            } else {
                (v * 255 / max) as u8
            });
        }
    }
    Some(out)
}

/// Reads the page's scan from its image.
fn scan_image(
    page: &Page<'_>,
    stream: &Stream<'_>,
    ctm: &Matrix,
    number: usize,
    dpi: f32,
    checked: &dyn Fn(u64, u64) -> Result<(), DocumentError>,
) -> Result<PageImage, DocumentError> {
    let dict: &Dict<'_> = stream.dict();
    let invalid = |message: &str| DocumentError::InvalidPage {
        page: number,
        message: message.to_string(),
    };
    let width = dict.get::<u32>(b"Width".as_slice()).unwrap_or(0);
    let height = dict.get::<u32>(b"Height".as_slice()).unwrap_or(0);
    if width == 0 || height == 0 {
        return Err(invalid("its image has no size"));
    }
    checked(width as u64, height as u64)?;
    let mask = dict.get::<bool>(b"ImageMask".as_slice()).unwrap_or(false);
    let colors = if mask {
        Some(Colors {
            components: 1,
            palette: None,
        })
    } else {
        color_space(dict.get::<Object<'_>>(b"ColorSpace".as_slice()))
    };
    let bpc = if mask {
        Some(1)
    } else {
        dict.get::<u8>(b"BitsPerComponent".as_slice())
    };
    let params = ImageDecodeParams {
        is_indexed: colors.as_ref().is_some_and(|c| c.palette.is_some()),
        bpc,
        num_components: colors.as_ref().map(|c| c.components as u8),
        target_dimension: None,
        width,
        height,
    };
    // Decoded samples take at most 8 bytes a pixel (16-bit CMYK) and a predictor byte a row;
    // a stream that decompresses to far more is a bomb, refused before hayro inflates it.
    let cap = 8 * width as u64 * height as u64 + height as u64 + (1 << 20);
    pdf_limits::check(stream, cap).map_err(|size| {
        invalid(&format!(
            "its image data decompresses to at least {size} bytes, over the {cap} its size allows"
        ))
    })?;
    check_decoder_sizes(stream, height, &invalid, checked)?;
    let decoded = stream
        .decoded_image(&params)
        .map_err(|e| invalid(&format!("its image cannot be decoded ({e:?})")))?;
    let (w, h, comps, bits) = match &decoded.image_data {
        Some(d) => {
            let comps = match d.color_space {
                Some(ImageColorSpace::Gray) => 1,
                Some(ImageColorSpace::Rgb) => 3,
                Some(ImageColorSpace::Cmyk) => 4,
                Some(ImageColorSpace::Unknown(n)) => n as u32,
                None => colors.as_ref().map_or(1, |c| c.components),
            };
            (d.width, d.height, comps, d.bits_per_component as u32)
        }
        None => {
            let Some(c) = &colors else {
                return render(page, number, dpi, checked);
            };
            (width, height, c.components, bpc.unwrap_or(8) as u32)
        }
    };
    checked(w as u64, h as u64)?;
    let palette = colors.and_then(|c| c.palette);
    let samples = unpack(&decoded.data, w, h, comps, bits, palette.is_some())
        .ok_or_else(|| invalid("its image data is shorter than its size"))?;
    let (samples, comps) = match palette {
        Some((base, lookup)) => {
            let mut out = Vec::with_capacity(samples.len() * base as usize);
            for &i in &samples {
                let at = i as usize * base as usize;
                match lookup.get(at..at + base as usize) {
                    Some(c) => out.extend_from_slice(c),
                    None => out.extend(std::iter::repeat_n(0, base as usize)),
                }
            }
            (out, base)
        }
        None => (samples, comps),
    };
    let mut samples = samples;
    // A Decode array [1 0] inverts gray samples. (An image mask paints where its samples are
    // 0, which unpack already made the dark pixels.)
    let decode = dict.get::<Array<'_>>(b"Decode".as_slice());
    let inverted = decode
        .map(|a| {
            let v: Vec<f32> = a.iter::<f32>().collect();
            v.len() >= 2 && v[0] > v[1]
        })
        .unwrap_or(false);
    if comps == 1 && inverted {
        samples.iter_mut().for_each(|s| *s = 255 - *s);
    }
    let image = rgb_from_samples(w, h, comps, 8, &samples)
        .ok_or_else(|| invalid("its image has an unsupported colour layout"))?;
    let image = orient(image, ctm, page.rotation());
    // The scan's own resolution: its pixels per inch along its x axis.
    let inches = (ctm[0].hypot(ctm[1])) / 72.0;
    let scan_dpi = w as f32 / inches;
    let dpi = if scan_dpi.is_finite() && (10.0..=10_000.0).contains(&scan_dpi) {
        scan_dpi
    } else {
        dpi
    };
    Ok(PageImage { image, dpi })
}

/// hayro decodes a JPEG 2000 or JBIG2 image at the size its own header gives and a CCITT fax
/// image `/Columns` wide, whatever the image dictionary says (a 10x10 image over a
/// 65535x65535 JBIG2 page allocated 4.3 GB): those sizes are checked against the pixel limit
/// before decoding.
fn check_decoder_sizes(
    stream: &Stream<'_>,
    height: u32,
    invalid: &dyn Fn(&str) -> DocumentError,
    checked: &dyn Fn(u64, u64) -> Result<(), DocumentError>,
) -> Result<(), DocumentError> {
    let filters = stream.filters();
    for (i, filter) in filters.iter().enumerate() {
        let own_header = matches!(filter, Filter::JpxDecode | Filter::Jbig2Decode);
        if own_header && filters.len() != 1 {
            return Err(invalid(
                "its JPEG 2000 or JBIG2 image is behind other filters",
            ));
        }
        match filter {
            Filter::JpxDecode => {
                let raw = stream.raw_data();
                let settings = hayro_jpeg2000::DecodeSettings::default();
                let jpx = hayro_jpeg2000::Image::new(&raw, &settings)
                    .map_err(|e| invalid(&format!("its JPEG 2000 image cannot be read ({e})")))?;
                checked(jpx.width() as u64, jpx.height() as u64)?;
            }
            Filter::Jbig2Decode => {
                let raw = stream.raw_data();
                let settings = hayro_jbig2::DecodeSettings { strict: false };
                let page = hayro_jbig2::Page::new_embedded(&raw, None, &settings)
                    .map_err(|e| invalid(&format!("its JBIG2 image cannot be read ({e})")))?;
                checked(page.width() as u64, page.height() as u64)?;
            }
            Filter::CcittFaxDecode => {
                // As hayro reads it: `/Columns` (default 1728) of the filter's parameters.
                let params = match stream.dict().get::<Object<'_>>(b"DecodeParms".as_slice()) {
                    Some(Object::Dict(d)) => Some(d),
                    Some(Object::Array(a)) => a.iter::<Object<'_>>().nth(i).and_then(|o| match o {
                        Object::Dict(d) => Some(d),
                        _ => None,
                    }),
                    _ => None,
                };
                let columns = params
                    .and_then(|p| p.get::<usize>(b"Columns".as_slice()))
                    .unwrap_or(1728) as u32;
                checked(columns as u64, height as u64)?;
            }
            _ => {}
        }
    }
    Ok(())
}

/// Turns the image's stored pixels into what the page shows: the drawing transform's quarter
/// turn and flip, then the page's /Rotate.
fn orient(image: RgbImage, ctm: &Matrix, rotation: Rotation) -> RgbImage {
    let flipped = ctm[0] * ctm[3] - ctm[1] * ctm[2] < 0.0;
    let image = if flipped {
        imageops::flip_vertical(&image)
    } else {
        image
    };
    // Direction of the image's x axis on the page (y up).
    let (a, b) = (ctm[0], ctm[1]);
    let image = if a.abs() >= b.abs() {
        if a >= 0.0 {
            image
        } else {
            imageops::rotate180(&image)
        }
    } else if b > 0.0 {
        imageops::rotate270(&image) // x axis points up: shown turned a quarter counter-clockwise
    } else {
        imageops::rotate90(&image)
    };
    match rotation {
        Rotation::None => image,
        Rotation::Horizontal => imageops::rotate90(&image),
        Rotation::Flipped => imageops::rotate180(&image),
        Rotation::FlippedHorizontal => imageops::rotate270(&image),
    }
}

#[cfg(feature = "render")]
fn render(
    page: &Page<'_>,
    number: usize,
    dpi: f32,
    checked: &dyn Fn(u64, u64) -> Result<(), DocumentError>,
) -> Result<PageImage, DocumentError> {
    let scale = dpi / 72.0;
    let (w, h) = page.render_dimensions();
    let (pw, ph) = ((w * scale) as u64, (h * scale) as u64);
    checked(pw, ph)?;
    if pw == 0 || ph == 0 || pw > u16::MAX as u64 || ph > u16::MAX as u64 {
        return Err(DocumentError::InvalidPage {
            page: number,
            message: format!("cannot render a {pw}x{ph} page"),
        });
    }
    let settings = hayro::PixmapSettings {
        x_scale: scale,
        y_scale: scale,
        bg_color: hayro::vello_cpu::color::palette::css::WHITE,
    };
    let pixmap = hayro::render(
        page,
        &hayro::RenderCache::new(),
        &Default::default(),
        &hayro::RenderSettings::default(),
        &settings,
    );
    let (pw, ph) = (pixmap.width() as u32, pixmap.height() as u32);
    let rgba = pixmap.data_as_u8_slice();
    let image = RgbImage::from_fn(pw, ph, |x, y| {
        let i = 4 * (y as usize * pw as usize + x as usize);
        wenzi::image::Rgb([rgba[i], rgba[i + 1], rgba[i + 2]])
    });
    Ok(PageImage { image, dpi })
}

#[cfg(not(feature = "render"))]
fn render(
    _page: &Page<'_>,
    number: usize,
    _dpi: f32,
    _checked: &dyn Fn(u64, u64) -> Result<(), DocumentError>,
) -> Result<PageImage, DocumentError> {
    Err(DocumentError::NeedsRendering { page: number })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matrices_concatenate_like_pdf() {
        // Scale then translate.
        let m = concat(
            &[2.0, 0.0, 0.0, 3.0, 0.0, 0.0],
            &[1.0, 0.0, 0.0, 1.0, 10.0, 20.0],
        );
        assert_eq!(m, [2.0, 0.0, 0.0, 3.0, 10.0, 20.0]);
        assert_eq!(concat(&IDENTITY, &m), m);
    }

    #[test]
    fn samples_unpack_at_any_depth() {
        assert_eq!(
            unpack(&[0b1011_0000], 4, 1, 1, 1, false).unwrap(),
            [255, 0, 255, 255]
        );
        assert_eq!(
            unpack(&[0b1110_0100], 4, 1, 1, 2, true).unwrap(),
            [3, 2, 1, 0]
        );
        assert_eq!(unpack(&[0xF0], 2, 1, 1, 4, false).unwrap(), [255, 0]);
        assert_eq!(unpack(&[0x12, 0x34], 1, 1, 1, 16, false).unwrap(), [0x12]);
        assert!(unpack(&[0], 9, 1, 1, 1, false).is_none());
        assert!(unpack(&[0; 8], 1, 1, 1, 3, false).is_none());
    }

    #[test]
    fn orientation_follows_the_drawing_transform_and_page_rotation() {
        let img = RgbImage::from_fn(4, 2, |x, y| wenzi::image::Rgb([x as u8, y as u8, 0]));
        let up = orient(
            img.clone(),
            &[400.0, 0.0, 0.0, 200.0, 0.0, 0.0],
            Rotation::None,
        );
        assert_eq!(up, img);
        // Drawn flipped (rows bottom-up).
        let flipped = orient(
            img.clone(),
            &[400.0, 0.0, 0.0, -200.0, 0.0, 200.0],
            Rotation::None,
        );
        assert_eq!(flipped.get_pixel(0, 0).0, [0, 1, 0]);
        // x axis pointing up: a quarter turn counter-clockwise.
        let turned = orient(
            img.clone(),
            &[0.0, 400.0, -200.0, 0.0, 200.0, 0.0],
            Rotation::None,
        );
        assert_eq!(turned.dimensions(), (2, 4));
        assert_eq!(turned.get_pixel(0, 3).0, [0, 0, 0]);
        let rotated = orient(
            img,
            &[400.0, 0.0, 0.0, 200.0, 0.0, 0.0],
            Rotation::Horizontal,
        );
        assert_eq!(rotated.dimensions(), (2, 4));
        assert_eq!(rotated.get_pixel(1, 0).0, [0, 0, 0]);
    }
}
