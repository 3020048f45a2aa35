//! wenzi (文字): Chinese + English OCR in pure Rust.
//!
//! ```
//! # let bytes: &[u8] = include_bytes!("../../../fixtures/images/page_008.png");
//! // let bytes = std::fs::read("page.png")?;
//! let lines = wenzi::recognize(bytes)?;
//! assert!(lines.iter().any(|l| l.contains("search-string")));
//! for line in lines {
//!     println!("{line}");
//! }
//! # Ok::<(), wenzi::Error>(())
//! ```
//!
//! For boxes, confidences, timings and settings (detector, model set, threads, limits), build
//! an [`Engine`]: `Engine::builder().build()?.recognize(&bytes)?`. An engine is `Send + Sync`;
//! share one across threads.
//!
//! ```
//! use wenzi::{DetectorKind, Engine, ModelSet};
//!
//! # let bytes: &[u8] = include_bytes!("../../../fixtures/images/page_008.png");
//! let engine = Engine::builder()
//!     .models(ModelSet::V4)
//!     .detector(DetectorKind::Auto)
//!     .build()?;
//! let page = engine.recognize(bytes)?;
//! for block in &page.blocks {
//!     for line in &page.lines[block.lines.clone()] {
//!         let [x0, y0, x1, y1] = line.bounds();
//!         println!("{:?} ({x0},{y0})-({x1},{y1}) {:.2} {}", block.kind, line.confidence, line.text);
//!         for word in &line.words {
//!             assert!(line.text.contains(&word.text));
//!         }
//!     }
//! }
//! assert_eq!(page.lines.len(), 6);
//! # Ok::<(), wenzi::Error>(())
//! ```
//!
//! Without the `bundled-models` feature (or when the crate was built without the model files,
//! as from crates.io), point the builder at a folder holding the ONNX files named as in the
//! repository's `models/`: `Engine::builder().model_dir("/path/to/models").build()?`.
//!
//! The networks are PaddleOCR's PP-OCR models (Apache-2.0), run by wenzi's own inference
//! engine (`wenzi-nn`); with the default feature `bundled-models` they are compiled in.

#![warn(missing_docs)]

mod arrange;
mod engine;
mod error;
mod join;
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
///
/// ```
/// # let bytes: &[u8] = include_bytes!("../../../fixtures/images/page_008.png");
/// let lines = wenzi::recognize(bytes)?;
/// assert_eq!(lines[0], "apt search search-string");
/// # Ok::<(), wenzi::Error>(())
/// ```
pub fn recognize(bytes: &[u8]) -> Result<Vec<String>, Error> {
    static ENGINE: OnceLock<Result<Engine, String>> = OnceLock::new();
    let engine = ENGINE
        .get_or_init(|| Engine::builder().build().map_err(|e| e.to_string()))
        .as_ref()
        .map_err(|e| Error::Config(format!("the default engine could not be built: {e}")))?;
    Ok(engine.recognize(bytes)?.texts())
}
