//! The `document` fuzz case: shared by `fuzz/fuzz_targets/document.rs` and the regression
//! replay in `crates/document/tests/regressions.rs`, so both run exactly the same code.
//!
//! Input layout: bytes 0..2 = length `k` of a script (u16, little endian), the next `k` bytes
//! = the script, the rest = a document (PDF, TIFF or any image), read with
//! [`wenzi_document::Pages`] under small limits (1 MP per page, 64 pages). Recognizing the
//! pages would make each input take seconds, so the writers get synthetic pages instead: every
//! page that decodes (the first [`MAX_PAGES`]) gets lines, words, boxes, confidences and texts
//! read from the script, including XML-special and control characters, CJK, empty words and
//! NaN, infinite, huge and negative coordinates. When no page decodes, one small blank image
//! from the script stands in, so the writers are fuzzed whatever the document does.
//!
//! Checked, besides "no panic": TSV rows keep their 12 columns and count the pages, lines and
//! words; hOCR and ALTO parse as XML and give back every word's text exactly (less the
//! characters XML cannot hold) with integer boxes and confidences in range; the searchable
//! PDF's content streams hold only finite numbers and the operators it writes, and the PDF
//! reads back through the same input path with the same pages and image sizes.

use std::sync::OnceLock;

use wenzi::image::{Rgb, RgbImage};
use wenzi::{Block, BlockKind, Char, Engine, Limits, Line, LineOrientation, Page, Word};
use wenzi_document::{alto, hocr, tsv, DocumentError, DocumentOptions, Pages, SearchablePdf};

/// Pages of one input that are decoded and written.
pub const MAX_PAGES: usize = 4;
/// Pixel limit per page (the engine's, used by [`Pages`]).
pub const MAX_PIXELS: u64 = 1 << 20;

pub fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    // Only its limits and image decoder are used: the classic detector loads no detection
    // network, and nothing is recognized.
    ENGINE.get_or_init(|| {
        Engine::builder()
            .detector(wenzi::DetectorKind::Classic)
            .classify_orientation(false)
            .threads(Some(1))
            .limits(Limits {
                max_pixels: MAX_PIXELS,
                max_lines: 200,
            })
            .build()
            .expect("engine")
    })
}

fn options() -> DocumentOptions {
    DocumentOptions {
        dpi: 200.0,
        max_pages: 64,
        max_page_pixels: None,
    }
}

/// True for a panic raised inside a crate from the registry (the PDF reader hayro and the
/// decoders it calls). `PdfPages` catches those and answers `InvalidPdf`; a panic anywhere else
/// (wenzi's own code, even inside that catch) is a bug.
pub fn is_third_party(info: &std::panic::PanicHookInfo<'_>) -> bool {
    info.location()
        .is_some_and(|l| l.file().contains("/registry/src/"))
}

pub fn run(data: &[u8]) {
    if data.len() < 2 {
        return;
    }
    let k = (u16::from_le_bytes([data[0], data[1]]) as usize).min(data.len() - 2);
    let mut script = Script {
        bytes: &data[2..2 + k],
        at: 0,
    };
    let doc = &data[2 + k..];

    let mut images: Vec<(RgbImage, f32)> = Vec::new();
    match Pages::open(engine(), doc, &options()) {
        Ok(mut pages) => {
            assert!(
                !pages.is_empty() && pages.len() <= 64,
                "{} pages",
                pages.len()
            );
            for i in 0..pages.len().min(MAX_PAGES) {
                match pages.image(i) {
                    Ok(p) => {
                        let (w, h) = p.image.dimensions();
                        assert!(w > 0 && h > 0, "page {i} is {w}x{h}");
                        assert!(w as u64 * h as u64 <= MAX_PIXELS, "page {i} is {w}x{h}");
                        assert!(p.dpi.is_finite() && p.dpi > 0.0, "dpi {}", p.dpi);
                        images.push((p.image, p.dpi));
                    }
                    Err(e) => assert_error_renders(&e),
                }
            }
        }
        Err(e) => assert_error_renders(&e),
    }
    if images.is_empty() {
        let (w, h) = (
            1 + u32::from(script.byte() % 64),
            1 + u32::from(script.byte() % 64),
        );
        let v = script.byte();
        images.push((RgbImage::from_pixel(w, h, Rgb([v, v, v])), 200.0));
    }
    let pages: Vec<Page> = images
        .iter()
        .map(|(image, _)| script.page(image.width(), image.height()))
        .collect();

    check_tsv(&pages);
    check_hocr(&pages);
    check_alto(&pages);
    let dpis: Vec<f32> = images
        .iter()
        .map(|(_, dpi)| script.dpi().unwrap_or(*dpi))
        .collect();
    check_pdf(&pages, &images, &dpis);
}

