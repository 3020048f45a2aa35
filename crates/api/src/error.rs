//! The one error type of the `wenzi` API.

use std::path::PathBuf;

/// Why an image could not be read or recognized. Messages are meant for end users.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No bytes at all.
    #[error("the image is empty (0 bytes)")]
    EmptyInput,
    /// The bytes are not an image format wenzi reads.
    #[error("unsupported image format: {0} (wenzi reads PNG, JPEG, BMP, GIF, WebP, TIFF and PNM)")]
    UnsupportedFormat(String),
    /// The image header announces more pixels than the configured limit.
    #[error(
        "the image is too large: {width}×{height} pixels is over the limit of {max_pixels} pixels"
    )]
    ImageTooLarge {
        /// Width in the image header.
        width: u64,
        /// Height in the image header.
        height: u64,
        /// The limit it exceeds ([`crate::Limits`]).
        max_pixels: u64,
    },
    /// A recognized format whose data is corrupt, truncated or has a zero side.
    #[error("the image could not be decoded: {0}")]
    InvalidImage(String),
    /// A model file could not be read.
    #[error("cannot read model file {path}: {source}")]
    ModelFile {
        /// The file that was read.
        path: PathBuf,
        /// Why reading it failed.
        source: std::io::Error,
    },
    /// A model's bytes are not a model wenzi can run.
    #[error("cannot load the {which} model: {message}")]
    ModelLoad {
        /// Which model: `detection`, `recognition` or `orientation`.
        which: &'static str,
        /// What was wrong with it.
        message: String,
    },
    /// Inference failed on a loaded model (a bug or a resource limit, never bad image data).
    #[error("inference failed: {0}")]
    Inference(String),
    /// A resource limit of [`crate::Limits`] was hit.
    #[error("limit exceeded: {0}")]
    LimitExceeded(String),
    /// The engine was configured inconsistently.
    #[error("invalid configuration: {0}")]
    Config(String),
}

impl From<wenzi_preprocess::PreprocessError> for Error {
    fn from(e: wenzi_preprocess::PreprocessError) -> Self {
        use wenzi_preprocess::PreprocessError as P;
        match e {
            P::Empty => Error::EmptyInput,
            P::UnsupportedFormat => {
                Error::UnsupportedFormat("the bytes are not a known image format".into())
            }
            P::TooLarge {
                width,
                height,
                max_pixels,
            } => Error::ImageTooLarge {
                width: width as u64,
                height: height as u64,
                max_pixels,
            },
            other => Error::InvalidImage(other.to_string()),
        }
    }
}

impl From<wenzi_recognize::RecognizeError> for Error {
    fn from(e: wenzi_recognize::RecognizeError) -> Self {
        Error::Inference(e.to_string())
    }
}

impl From<wenzi_nn::Error> for Error {
    fn from(e: wenzi_nn::Error) -> Self {
        Error::Inference(e.to_string())
    }
}
