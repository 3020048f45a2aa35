//! Image preprocessing for the wenzi OCR engine.
//!
//! * [`decode`]: untrusted bytes → upright RGB, with typed errors and decompression-bomb limits.
//! * [`to_gray`], [`otsu`], [`sauvola`]: grayscale and binarization (outputs only 0 / 255, ink = 0).
//! * [`estimate_skew`], [`deskew`], [`Rotation`]: skew correction.
//! * [`resize_rgb`], [`resize_for_det`], [`to_nchw`]: network input preparation.
//! * [`components`]: 8-connected component labeling shared with the detectors.
//!
//! Nothing here panics on any input: degenerate images (empty, 1×1, constant) produce
//! well-defined outputs.

#![deny(unsafe_code)]
#![warn(missing_docs)]

mod binarize;
pub mod components;
mod decode;
mod deskew;
mod error;
mod gray;
mod normalize;
mod resize;
mod rotate;

pub use binarize::{
    dark_is_minority, otsu, otsu_threshold, otsu_threshold_hist, sauvola, threshold, SauvolaParams,
};
pub use decode::{decode, flatten_onto_white, DecodeLimits};
pub use deskew::{deskew, estimate_skew, MAX_SKEW_DEG};
pub use error::PreprocessError;
pub use gray::{histogram, invert, to_gray};
pub use normalize::{to_nchw, ChannelOrder};
pub use resize::{
    det_input_size, estimate_text_height, resize_for_det, resize_gray, resize_rgb, AdaptiveResize,
    DetResizePolicy,
};
pub use rotate::{rotate_gray, rotate_rgb, Rotation};

/// Re-export so callers can name the image types without a direct `image` dependency.
pub use image;
