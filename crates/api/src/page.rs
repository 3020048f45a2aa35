//! What recognition returns.

use std::time::Duration;

/// One recognized text line.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Line {
    /// The line's text, in reading order (spaces between Latin words, none between CJK
    /// characters).
    pub text: String,
    /// Mean per-character probability, in `[0, 1]`.
    pub confidence: f32,
    /// The line's corners in image pixels, clockwise from the top-left of its text (where
    /// the text starts, on the side the glyphs' tops face), so a line read upside down starts
    /// at the image's bottom right. A vertical column starts at its top-left.
    #[cfg_attr(feature = "serde", serde(rename = "box"))]
    pub quad: [[f32; 2]; 4],
    /// How the line lies in the image.
    pub orientation: LineOrientation,
    /// The line's words in reading order: runs of Latin letters, digits and the punctuation
    /// joined to them (`don't`, `3.14`, `e-mail`) between spaces, and each CJK character or
    /// CJK punctuation mark on its own (as Tesseract splits CJK text).
    pub words: Vec<Word>,
}

/// One word of a [`Line`].
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Word {
    /// The word's text: a Latin/digit run or a single CJK character or mark.
    pub text: String,
    /// The word's part of its line: corners in image pixels, clockwise from the top-left of
    /// its text, like [`Line::quad`].
    #[cfg_attr(feature = "serde", serde(rename = "box"))]
    pub quad: [[f32; 2]; 4],
    /// Mean probability of the word's characters, in `[0, 1]`.
    pub confidence: f32,
    /// The word's characters (usually one per `char`; in reading order).
    pub chars: Vec<Char>,
}

impl Word {
    /// Axis-aligned bounds `[x0, y0, x1, y1]` of the word's quad, in image pixels.
    pub fn bounds(&self) -> [f32; 4] {
        quad_bounds(&self.quad)
    }
}

/// One character of a [`Word`].
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Char {
    /// The character (one `char`, or a short grapheme the recognizer emits as one symbol).
    pub text: String,
    /// The character's part of its line, in image pixels, clockwise from its text's top-left.
    #[cfg_attr(feature = "serde", serde(rename = "box"))]
    pub quad: [[f32; 2]; 4],
    /// Probability the recognizer gave the character, in `[0, 1]`.
    pub confidence: f32,
}

impl Line {
    /// Axis-aligned bounds `[x0, y0, x1, y1]` of the line's quad, in image pixels.
    pub fn bounds(&self) -> [f32; 4] {
        quad_bounds(&self.quad)
    }
}

/// Axis-aligned bounds `[x0, y0, x1, y1]` of a quad.
pub(crate) fn quad_bounds(quad: &[[f32; 2]; 4]) -> [f32; 4] {
    points_bounds(quad)
}

/// Axis-aligned bounds `[x0, y0, x1, y1]` of points (of one quad, or of a block's quads).
pub(crate) fn points_bounds<'a>(points: impl IntoIterator<Item = &'a [f32; 2]>) -> [f32; 4] {
    let mut b = [
        f32::INFINITY,
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::NEG_INFINITY,
    ];
    for p in points {
        b[0] = b[0].min(p[0]);
        b[1] = b[1].min(p[1]);
        b[2] = b[2].max(p[0]);
        b[3] = b[3].max(p[1]);
    }
    b
}

/// How a line's characters lie in the image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(rename_all = "lowercase")
)]
pub enum LineOrientation {
    /// A horizontal line, upright.
    #[default]
    Upright,
    /// A horizontal line turned 90° clockwise (it reads top to bottom, glyph tops to the right).
    Rotated90,
    /// A horizontal line upside down.
    Rotated180,
    /// A horizontal line turned 90° counter-clockwise (it reads bottom to top).
    Rotated270,
    /// A vertical column of upright (CJK) characters, read top to bottom.
    Vertical,
}

impl LineOrientation {
    /// A short lowercase name: `upright`, `rotated90`, `rotated180`, `rotated270`, `vertical`.
    pub fn as_str(self) -> &'static str {
        match self {
            LineOrientation::Upright => "upright",
            LineOrientation::Rotated90 => "rotated90",
            LineOrientation::Rotated180 => "rotated180",
            LineOrientation::Rotated270 => "rotated270",
            LineOrientation::Vertical => "vertical",
        }
    }
}

/// What a block of lines is (the layout crate's kinds: paragraph, table, vertical).
pub use wenzi_layout::BlockKind;

