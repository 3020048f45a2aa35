//! The interface between the HTTP server and the OCR engine.

/// An OCR engine as seen by the server.
///
/// `recognize` is blocking and CPU-heavy: the server only ever calls it on its own worker
/// threads (see [`crate::pool::WorkerPool`]), never on the async runtime. A panic inside
/// `recognize` is caught on the worker and answered with business code 900.
pub trait OcrBackend: Send + Sync + 'static {
    /// Recognize the text lines of one encoded image (format sniffed from the bytes).
    fn recognize(&self, image: &[u8]) -> Result<OcrOutput, BackendError>;

    /// Called on a worker thread when it finds no job waiting (after its last job and
    /// before it sleeps). A place to release cached memory; the default does nothing.
    fn idle(&self) {}
}

/// Result of one recognition.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OcrOutput {
    /// Recognized lines, top to bottom.
    pub lines: Vec<OcrLine>,
    /// Wall time of the engine's stages in milliseconds (e.g. `("decode", 3.1)`), exported
    /// as the `wenzi_stage_seconds{stage=...}` histograms.
    pub stage_ms: Vec<(&'static str, f64)>,
}

/// One recognized text line.
#[derive(Debug, Clone, PartialEq)]
pub struct OcrLine {
    pub text: String,
    pub confidence: f32,
    /// Corners in image pixels: top-left, top-right, bottom-right, bottom-left.
    pub quad: [[f32; 2]; 4],
}

/// Why a recognition failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BackendError {
    /// The bytes are not an image format the engine reads (answered 501).
    #[error("unsupported image format: {0}")]
    UnsupportedFormat(String),
    /// Corrupt or truncated image, or too many pixels (answered -1).
    #[error("invalid image: {0}")]
    InvalidImage(String),
    /// Anything else (answered 900).
    #[error("internal error: {0}")]
    Internal(String),
}

/// The real engine: errors map onto the API's business codes.
impl OcrBackend for wenzi::Engine {
    fn recognize(&self, image: &[u8]) -> Result<OcrOutput, BackendError> {
        use wenzi::Error as E;
        match wenzi::Engine::recognize(self, image) {
            Ok(page) => Ok(OcrOutput {
                stage_ms: page.timings.stages_ms().to_vec(),
                lines: page
                    .lines
                    .into_iter()
                    .map(|l| OcrLine {
                        text: l.text,
                        confidence: l.confidence,
                        quad: l.quad,
                    })
                    .collect(),
            }),
            Err(e @ (E::EmptyInput | E::UnsupportedFormat(_))) => {
                Err(BackendError::UnsupportedFormat(e.to_string()))
            }
            Err(e @ (E::InvalidImage(_) | E::ImageTooLarge { .. } | E::LimitExceeded(_))) => {
                Err(BackendError::InvalidImage(e.to_string()))
            }
            Err(e) => Err(BackendError::Internal(e.to_string())),
        }
    }
}