fn assert_error_renders(e: &DocumentError) {
    assert!(!e.to_string().is_empty(), "{e:?}");
}

/// Reads the script; past its end every byte is 0 (so every count ends at 0).
struct Script<'a> {
    bytes: &'a [u8],
    at: usize,
}

/// Characters picked by script bytes 0x80.. (bytes below 0x80 are themselves, controls too).
const SPECIAL: &[char] = &[
    '&',
    '<',
    '>',
    '"',
    '\'',
    '中',
    '文',
    '。',
    '，',
    '\u{3000}',
    '\u{FEFF}',
    '\u{FFFE}',
    '\u{FFFF}',
    '\u{FFFD}',
    '\u{85}',
    '\u{9F}',
    '\u{2028}',
    '\u{202E}',
    '\u{301}',
    '\u{D7FF}',
    '\u{E000}',
    '\u{10FFFF}',
    '\u{20000}',
    '\u{1F600}',
    '(',
    ')',
    '\\',
    ']',
    'é',
    '字',
    '\r',
    '\n',
    '\t',
    '\0',
];

impl Script<'_> {
    fn byte(&mut self) -> u8 {
        let b = self.bytes.get(self.at).copied().unwrap_or(0);
        self.at += 1;
        b
    }

    /// A coordinate on a side of `extent` pixels, or one of the values that break arithmetic.
    fn coord(&mut self, extent: u32) -> f32 {
        match self.byte() {
            0 => f32::NAN,
            1 => f32::INFINITY,
            2 => f32::NEG_INFINITY,
            3 => f32::MAX,
            4 => -f32::MAX,
            5 => -1.0e6,
            6 => 1.0e9,
            7 => -0.0,
            8 => f32::from_bits(u32::from_le_bytes([
                self.byte(),
                self.byte(),
                self.byte(),
                self.byte(),
            ])),
            b => {
                let v = u16::from_le_bytes([b, self.byte()]);
                f32::from(v) / 65535.0 * 1.2 * extent as f32 - 0.1 * extent as f32
            }
        }
    }

    fn confidence(&mut self) -> f32 {
        match self.byte() {
            0 => f32::NAN,
            1 => f32::INFINITY,
            2 => -1.0,
            3 => 2.0,
            4 => f32::MAX,
            b => f32::from(b) / 255.0,
        }
    }

    /// A DPI override for the searchable PDF (`None`: the page's own), now and then absurd.
    fn dpi(&mut self) -> Option<f32> {
        match self.byte() {
            1 => Some(f32::NAN),
            2 => Some(0.0),
            3 => Some(-72.0),
            4 => Some(1.0e-40),
            5 => Some(1.0),
            6 => Some(1.0e30),
            7 => Some(f32::MAX),
            _ => None,
        }
    }

    fn text(&mut self) -> String {
        let n = self.byte() % 12;
        (0..n)
            .map(|_| match self.byte() {
                b @ 0..0x80 => char::from(b),
                b => SPECIAL[usize::from(b - 0x80) % SPECIAL.len()],
            })
            .collect()
    }

    fn quad(&mut self, w: u32, h: u32) -> [[f32; 2]; 4] {
        if self.byte() & 1 == 0 {
            // Axis-aligned, corners in the engine's order (top-left clockwise).
            let (x0, y0, x1, y1) = (self.coord(w), self.coord(h), self.coord(w), self.coord(h));
            [[x0, y0], [x1, y0], [x1, y1], [x0, y1]]
        } else {
            [0; 4].map(|_| [self.coord(w), self.coord(h)])
        }
    }

    fn word(&mut self, w: u32, h: u32) -> Word {
        let text = self.text();
        let quad = self.quad(w, h);
        let confidence = self.confidence();
        let chars = (0..self.byte() % 3)
            .map(|_| Char {
                text: self.text(),
                quad: self.quad(w, h),
                confidence: self.confidence(),
            })
            .collect();
        Word {
            text,
            quad,
            confidence,
            chars,
        }
    }

    /// A page the size of its image (now and then another size), with lines and blocks.
    fn page(&mut self, w: u32, h: u32) -> Page {
        let (width, height) = match self.byte() % 8 {
            0 => (0, 0),
            1 => (u32::MAX, u32::MAX),
            _ => (w, h),
        };
        let rotation = u16::from_le_bytes([self.byte(), self.byte()]);
        let lines: Vec<Line> = (0..self.byte() % 6)
            .map(|_| {
                let text = self.text();
                let confidence = self.confidence();
                let quad = self.quad(w, h);
                let orientation = match self.byte() % 5 {
                    0 => LineOrientation::Upright,
                    1 => LineOrientation::Rotated90,
                    2 => LineOrientation::Rotated180,
                    3 => LineOrientation::Rotated270,
                    _ => LineOrientation::Vertical,
                };
                let words = (0..self.byte() % 6).map(|_| self.word(w, h)).collect();
                Line {
                    text,
                    confidence,
                    quad,
                    orientation,
                    words,
                }
            })
            .collect();
        let span = lines.len() + 3; // block ranges may point past the last line
        let blocks = (0..self.byte() % 4)
            .map(|_| {
                let kind = match self.byte() % 3 {
                    0 => BlockKind::Paragraph,
                    1 => BlockKind::Table,
                    _ => BlockKind::Vertical,
                };
                let (a, b) = (self.byte() as usize % span, self.byte() as usize % span);
                Block {
                    kind,
                    lines: a..b,
                    rows: std::iter::once(a..b).collect(),
                    bounds: [self.coord(w), self.coord(h), self.coord(w), self.coord(h)],
                }
            })
            .collect();
        Page {
            width,
            height,
            rotation,
            lines,
            blocks,
            ..Default::default()
        }
    }
}

