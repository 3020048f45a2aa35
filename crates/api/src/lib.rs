//! wenzi (文字): Chinese + English OCR in pure Rust.
//!
//! ```no_run
//! let bytes = std::fs::read("page.png").unwrap();
//! for line in wenzi::recognize(&bytes).unwrap() {
//!     println!("{line}");
//! }
//! ```
//!
//! For boxes, confidences, timings and settings (detector, model set, threads, limits), build
//! an [`Engine`]: `Engine::builder().build()?.recognize(&bytes)?`. An engine is `Send + Sync`;
//! share one across threads.
//!
//! The networks are PaddleOCR's PP-OCR models (Apache-2.0), run by wenzi's own inference
//! engine (`wenzi-nn`); with the default feature `bundled-models` they are compiled in.

mod arrange;
mod engine;
mod error;
mod models;
mod page;
mod reading;
#[cfg(feature = "serde")]
mod shape;
mod words;

pub use engine::{DetectorKind, Engine, EngineBuilder, Limits};
pub use error::Error;
/// The `image` crate wenzi is built with, so callers of [`Engine::decode`] and
/// [`Engine::recognize_image`] name the same `RgbImage` type.
pub use image;
pub use models::{ModelSet, ModelSource};
pub use page::{Block, BlockKind, Char, Line, LineOrientation, Page, Timings, Word};

use std::sync::OnceLock;

/// Recognizes the text lines of one encoded image with the default engine (PP-OCRv4, DB
/// detector with the single-line shortcut, orientation fix on), built on first use and
/// shared by the whole process.
///
/// A blank page gives an empty `Vec`, not an error.
pub fn recognize(bytes: &[u8]) -> Result<Vec<String>, Error> {
    static ENGINE: OnceLock<Result<Engine, String>> = OnceLock::new();
    let engine = ENGINE
        .get_or_init(|| Engine::builder().build().map_err(|e| e.to_string()))
        .as_ref()
        .map_err(|e| Error::Config(format!("the default engine could not be built: {e}")))?;
    Ok(engine.recognize(bytes)?.texts())
}
