//! The interface between the HTTP server and the OCR engine.

use std::time::Instant;

/// An OCR engine as seen by the server.
///
/// `recognize` is blocking and CPU-heavy: the server only ever calls it on its own worker
/// threads (see [`crate::pool::WorkerPool`]), never on the async runtime. A panic inside
/// `recognize` is caught on the worker and answered with business code 900.
pub trait OcrBackend: Send + Sync + 'static {
    /// Recognize one upload: an encoded image (format sniffed from the bytes), or, for a
    /// backend that reads documents, every page of a PDF or multi-page TIFF, in order.
    fn recognize(&self, upload: &[u8], job: &JobOptions) -> Result<OcrOutput, BackendError>;

    /// Called on a worker thread when it finds no job waiting (after its last job and
    /// before it sleeps). A place to release cached memory; the default does nothing.
    fn idle(&self) {}
}

/// What one job may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobOptions {
    /// Most pages a PDF or multi-page TIFF may have (more: [`BackendError::InvalidImage`]).
    pub max_pages: usize,
    /// When the request's answer is due: a document stops between pages past it (nobody
    /// waits for the rest).
    pub deadline: Option<Instant>,
}

impl Default for JobOptions {
    fn default() -> Self {
        Self {
            max_pages: DEFAULT_MAX_PAGES,
            deadline: None,
        }
    }
}

/// Default page cap of an uploaded document (`--max-pdf-pages`).
pub const DEFAULT_MAX_PAGES: usize = 20;

/// Result of one recognition.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OcrOutput {
    /// The recognized pages: one for an image, each page of a document in order.
    pub pages: Vec<wenzi::Page>,
    /// Wall time of the engine's stages in milliseconds (e.g. `("decode", 3.1)`; summed
    /// over a document's pages), exported as the `wenzi_stage_seconds{stage=...}` histograms.
    pub stage_ms: Vec<(&'static str, f64)>,
}

impl OcrOutput {
    /// Every page's lines, page after page, each page's in reading order.
    pub fn lines(&self) -> impl Iterator<Item = &wenzi::Line> {
        self.pages.iter().flat_map(|p| &p.lines)
    }
}

/// Why a recognition failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BackendError {
    /// The bytes are not an image format the engine reads (answered 501).
    #[error("unsupported image format: {0}")]
    UnsupportedFormat(String),
    /// Corrupt or truncated image or document, too many pixels or pages (answered -1).
    #[error("invalid image: {0}")]
    InvalidImage(String),
    /// Anything else (answered 900).
    #[error("internal error: {0}")]
    Internal(String),
}

/// The real engine: images through [`wenzi::Engine::recognize`], PDFs and TIFFs page by page
/// through `wenzi-document`; errors map onto the API's business codes.
impl OcrBackend for wenzi::Engine {
    fn recognize(&self, upload: &[u8], job: &JobOptions) -> Result<OcrOutput, BackendError> {
        match wenzi_document::sniff(upload) {
            wenzi_document::InputKind::Image => {
                let page = wenzi::Engine::recognize(self, upload).map_err(engine_error)?;
                Ok(OcrOutput {
                    stage_ms: page.timings.stages_ms().to_vec(),
                    pages: vec![page],
                })
            }
            wenzi_document::InputKind::Pdf | wenzi_document::InputKind::Tiff => {
                recognize_document(self, upload, job)
            }
        }
    }
}

/// Reads a document's pages one after another (one decoded page held at a time).
fn recognize_document(
    engine: &wenzi::Engine,
    bytes: &[u8],
    job: &JobOptions,
) -> Result<OcrOutput, BackendError> {
    let opts = wenzi_document::DocumentOptions {
        max_pages: job.max_pages,
        ..Default::default()
    };
    let mut pages = wenzi_document::Pages::open(engine, bytes, &opts).map_err(document_error)?;
    let count = pages.len();
    let mut out = OcrOutput::default();
    let mut stages: Vec<(&'static str, f64)> = Vec::new();
    for index in 0..count {
        if job.deadline.is_some_and(|d| Instant::now() >= d) {
            return Err(BackendError::InvalidImage(format!(
                "deadline exceeded after {index} of {count} pages"
            )));
        }
        let t = Instant::now();
        let image = pages.image(index).map_err(document_error)?;
        let decoded = t.elapsed();
        let mut page = engine
            .recognize_image(&image.image)
            .map_err(|e| match engine_error(e) {
                BackendError::InvalidImage(m) => {
                    BackendError::InvalidImage(format!("page {}: {m}", index + 1))
                }
                other => other,
            })?;
        drop(image);
        page.timings.decode = decoded;
        page.timings.total = t.elapsed();
        for (k, (stage, ms)) in page.timings.stages_ms().into_iter().enumerate() {
            match stages.get_mut(k) {
                Some(s) => s.1 += ms,
                None => stages.push((stage, ms)),
            }
        }
        out.pages.push(page);
    }
    out.stage_ms = stages;
    Ok(out)
}

fn engine_error(e: wenzi::Error) -> BackendError {
    use wenzi::Error as E;
    match e {
        e @ (E::EmptyInput | E::UnsupportedFormat(_)) => {
            BackendError::UnsupportedFormat(e.to_string())
        }
        e @ (E::InvalidImage(_) | E::ImageTooLarge { .. } | E::LimitExceeded(_)) => {
            BackendError::InvalidImage(e.to_string())
        }
        e => BackendError::Internal(e.to_string()),
    }
}

/// Broken, encrypted, over-long or unreadable documents are bad input (-1); a page the
/// engine fails on maps like an image.
fn document_error(e: wenzi_document::DocumentError) -> BackendError {
    use wenzi_document::DocumentError as D;
    match e {
        D::Empty => BackendError::UnsupportedFormat(e.to_string()),
        D::Recognize { page, source } => match engine_error(source) {
            BackendError::InvalidImage(m) => {
                BackendError::InvalidImage(format!("page {page}: {m}"))
            }
            other => other,
        },
        D::Write(m) => BackendError::Internal(m),
        e => BackendError::InvalidImage(e.to_string()),
    }
}