fn words(pages: &[Page]) -> impl Iterator<Item = &Word> {
    pages.iter().flat_map(|p| &p.lines).flat_map(|l| &l.words)
}

fn line_count(pages: &[Page]) -> usize {
    pages.iter().map(|p| p.lines.len()).sum()
}

/// The text as XML can hold it: XML 1.0's `Char` production, written out here on its own.
fn xml_text(text: &str) -> String {
    text.chars()
        .filter(|&c| {
            matches!(c, '\t' | '\n' | '\r' | ' '..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}')
                || c >= '\u{10000}'
        })
        .collect()
}

fn check_tsv(pages: &[Page]) {
    let out = tsv(pages);
    let rows: Vec<Vec<&str>> = out.lines().map(|l| l.split('\t').collect()).collect();
    assert_eq!(out.matches('\n').count(), rows.len(), "{out:?}");
    for r in &rows[1..] {
        assert_eq!(r.len(), 12, "{r:?}");
        for field in &r[..10] {
            assert!(field.parse::<u32>().is_ok(), "{r:?}");
        }
        let conf: f32 = r[10].parse().unwrap_or(f32::NAN);
        assert!(conf == -1.0 || (0.0..=100.0).contains(&conf), "{r:?}");
    }
    let level = |l: &str| rows.iter().filter(|r| r[0] == l).count();
    assert_eq!(level("1"), pages.len());
    assert_eq!(level("2"), level("3"));
    assert_eq!(level("4"), line_count(pages));
    let texts: Vec<&str> = rows.iter().filter(|r| r[0] == "5").map(|r| r[11]).collect();
    let expected: Vec<String> = words(pages)
        .map(|w| w.text.chars().filter(|c| !c.is_control()).collect())
        .collect();
    assert_eq!(texts, expected);
}

fn check_hocr(pages: &[Page]) {
    let out = hocr(pages);
    let options = roxmltree::ParsingOptions {
        allow_dtd: true,
        ..Default::default()
    };
    let doc = roxmltree::Document::parse_with_options(&out, options)
        .unwrap_or_else(|e| panic!("hOCR does not parse: {e}\n{out}"));
    let class = |c: &str| {
        doc.descendants()
            .filter(|n| n.attribute("class") == Some(c))
            .collect::<Vec<_>>()
    };
    assert_eq!(class("ocr_page").len(), pages.len());
    assert_eq!(class("ocr_line").len(), line_count(pages));
    let found = class("ocrx_word");
    let expected: Vec<&Word> = words(pages).collect();
    assert_eq!(found.len(), expected.len());
    for (node, word) in found.iter().zip(&expected) {
        assert_eq!(node.text().unwrap_or(""), xml_text(&word.text), "{out}");
        let title = node.attribute("title").unwrap();
        let (bbox, conf) = title.split_once("; x_wconf ").unwrap();
        let b: Vec<u32> = bbox
            .strip_prefix("bbox ")
            .unwrap()
            .split(' ')
            .map(|v| v.parse().unwrap())
            .collect();
        assert!(b.len() == 4 && b[0] <= b[2] && b[1] <= b[3], "{title}");
        assert!(conf.parse::<u32>().unwrap() <= 100, "{title}");
    }
    let mut ids: Vec<&str> = doc
        .descendants()
        .filter_map(|n| n.attribute("id"))
        .collect();
    let n = ids.len();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), n, "duplicate ids");
}