/// A group of lines that belong together on the page.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Block {
    /// What the block is: paragraph, table or vertical text.
    pub kind: BlockKind,
    /// Indices into [`Page::lines`], in reading order (consecutive: blocks partition the page).
    #[cfg_attr(feature = "serde", serde(with = "crate::shape::range"))]
    pub lines: std::ops::Range<usize>,
    /// For a [`BlockKind::Table`], its rows as ranges of [`Page::lines`], each read left to
    /// right; empty for other kinds.
    #[cfg_attr(feature = "serde", serde(with = "crate::shape::ranges"))]
    pub rows: Vec<std::ops::Range<usize>>,
    /// Axis-aligned bounds `[x0, y0, x1, y1]` of the block's lines, in image pixels.
    pub bounds: [f32; 4],
}

/// Time spent in each stage of one recognition (in JSON: milliseconds, as floats).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Timings {
    /// Decoding the image bytes to pixels.
    #[cfg_attr(feature = "serde", serde(with = "crate::shape::millis"))]
    pub decode: Duration,
    /// Finding the text lines (detector network or classic detector, and post-processing).
    #[cfg_attr(feature = "serde", serde(with = "crate::shape::millis"))]
    pub detect: Duration,
    /// The 0°/180° orientation classifier on the line crops.
    #[cfg_attr(feature = "serde", serde(with = "crate::shape::millis"))]
    pub classify: Duration,
    /// Reading the line crops with the recognizer network.
    #[cfg_attr(feature = "serde", serde(with = "crate::shape::millis"))]
    pub recognize: Duration,
    /// The whole call, including what the stages above do not cover (layout, words).
    #[cfg_attr(feature = "serde", serde(with = "crate::shape::millis"))]
    pub total: Duration,
}

impl Timings {
    /// `(stage, milliseconds)` pairs, for logs and metrics.
    pub fn stages_ms(&self) -> [(&'static str, f64); 5] {
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        [
            ("decode", ms(self.decode)),
            ("detect", ms(self.detect)),
            ("classify", ms(self.classify)),
            ("recognize", ms(self.recognize)),
            ("total", ms(self.total)),
        ]
    }
}

/// The text of one image, lines in reading order.
///
/// With the default `serde` feature a page serializes (and deserializes) to this JSON: field
/// names as here, except that quads are called `box`; quads are `[[x, y], ...]` (4 corners,
/// clockwise from the text's top-left), ranges `[start, end]`, enums their `as_str()` names,
/// timings milliseconds. The server's `detail=1` and the CLI's `--format json` print it.
///
/// ```json
/// {"width": 480, "height": 200, "rotation": 0,
///  "lines": [{"text": "kill -9", "confidence": 0.98,
///             "box": [[40, 10], [120, 10], [120, 30], [40, 30]], "orientation": "upright",
///             "words": [{"text": "kill", "box": [[40, 10], [75, 10], [75, 30], [40, 30]],
///                        "confidence": 0.99,
///                        "chars": [{"text": "k", "box": [[40, 10], [48, 10], [48, 30], [40, 30]],
///                                   "confidence": 0.99}, ...]}, ...]}],
///  "blocks": [{"kind": "paragraph", "lines": [0, 1], "rows": [], "bounds": [40, 10, 120, 30]}],
///  "timings": {"decode": 1.2, "detect": 20.5, "classify": 0.8, "recognize": 30.1, "total": 52.9}}
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Page {
    /// The image's width in pixels (as decoded, before any rotation fix).
    pub width: u32,
    /// The image's height in pixels.
    pub height: u32,
    /// How far the page's content is turned clockwise in the image, in degrees (0, 90, 180 or
    /// 270): a photo taken sideways is 90 or 270. Lines and blocks are still in the image's
    /// own coordinates.
    pub rotation: u16,
    /// Every recognized line, in reading order.
    pub lines: Vec<Line>,
    /// The lines grouped into blocks, in reading order; each block holds a consecutive run
    /// of [`Page::lines`].
    pub blocks: Vec<Block>,
    /// Time spent in each stage; absent in JSON reads as zeros.
    #[cfg_attr(feature = "serde", serde(default))]
    pub timings: Timings,
}

impl Page {
    /// The lines' texts, in reading order.
    pub fn texts(&self) -> Vec<String> {
        self.lines.iter().map(|l| l.text.clone()).collect()
    }
}
