//! Searchable PDF: each page's image with an invisible text layer (render mode 3) whose words
//! sit on their boxes, so selecting, copying and searching work in any viewer.
//!
//! The text uses a "glyph-less" CID font, as Tesseract's PDF renderer does: `Identity-H`
//! codes (one 2-byte code per distinct character of the document), no embedded glyphs (the
//! text is never painted) and a `ToUnicode` map, so extraction gives the recognized Unicode
//! text — CJK and Latin alike — without any CMap resource files on the reader's side.

use std::collections::HashMap;

use pdf_writer::types::{CidFontType, FontFlags, SystemInfo, TextRenderingMode, UnicodeCmap};
use pdf_writer::{Content, Filter, Finish, Name, Pdf, Rect, Ref, Str};
use wenzi::image::RgbImage;
use wenzi::{Page, Word};

use crate::structure::is_cjk_word;
use crate::DocumentError;

const FONT_NAME: &[u8] = b"GlyphLessFont";
/// Glyph advance (1/1000 em) of every character of the invisible font.
const ADVANCE: f32 = 1000.0;
/// Share of the text height below the baseline.
const DESCENT: f32 = 0.2;
/// Shortest page side (pt) written when the image allows, as Acrobat requires.
const MIN_SIDE_PT: f32 = 3.0;
/// Longest page side (pt): viewers refuse pages over 200 inches.
const MAX_SIDE_PT: f32 = 14_400.0;

/// Builds a searchable PDF page by page (only the compressed images are kept in memory).
pub struct SearchablePdf {
    pdf: Pdf,
    next_id: i32,
    catalog: Ref,
    tree: Ref,
    font: Ref,
    cid_font: Ref,
    descriptor: Ref,
    to_unicode: Ref,
    pages: Vec<Ref>,
    codes: HashMap<char, u16>,
    chars: Vec<char>,
    jpeg_quality: u8,
}

impl Default for SearchablePdf {
    fn default() -> Self {
        Self::new()
    }
}

impl SearchablePdf {
    /// An empty PDF; add pages, then finish it.
    pub fn new() -> Self {
        let mut next_id = 1;
        let mut alloc = || {
            let r = Ref::new(next_id);
            next_id += 1;
            r
        };
        let (catalog, tree, font, cid_font, descriptor, to_unicode) =
            (alloc(), alloc(), alloc(), alloc(), alloc(), alloc());
        Self {
            pdf: Pdf::new(),
            next_id,
            catalog,
            tree,
            font,
            cid_font,
            descriptor,
            to_unicode,
            pages: Vec::new(),
            codes: HashMap::new(),
            chars: Vec::new(),
            jpeg_quality: 85,
        }
    }

    /// JPEG quality of the page images (1..=100, default 85).
    pub fn with_jpeg_quality(mut self, quality: u8) -> Self {
        self.jpeg_quality = quality.clamp(1, 100);
        self
    }

    fn alloc(&mut self) -> Ref {
        let r = Ref::new(self.next_id);
        self.next_id += 1;
        r
    }

    /// The 2-byte code of a character (codes start at 1; 0 is `.notdef`, used once 65,535
    /// distinct characters are taken).
    fn code(&mut self, c: char) -> u16 {
        if let Some(&code) = self.codes.get(&c) {
            return code;
        }
        if self.chars.len() >= u16::MAX as usize {
            return 0;
        }
        self.chars.push(c);
        let code = self.chars.len() as u16;
        self.codes.insert(c, code);
        code
    }

    /// Adds a page: `image` (the pixels `page` was recognized from) at `dpi` pixels per inch,
    /// under `page`'s words as invisible text.
    pub fn add_page(
        &mut self,
        image: &RgbImage,
        page: &Page,
        dpi: f32,
    ) -> Result<(), DocumentError> {
        let (w, h) = image.dimensions();
        if w == 0 || h == 0 {
            return Err(DocumentError::Write("a page image has a zero side".into()));
        }
        let dpi = if dpi.is_finite() && dpi > 0.0 {
            dpi
        } else {
            200.0
        };
        // Keep the page's sides within what viewers accept (3 to 14,400 pt, i.e. at most 200
        // inches) by moving the resolution as little as needed; a page under 1 pt would not
        // even read back as a scan. An image too thin for both keeps the long side's limit.
        let (short, long) = (w.min(h) as f32, w.max(h) as f32);
        let dpi = dpi
            .min(short * 72.0 / MIN_SIDE_PT)
            .max(long * 72.0 / MAX_SIDE_PT * 1.001);
        let scale = 72.0 / dpi;
        let (width_pt, height_pt) = (w as f32 * scale, h as f32 * scale);

        let (page_id, content_id, image_id) = (self.alloc(), self.alloc(), self.alloc());
        let (jpeg, gray) = encode_jpeg(image, self.jpeg_quality)?;
        let mut xobject = self.pdf.image_xobject(image_id, &jpeg);
        xobject.filter(Filter::DctDecode);
        xobject.width(w as i32);
        xobject.height(h as i32);
        if gray {
            xobject.color_space().device_gray();
        } else {
            xobject.color_space().device_rgb();
        }
        xobject.bits_per_component(8);
        xobject.finish();

        let mut content = Content::new();
        content.save_state();
        content.transform([width_pt, 0.0, 0.0, height_pt, 0.0, 0.0]);
        content.x_object(Name(b"Im0"));
        content.restore_state();
        content.begin_text();
        content.set_text_rendering_mode(TextRenderingMode::Invisible);
        let to_pdf = |p: [f32; 2]| [p[0] * scale, (h as f32 - p[1]) * scale];
        for line in &page.lines {
            for (k, word) in line.words.iter().enumerate() {
                let next = line.words.get(k + 1);
                self.show_word(&mut content, word, next, &to_pdf);
            }
        }
        content.end_text();
        let content = content.finish();
        self.pdf.stream(content_id, &content);

        let mut p = self.pdf.page(page_id);
        p.media_box(Rect::new(0.0, 0.0, width_pt, height_pt));
        p.parent(self.tree);
        p.contents(content_id);
        let mut resources = p.resources();
        resources.x_objects().pair(Name(b"Im0"), image_id);
        resources.fonts().pair(Name(b"F0"), self.font);
        resources.finish();
        p.finish();
        self.pages.push(page_id);
        Ok(())
    }