fn check_alto(pages: &[Page]) {
    let out = alto(pages);
    let doc = roxmltree::Document::parse(&out)
        .unwrap_or_else(|e| panic!("ALTO does not parse: {e}\n{out}"));
    let named = |name: &str| {
        doc.descendants()
            .filter(|n| n.tag_name().name() == name)
            .collect::<Vec<_>>()
    };
    assert_eq!(named("Page").len(), pages.len());
    assert_eq!(named("TextLine").len(), line_count(pages));
    let found = named("String");
    let expected: Vec<&Word> = words(pages).collect();
    assert_eq!(found.len(), expected.len());
    for (node, word) in found.iter().zip(&expected) {
        assert_eq!(node.attribute("CONTENT"), Some(&*xml_text(&word.text)));
        let wc: f32 = node.attribute("WC").unwrap().parse().unwrap_or(f32::NAN);
        assert!((0.0..=1.0).contains(&wc), "WC {wc}");
    }
    for node in doc.descendants().filter(|n| n.is_element()) {
        for a in ["HPOS", "VPOS", "WIDTH", "HEIGHT"] {
            if let Some(v) = node.attribute(a) {
                assert!(v.parse::<u32>().is_ok(), "{a}={v:?}");
            }
        }
    }
}

/// Operators the searchable PDF writes into its content streams.
const PDF_OPERATORS: &[&str] = &[
    "q", "Q", "cm", "Do", "BT", "ET", "Tr", "Tf", "Tz", "Tm", "Tj",
];

/// Every token of a content stream is a string, a name, a known operator or a finite number.
fn check_content(content: &[u8]) {
    let delimiter = |c: u8| c.is_ascii_whitespace() || b"()<>[]{}/%".contains(&c);
    let mut i = 0;
    while i < content.len() {
        let c = content[i];
        if c.is_ascii_whitespace() {
            i += 1;
        } else if c == b'(' {
            // A literal string: balanced parentheses, backslash escapes.
            let mut depth = 0;
            while i < content.len() {
                match content[i] {
                    b'\\' => i += 1,
                    b'(' => depth += 1,
                    b')' => depth -= 1,
                    _ => {}
                }
                i += 1;
                if depth == 0 {
                    break;
                }
            }
            assert_eq!(
                depth,
                0,
                "unbalanced string in {:?}",
                String::from_utf8_lossy(content)
            );
        } else {
            let start = i;
            i += 1;
            while i < content.len() && !delimiter(content[i]) {
                i += 1;
            }
            let token = std::str::from_utf8(&content[start..i]).unwrap_or("<binary>");
            let number = token.bytes().all(|b| b"+-.0123456789".contains(&b))
                && token.bytes().any(|b| b.is_ascii_digit());
            assert!(
                token.starts_with('/')
                    || PDF_OPERATORS.contains(&token)
                    || (number && token.parse::<f64>().is_ok_and(f64::is_finite)),
                "bad token {token:?} in {:?}",
                String::from_utf8_lossy(content)
            );
        }
    }
}

fn check_pdf(pages: &[Page], images: &[(RgbImage, f32)], dpis: &[f32]) {
    let mut pdf = SearchablePdf::new();
    let mut added = Vec::new();
    for ((page, (image, _)), &dpi) in pages.iter().zip(images).zip(dpis) {
        match pdf.add_page(image, page, dpi) {
            Ok(()) => added.push(image.dimensions()),
            Err(e) => {
                // Only the JPEG format's 65,535-pixel side limit may refuse a page.
                let (w, h) = image.dimensions();
                assert!(w > 65_535 || h > 65_535, "{w}x{h} at {dpi} dpi: {e}");
            }
        }
    }
    let bytes = pdf.finish();

    let reader = hayro_syntax::Pdf::new(bytes.clone()).expect("the searchable PDF parses");
    let read_pages = reader.pages();
    assert_eq!(read_pages.len(), added.len());
    for page in read_pages.iter() {
        check_content(page.page_stream().expect("a content stream"));
    }

    // It reads back through the input path: same pages, same image sizes.
    let mut opts = options();
    opts.max_page_pixels = Some(u64::MAX);
    match Pages::open(engine(), &bytes, &opts) {
        Ok(mut back) => {
            assert_eq!(back.len(), added.len());
            for (i, dims) in added.iter().enumerate() {
                let image = back
                    .image(i)
                    .unwrap_or_else(|e| panic!("page {i} of the searchable PDF: {e}"));
                assert_eq!(image.image.dimensions(), *dims, "page {i}");
            }
        }
        Err(DocumentError::NoPages) => assert!(added.is_empty()),
        Err(e) => panic!("the searchable PDF does not read back: {e}"),
    }
}
