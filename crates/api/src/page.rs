//! What recognition returns.

use std::time::Duration;

/// One recognized text line.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    pub text: String,
    /// Mean per-character probability, in `[0, 1]`.
    pub confidence: f32,
    /// The line's corners in image pixels, clockwise from its top-left.
    pub quad: [[f32; 2]; 4],
}

/// Time spent in each stage of one recognition.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Timings {
    pub decode: Duration,
    pub detect: Duration,
    pub classify: Duration,
    pub recognize: Duration,
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
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Page {
    pub width: u32,
    pub height: u32,
    pub lines: Vec<Line>,
    pub timings: Timings,
}

impl Page {
    /// The lines' texts, in reading order.
    pub fn texts(&self) -> Vec<String> {
        self.lines.iter().map(|l| l.text.clone()).collect()
    }
}