    /// One word, stretched along its box; a space follows a Latin word whose neighbour is
    /// Latin too (so copied text keeps its spaces), the pair filling the gap between them.
    fn show_word(
        &mut self,
        content: &mut Content,
        word: &Word,
        next: Option<&Word>,
        to_pdf: &impl Fn([f32; 2]) -> [f32; 2],
    ) {
        let q = word.quad.map(to_pdf);
        let (top_left, bottom_left, bottom_right) = (q[0], q[3], q[2]);
        let along = [
            bottom_right[0] - bottom_left[0],
            bottom_right[1] - bottom_left[1],
        ];
        let length = along[0].hypot(along[1]);
        if length.is_nan() || length <= 0.01 {
            return;
        }
        let u = [along[0] / length, along[1] / length];
        let rise = [top_left[0] - bottom_left[0], top_left[1] - bottom_left[1]];
        let size = (u[0] * rise[1] - u[1] * rise[0]).abs();
        if size.is_nan() || size <= 0.01 {
            return;
        }
        let mut text = word.text.clone();
        let mut span = length;
        if let Some(next) = next {
            if !is_cjk_word(&word.text) && !is_cjk_word(&next.text) {
                let start = to_pdf(next.quad[3]);
                let gap = (start[0] - bottom_left[0]) * u[0] + (start[1] - bottom_left[1]) * u[1];
                text.push(' ');
                if gap.is_finite() {
                    span = gap.max(length);
                }
            }
        }
        let glyphs = text.chars().count() as f32;
        let stretch = 100.0 * span / (glyphs * size * ADVANCE / 1000.0);
        let origin = [
            bottom_left[0] + DESCENT * rise[0],
            bottom_left[1] + DESCENT * rise[1],
        ];
        let matrix = [
            u[0] * size,
            u[1] * size,
            -u[1] * size,
            u[0] * size,
            origin[0],
            origin[1],
        ];
        // A word without text, or a box so far off the page that its numbers overflow, would
        // write `inf` or `NaN` into the content stream, which is not PDF: leave it out.
        if !stretch.is_finite() || !matrix.iter().all(|v| v.is_finite()) {
            return;
        }
        let mut codes = Vec::with_capacity(2 * text.len());
        for c in text.chars() {
            codes.extend_from_slice(&self.code(c).to_be_bytes());
        }
        content.set_font(Name(b"F0"), 1.0);
        content.set_horizontal_scaling(stretch);
        content.set_text_matrix(matrix);
        content.show(Str(&codes));
    }

    /// Writes the fonts and the page tree, and returns the PDF's bytes.
    pub fn finish(mut self) -> Vec<u8> {
        self.pdf.catalog(self.catalog).pages(self.tree);
        let count = self.pages.len() as i32;
        self.pdf
            .pages(self.tree)
            .kids(self.pages.iter().copied())
            .count(count);
        let info = || SystemInfo {
            registry: Str(b"Adobe"),
            ordering: Str(b"Identity"),
            supplement: 0,
        };
        self.pdf
            .type0_font(self.font)
            .base_font(Name(FONT_NAME))
            .encoding_predefined(Name(b"Identity-H"))
            .descendant_font(self.cid_font)
            .to_unicode(self.to_unicode);
        self.pdf
            .cid_font(self.cid_font)
            .subtype(CidFontType::Type2)
            .base_font(Name(FONT_NAME))
            .system_info(info())
            .font_descriptor(self.descriptor)
            .default_width(ADVANCE)
            .cid_to_gid_map_predefined(Name(b"Identity"));
        self.pdf
            .font_descriptor(self.descriptor)
            .name(Name(FONT_NAME))
            .flags(FontFlags::SYMBOLIC)
            .bbox(Rect::new(0.0, -200.0, ADVANCE, 800.0))
            .italic_angle(0.0)
            .ascent(800.0)
            .descent(-200.0)
            .cap_height(800.0)
            .stem_v(80.0);
        let mut cmap = UnicodeCmap::new(Name(b"Wenzi-UTF16"), info());
        for (i, &c) in self.chars.iter().enumerate() {
            cmap.pair(i as u16 + 1, c);
        }
        let cmap = cmap.finish();
        self.pdf.cmap(self.to_unicode, &cmap);
        self.pdf.finish()
    }
}

