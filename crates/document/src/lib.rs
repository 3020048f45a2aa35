//! Documents for wenzi: several pages in, several formats out.
//!
//! * Input: [`recognize_document`] reads a PDF, a multi-page TIFF or a single image. A PDF page
//!   that is one embedded scan (the common case for scanned documents) is read from that image
//!   directly, pixel for pixel; other pages need the `render` feature (the pure-Rust hayro
//!   rasterizer) or give [`DocumentError::NeedsRendering`].
//! * Output: [`tsv`] (Tesseract's columns), [`hocr`], [`alto`] (ALTO 4) and a searchable PDF
//!   ([`SearchablePdf`]: each page's image under an invisible, selectable text layer).
//!
//! ```no_run
//! let engine = wenzi::Engine::builder().build()?;
//! let bytes = std::fs::read("scan.pdf")?;
//! let doc = wenzi_document::recognize_document(&engine, &bytes, &Default::default())?;
//! print!("{}", wenzi_document::hocr(&doc.pages));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![warn(missing_docs)]

mod alto;
mod hocr;
mod input;
mod pdf_in;
mod pdf_limits;
mod pdf_out;
mod structure;
mod tiff_in;
mod tsv;

pub use alto::alto;
pub use hocr::hocr;
pub use input::{sniff, InputKind, PageImage, Pages};
pub use pdf_out::{searchable_pdf, SearchablePdf};
pub use tsv::tsv;

/// How documents are read.
#[derive(Debug, Clone, PartialEq)]
pub struct DocumentOptions {
    /// Resolution at which PDF pages without a single scanned image are rendered (with the
    /// `render` feature), and the resolution assumed for images that do not say. Default 200.
    pub dpi: f32,
    /// Most pages a document may have. Default 1,000 → [`DocumentError::TooManyPages`].
    pub max_pages: usize,
    /// Most pixels one page may have; `None` (default) uses the engine's
    /// [`wenzi::Limits::max_pixels`] → [`DocumentError::PageTooLarge`].
    pub max_page_pixels: Option<u64>,
}

impl Default for DocumentOptions {
    fn default() -> Self {
        Self {
            dpi: 200.0,
            max_pages: 1_000,
            max_page_pixels: None,
        }
    }
}

/// A recognized document: its pages in order.
#[derive(Debug, Clone, Default, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Document {
    /// The recognized pages, first page first.
    pub pages: Vec<wenzi::Page>,
}

impl Document {
    /// Every page's lines, page after page.
    pub fn texts(&self) -> Vec<String> {
        self.pages.iter().flat_map(|p| p.texts()).collect()
    }
}

/// What can go wrong reading or writing a document. Pages are numbered from 1.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DocumentError {
    /// The input has no bytes.
    #[error("the input is empty")]
    Empty,
    /// The bytes start like a PDF but its structure cannot be parsed.
    #[error("the PDF cannot be read: {0}")]
    InvalidPdf(String),
    /// The PDF needs a password; wenzi does not decrypt.
    #[error("the PDF is encrypted with a password")]
    Encrypted,
    /// The bytes start like a TIFF but cannot be decoded.
    #[error("the TIFF cannot be read: {0}")]
    InvalidTiff(String),
    /// The document parses but holds no page.
    #[error("the document has no pages")]
    NoPages,
    /// More pages than [`DocumentOptions::max_pages`] allows.
    #[error("the document has {pages} pages, over the limit of {max}")]
    TooManyPages {
        /// Pages in the document.
        pages: usize,
        /// The configured limit.
        max: usize,
    },
    /// One page decodes to more pixels than the engine's limit.
    #[error("page {page} is {width}x{height} pixels, over the limit of {max_pixels}")]
    PageTooLarge {
        /// The page number (from 1).
        page: usize,
        /// The page's width in pixels.
        width: u64,
        /// The page's height in pixels.
        height: u64,
        /// The limit it exceeds.
        max_pixels: u64,
    },
    /// One page's image data is corrupt or unsupported.
    #[error("page {page}: {message}")]
    InvalidPage {
        /// The page number (from 1).
        page: usize,
        /// What is wrong with it.
        message: String,
    },
    /// A PDF page with vector content, read without the `render` feature.
    #[error(
        "page {page} of the PDF is not a single scanned image and needs rendering \
         (build wenzi-document with the `render` feature)"
    )]
    NeedsRendering {
        /// The page number (from 1).
        page: usize,
    },
    /// The engine failed on a page.
    #[error("page {page}: {source}")]
    Recognize {
        /// The page number (from 1).
        page: usize,
        /// The engine's error.
        #[source]
        source: wenzi::Error,
    },
    /// Writing the searchable PDF failed.
    #[error("cannot write the PDF: {0}")]
    Write(String),
}

/// Reads every page of a PDF, a multi-page TIFF or a single image (sniffed from the bytes)
/// and recognizes it.
pub fn recognize_document(
    engine: &wenzi::Engine,
    bytes: &[u8],
    opts: &DocumentOptions,
) -> Result<Document, DocumentError> {
    recognize_document_with(engine, bytes, opts, |_, _, _| {})
}

/// [`recognize_document`], calling `on_page(index, page_count, &image)` after each page is
/// recognized (for progress bars, or to keep the images for a searchable PDF).
pub fn recognize_document_with(
    engine: &wenzi::Engine,
    bytes: &[u8],
    opts: &DocumentOptions,
    mut on_page: impl FnMut(usize, usize, &PageImage),
) -> Result<Document, DocumentError> {
    let mut pages = Pages::open(engine, bytes, opts)?;
    let count = pages.len();
    let mut doc = Document {
        pages: Vec::with_capacity(count),
    };
    for index in 0..count {
        let image = pages.image(index)?;
        let page =
            engine
                .recognize_image(&image.image)
                .map_err(|source| DocumentError::Recognize {
                    page: index + 1,
                    source,
                })?;
        on_page(index, count, &image);
        doc.pages.push(page);
    }
    Ok(doc)
}
