//! Error type shared by the preprocessing stages.

use thiserror::Error;

/// Why an image could not be turned into pixels.
///
/// The variants are deliberately coarse and stable so that callers (the HTTP server, the CLI)
/// can map them to user-facing messages / status codes without string matching.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PreprocessError {
    /// No bytes at all were supplied.
    #[error("empty input: no image bytes")]
    Empty,
    /// The bytes are not one of the supported image formats
    /// (PNG, JPEG, BMP, GIF, WebP, TIFF, PNM).
    #[error("unsupported or unrecognized image format")]
    UnsupportedFormat,
    /// The header announces more pixels than [`DecodeLimits::max_pixels`](crate::DecodeLimits)
    /// allows; nothing was decoded.
    #[error("image too large: {width}x{height} exceeds the limit of {max_pixels} pixels")]
    TooLarge {
        /// Width announced by the header (0 when the decoder refused before telling).
        width: u32,
        /// Height announced by the header (0 when the decoder refused before telling).
        height: u32,
        /// The limit that was exceeded.
        max_pixels: u64,
    },
    /// The header announces a width or height of zero.
    #[error("image has a zero width or height")]
    ZeroSized,
    /// The data is truncated or otherwise invalid.
    #[error("corrupt image data: {0}")]
    Corrupt(String),
}
