//! Telling documents apart and handing out their pages as images, one at a time.

use wenzi::image::RgbImage;

use crate::{pdf_in::PdfPages, tiff_in::TiffPages, DocumentError, DocumentOptions};

/// What a document's bytes hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputKind {
    /// A PDF document (one image per page).
    Pdf,
    /// A TIFF, possibly with several pages.
    Tiff,
    /// Any other image format the engine decodes (one page).
    Image,
}

/// Tells a PDF (`%PDF-` within its first KiB, as readers allow) and a TIFF (`II*\0` or
/// `MM\0*`) from other images.
pub fn sniff(bytes: &[u8]) -> InputKind {
    let head = &bytes[..bytes.len().min(1024)];
    if head.windows(5).any(|w| w == b"%PDF-") {
        InputKind::Pdf
    } else if bytes.starts_with(b"II*\0") || bytes.starts_with(b"MM\0*") {
        InputKind::Tiff
    } else {
        InputKind::Image
    }
}

/// One page, ready for the engine.
#[derive(Debug, Clone)]
pub struct PageImage {
    /// The page's pixels, as the engine takes them.
    pub image: RgbImage,
    /// Pixels per inch: the scan's own resolution for a PDF page read from its image, the
    /// render resolution for a rendered page, [`DocumentOptions::dpi`] for images.
    pub dpi: f32,
}

/// The pages of a document, decoded one at a time (a long document is never held whole).
pub struct Pages<'e> {
    engine: &'e wenzi::Engine,
    source: Source,
    max_pixels: u64,
    dpi: f32,
}

enum Source {
    Pdf(Box<PdfPages>),
    Tiff(TiffPages),
    Image(Vec<u8>),
}

impl<'e> Pages<'e> {
    /// Opens a document, checking its page count against the limit.
    pub fn open(
        engine: &'e wenzi::Engine,
        bytes: &[u8],
        opts: &DocumentOptions,
    ) -> Result<Self, DocumentError> {
        if bytes.is_empty() {
            return Err(DocumentError::Empty);
        }
        let max_pixels = opts.max_page_pixels.unwrap_or(engine.limits().max_pixels);
        let dpi = if opts.dpi.is_finite() && opts.dpi > 0.0 {
            opts.dpi
        } else {
            200.0
        };
        let source = match sniff(bytes) {
            InputKind::Pdf => Source::Pdf(Box::new(PdfPages::open(bytes.to_vec())?)),
            InputKind::Tiff => Source::Tiff(TiffPages::open(bytes.to_vec())?),
            InputKind::Image => Source::Image(bytes.to_vec()),
        };
        let pages = Self {
            engine,
            source,
            max_pixels,
            dpi,
        };
        let count = pages.len();
        if count == 0 {
            return Err(DocumentError::NoPages);
        }
        if count > opts.max_pages {
            return Err(DocumentError::TooManyPages {
                pages: count,
                max: opts.max_pages,
            });
        }
        Ok(pages)
    }

    /// What the document is.
    pub fn kind(&self) -> InputKind {
        match self.source {
            Source::Pdf(_) => InputKind::Pdf,
            Source::Tiff(_) => InputKind::Tiff,
            Source::Image(_) => InputKind::Image,
        }
    }

    /// Number of pages.
    pub fn len(&self) -> usize {
        match &self.source {
            Source::Pdf(p) => p.len(),
            Source::Tiff(t) => t.len(),
            Source::Image(_) => 1,
        }
    }