/// JPEG bytes of the image, as gray when every pixel is gray.
fn encode_jpeg(image: &RgbImage, quality: u8) -> Result<(Vec<u8>, bool), DocumentError> {
    use wenzi::image::codecs::jpeg::JpegEncoder;
    let gray = image.pixels().all(|p| p[0] == p[1] && p[1] == p[2]);
    let mut out = Vec::new();
    let mut encoder = JpegEncoder::new_with_quality(&mut out, quality);
    let result = if gray {
        let luma: Vec<u8> = image.pixels().map(|p| p[0]).collect();
        encoder.encode(
            &luma,
            image.width(),
            image.height(),
            wenzi::image::ExtendedColorType::L8,
        )
    } else {
        encoder.encode_image(image)
    };
    result.map_err(|e| DocumentError::Write(format!("cannot encode a page image: {e}")))?;
    Ok((out, gray))
}

/// A searchable PDF of recognized pages and the images they were read from (same order), at
/// `dpi` pixels per inch.
pub fn searchable_pdf(
    pages: &[Page],
    images: &[RgbImage],
    dpi: f32,
) -> Result<Vec<u8>, DocumentError> {
    if pages.len() != images.len() {
        return Err(DocumentError::Write(format!(
            "{} pages but {} images",
            pages.len(),
            images.len()
        )));
    }
    let mut pdf = SearchablePdf::new();
    for (page, image) in pages.iter().zip(images) {
        pdf.add_page(image, page, dpi)?;
    }
    Ok(pdf.finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::structure::testing;

    #[test]
    fn writes_a_pdf_with_invisible_text_and_a_unicode_map() {
        let image = RgbImage::from_pixel(300, 100, wenzi::image::Rgb([255, 255, 255]));
        let bytes = searchable_pdf(&[testing::page()], &[image], 150.0).unwrap();
        assert!(bytes.starts_with(b"%PDF-"));
        let text = String::from_utf8_lossy(&bytes);
        assert!(text.contains("/Identity-H") && text.contains("/ToUnicode"));
        assert!(text.contains("3 Tr"));
        assert!(text.contains("/DCTDecode"));
        // 300 px at 150 dpi = 144 pt.
        assert!(text.contains("/MediaBox [0 0 144 48]"), "{text}");
        // The page reads back with the PDF reader used for input.
        let pdf = hayro_syntax::Pdf::new(bytes).unwrap();
        assert_eq!(pdf.pages().len(), 1);
    }

    /// Fuzz finding: an empty word, or a box whose PDF coordinates overflow, wrote `inf`
    /// into the content stream (`inf Tz`, `-inf ... Tm`), which no reader parses.
    #[test]
    fn words_whose_numbers_overflow_are_left_out() {
        let mut page = testing::page();
        page.lines[0].words[0].quad = [
            [10.0, f32::INFINITY],
            [40.0, f32::INFINITY],
            [40.0, 30.0],
            [10.0, 30.0],
        ];
        page.lines[1].words[0].text.clear();
        let image = RgbImage::from_pixel(300, 100, wenzi::image::Rgb([255, 255, 255]));
        let bytes = searchable_pdf(&[page], &[image], 150.0).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        assert!(!text.contains("inf") && !text.contains("NaN"), "{text}");
        // The other words are still there: 7 words, less the two left out.
        assert_eq!(
            text.matches(" Tj").count(),
            5,
            "{}",
            text.matches(" Tj").count()
        );
    }

    /// Fuzz finding: a 1x1 image at 200 dpi made a 0.36 pt page, which the reader takes as
    /// 1 pt, so the image no longer covered it and the PDF did not read back as a scan.
    #[test]
    fn tiny_and_thin_images_make_pages_that_read_back_as_scans() {
        for (w, h) in [(1, 1), (3, 1), (60_000, 1), (20_000, 20)] {
            let image = RgbImage::from_pixel(w, h, wenzi::image::Rgb([0, 0, 0]));
            let bytes = searchable_pdf(&[Page::default()], &[image], 200.0).unwrap();
            let pdf = hayro_syntax::Pdf::new(bytes).unwrap();
            let page = &pdf.pages()[0];
            let (pw, ph) = (page.media_box().width(), page.media_box().height());
            assert!(pw.max(ph) <= 14_400.0, "{w}x{h}: {pw}x{ph}");
            if w.max(h) < 1000 {
                assert!(pw.min(ph) >= 2.99, "{w}x{h}: {pw}x{ph}");
            }
            assert!(
                crate::pdf_in::single_image(page).is_some(),
                "{w}x{h}: {pw}x{ph} pt"
            );
        }
    }

    #[test]
    fn mismatched_pages_and_images_are_an_error() {
        assert!(searchable_pdf(&[testing::page()], &[], 200.0).is_err());
    }
}