    /// True for a document without pages (never returned by [`Pages::open`]).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Decodes page `index` (from 0).
    pub fn image(&mut self, index: usize) -> Result<PageImage, DocumentError> {
        let page = index + 1;
        let checked = |width: u64, height: u64| {
            if width.saturating_mul(height) > self.max_pixels {
                Err(DocumentError::PageTooLarge {
                    page,
                    width,
                    height,
                    max_pixels: self.max_pixels,
                })
            } else {
                Ok(())
            }
        };
        match &mut self.source {
            Source::Pdf(p) => p.image(index, self.dpi, &checked),
            Source::Tiff(t) => t.image(index, self.dpi, &checked),
            Source::Image(bytes) => {
                let image = self.engine.decode(bytes).map_err(|e| match e {
                    wenzi::Error::ImageTooLarge {
                        width,
                        height,
                        max_pixels,
                    } => DocumentError::PageTooLarge {
                        page,
                        width,
                        height,
                        max_pixels,
                    },
                    e => DocumentError::InvalidPage {
                        page,
                        message: e.to_string(),
                    },
                })?;
                checked(image.width() as u64, image.height() as u64)?;
                Ok(PageImage {
                    image,
                    dpi: self.dpi,
                })
            }
        }
    }
}

/// Builds an RGB image from decoded samples: 1, 3 or 4 (CMYK) components of 8 bits, or 1-bit
/// gray packed in rows padded to whole bytes. `None` when the samples do not fit.
pub(crate) fn rgb_from_samples(
    width: u32,
    height: u32,
    components: u32,
    bits: u32,
    samples: &[u8],
) -> Option<RgbImage> {
    let (w, h) = (width as usize, height as usize);
    let mut out = RgbImage::new(width, height);
    match (components, bits) {
        (1, 1) => {
            let stride = w.div_ceil(8);
            if samples.len() < stride * h {
                return None;
            }
            for (x, y, px) in out.enumerate_pixels_mut() {
                let byte = samples[y as usize * stride + x as usize / 8];
                let v = if byte & (0x80 >> (x % 8)) != 0 {
                    255
                } else {
                    0
                };
                *px = wenzi::image::Rgb([v, v, v]);
            }
        }
        (1 | 3 | 4, 8) => {
            let n = components as usize;
            if samples.len() < w * h * n {
                return None;
            }
            for (px, s) in out.pixels_mut().zip(samples.chunks_exact(n)) {
                *px = match n {
                    1 => wenzi::image::Rgb([s[0]; 3]),
                    3 => wenzi::image::Rgb([s[0], s[1], s[2]]),
                    _ => {
                        let k = 255 - s[3] as u32;
                        let c = |v: u8| ((255 - v as u32) * k / 255) as u8;
                        wenzi::image::Rgb([c(s[0]), c(s[1]), c(s[2])])
                    }
                };
            }
        }
        _ => return None,
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_pdf_tiff_and_images() {
        assert_eq!(sniff(b"%PDF-1.7\n..."), InputKind::Pdf);
        assert_eq!(sniff(b"\xef\xbb\xbf junk %PDF-1.4"), InputKind::Pdf);
        assert_eq!(sniff(b"II*\0\x08\0\0\0"), InputKind::Tiff);
        assert_eq!(sniff(b"MM\0*\0\0\0\x08"), InputKind::Tiff);
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\n"), InputKind::Image);
        assert_eq!(sniff(b""), InputKind::Image);
    }

    #[test]
    fn samples_become_rgb() {
        let gray = rgb_from_samples(2, 1, 1, 8, &[0, 200]).unwrap();
        assert_eq!(gray.get_pixel(1, 0).0, [200; 3]);
        let bits = rgb_from_samples(9, 1, 1, 1, &[0b1000_0000, 0b1000_0000]).unwrap();
        assert_eq!(bits.get_pixel(0, 0).0, [255; 3]);
        assert_eq!(bits.get_pixel(1, 0).0, [0; 3]);
        assert_eq!(bits.get_pixel(8, 0).0, [255; 3]);
        let cmyk = rgb_from_samples(1, 1, 4, 8, &[0, 0, 0, 255]).unwrap();
        assert_eq!(cmyk.get_pixel(0, 0).0, [0; 3]);
        assert!(rgb_from_samples(4, 4, 3, 8, &[0; 10]).is_none());
        assert!(rgb_from_samples(1, 1, 2, 8, &[0; 2]).is_none());
    }
}
