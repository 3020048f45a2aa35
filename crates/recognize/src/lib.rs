//! Text-line recognition for wenzi: PP-OCR CTC recognizers and the 0°/180° line classifier,
//! run on wenzi-nn.
//!
//! The flow for a page: [`crop_quad`] each detected line, optionally fix upside-down lines
//! with [`OrientationClassifier`], then [`Recognizer::recognize`] the crops. Lines are
//! batched by similar aspect ratio so little of each batch is padding.

#![warn(missing_docs)]

mod charset;
mod crop;
mod ctc;
mod input;
mod vertical;

pub use charset::Charset;
pub use crop::{crop_point_to_image, crop_quad, rotate180, rotate90_ccw, Quad, MAX_CROP_SIDE};
pub use ctc::{decode_greedy, decode_greedy_spans, CharSpan, Decoded};
pub use input::{aspect, line_batch};
pub use vertical::{column_to_line, settle_shapes, spans_down_the_column, Cell, ColumnLine};

use std::borrow::Borrow;

use image::RgbImage;
use ndarray::{Axis, Ix3};
use rayon::prelude::*;
use wenzi_nn::Model;

/// What can go wrong while recognizing lines.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RecognizeError {
    /// The network failed to run.
    #[error("model inference failed: {0}")]
    Model(#[from] wenzi_nn::Error),
    /// The character dictionary does not fit the model.
    #[error("bad character dictionary: {0}")]
    Charset(String),
    /// The model's output has a shape the decoder does not expect.
    #[error("unexpected model output: {0}")]
    UnexpectedOutput(String),
}

/// Height, in pixels, of the line images both PP-OCR rec and cls networks take.
pub const LINE_HEIGHT: u32 = 48;

/// Columns a shorter line is padded to, as PP-OCR pads them in training (48 × 320).
pub const MIN_LINE_WIDTH: u32 = 320;

/// Widest line (as width/height) fed to the recognizer unchanged; wider lines are squeezed.
/// Bounds the attention cost of one line (its sequence length grows with width).
pub const MAX_LINE_ASPECT: f32 = 120.0;

/// A CTC text-line recognizer (PP-OCRv4 or v6 rec model) with its dictionary.
pub struct Recognizer {
    model: Model,
    charset: Charset,
    batch_size: usize,
}

impl Recognizer {
    /// Wraps a rec model; its dictionary comes from the model's `character` metadata.
    pub fn new(model: Model) -> Result<Self, RecognizeError> {
        let dictionary = model.metadata("character").ok_or_else(|| {
            RecognizeError::Charset("the model has no `character` metadata".into())
        })?;
        let charset = Charset::from_dictionary(dictionary)?;
        Ok(Self {
            model,
            charset,
            // One line per run, lines side by side on the pool's threads: v4 rec takes 19 ms
            // for one 48 × 320 line and 181 ms for eight on one thread (the batch's
            // activations leave the L2 cache), and a batch pads every line to its widest.
            batch_size: 1,
        })
    }

    /// Lines per inference batch (at least 1).
    pub fn with_batch_size(mut self, batch_size: usize) -> Self {
        self.batch_size = batch_size.max(1);
        self
    }

    /// The dictionary the model decodes into.
    pub fn charset(&self) -> &Charset {
        &self.charset
    }

    /// Recognizes each line image (owned or borrowed); results come back in the order given.
    ///
    /// Batches of similar width run side by side on the current rayon pool, one batch per
    /// thread: a small line network spreads badly over threads inside one run (1.5× on two
    /// threads), while whole lines at once use every thread fully.
    pub fn recognize<L: Borrow<RgbImage> + Sync>(
        &self,
        lines: &[L],
    ) -> Result<Vec<Decoded>, RecognizeError> {
        self.recognize_padded_to(lines, MIN_LINE_WIDTH)
    }

    /// [`Recognizer::recognize`] with shorter lines padded to `min_width` columns instead of
    /// [`MIN_LINE_WIDTH`]: a short line costs less (v4 rec: 9 ms at 192 columns against
    /// 14 ms at 320, one thread) and reads a little less reliably, which suits a quick
    /// look such as a vote on a page's orientation.
    pub fn recognize_padded_to<L: Borrow<RgbImage> + Sync>(
        &self,
        lines: &[L],
        min_width: u32,
    ) -> Result<Vec<Decoded>, RecognizeError> {
        let batches = batches_by_aspect(lines, self.batch_size);
        // (on a one-thread pool, or with one batch, this runs them one after another)
        let decoded: Vec<Result<Vec<Decoded>, RecognizeError>> = batches
            .par_iter()
            .map(|batch| self.recognize_batch(lines, batch, min_width))
            .collect();
        let mut results = vec![Decoded::default(); lines.len()];
        for (batch, decoded) in batches.iter().zip(decoded) {
            for (&i, d) in batch.iter().zip(decoded?) {
                results[i] = d;
            }
        }
        Ok(results)
    }

    /// Recognizes the lines `batch` of `lines` in one run; results in the batch's order.
    fn recognize_batch<L: Borrow<RgbImage>>(
        &self,
        lines: &[L],
        batch: &[usize],
        min_width: u32,
    ) -> Result<Vec<Decoded>, RecognizeError> {
        let max_aspect = batch
            .iter()
            .map(|&i| aspect(lines[i].borrow()))
            .fold(min_width.max(1) as f32 / LINE_HEIGHT as f32, f32::max)
            .min(MAX_LINE_ASPECT);
        let width = (LINE_HEIGHT as f32 * max_aspect).ceil() as u32;
        let crops: Vec<&RgbImage> = batch.iter().map(|&i| lines[i].borrow()).collect();
        let tensor = line_batch(&crops, LINE_HEIGHT, width);
        let outputs = self.model.run(&[("x", tensor.view().into_dyn())])?;
        let scores = first_output(outputs)?
            .into_dimensionality::<Ix3>()
            .map_err(|_| RecognizeError::UnexpectedOutput("rec output is not N×T×C".into()))?;
        if scores.shape()[0] != batch.len() || scores.shape()[2] != self.charset.len() {
            return Err(RecognizeError::UnexpectedOutput(format!(
                "rec output shape {:?} does not fit {} lines × {} classes",
                scores.shape(),
                batch.len(),
                self.charset.len()
            )));
        }
        let frames = scores.shape()[1] as f32;
        Ok(crops
            .iter()
            .enumerate()
            .map(|(k, line)| {
                // The line fills `resized_w` of the batch's `width` columns (see
                // `line_batch`); the rest, and the frames over it, are padding.
                let content = content_width(line, width) as f32;
                decode_greedy_spans(
                    scores.index_axis(Axis(0), k),
                    &self.charset,
                    frames * content / width as f32,
                )
            })
            .collect())
    }
}

/// The 0°/180° line classifier (PP-OCR mobile v2 cls model).
pub struct OrientationClassifier {
    model: Model,
    threshold: f32,
}

/// Verdict on one line.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Orientation {
    /// True when the line should be turned 180° before recognition.
    pub upside_down: bool,
    /// Probability of the winning class.
    pub score: f32,
}

impl OrientationClassifier {
    /// Input width of the cls network.
    pub const WIDTH: u32 = 192;

    /// Wraps a cls model. A line is turned only when "180°" wins with probability > 0.9,
    /// since turning a correct line destroys it while missing a flip costs the same.
    pub fn new(model: Model) -> Self {
        Self {
            model,
            threshold: 0.9,
        }
    }

    /// Classifies each line; results come back in the order given.
    pub fn classify<L: Borrow<RgbImage>>(
        &self,
        lines: &[L],
    ) -> Result<Vec<Orientation>, RecognizeError> {
        let mut out = vec![
            Orientation {
                upside_down: false,
                score: 0.0
            };
            lines.len()
        ];
        for batch in batches_by_aspect(lines, 8) {
            let crops: Vec<&RgbImage> = batch.iter().map(|&i| lines[i].borrow()).collect();
            let tensor = line_batch(&crops, LINE_HEIGHT, Self::WIDTH);
            let probs = first_output(self.model.run(&[("x", tensor.view().into_dyn())])?)?;
            if probs.shape() != [batch.len(), 2] {
                return Err(RecognizeError::UnexpectedOutput(format!(
                    "cls output shape {:?}, expected [{}, 2]",
                    probs.shape(),
                    batch.len()
                )));
            }
            for (k, &i) in batch.iter().enumerate() {
                let (p0, p180) = (probs[[k, 0]], probs[[k, 1]]);
                out[i] = Orientation {
                    upside_down: p180 > p0 && p180 > self.threshold,
                    score: p0.max(p180),
                };
            }
        }
        Ok(out)
    }
}

/// Columns a line occupies in a batch `width` wide, as [`line_batch`] resizes it.
fn content_width(line: &RgbImage, width: u32) -> u32 {
    input::resized_width(line.width(), line.height(), LINE_HEIGHT, width)
}

fn first_output(
    outputs: Vec<ndarray::ArrayD<f32>>,
) -> Result<ndarray::ArrayD<f32>, RecognizeError> {
    outputs
        .into_iter()
        .next()
        .ok_or_else(|| RecognizeError::UnexpectedOutput("the model returned no output".into()))
}

/// Groups line indices into batches of similar aspect ratio (sorted), so padding is small.
fn batches_by_aspect<L: Borrow<RgbImage>>(lines: &[L], batch_size: usize) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..lines.len()).collect();
    order.sort_by(|&a, &b| aspect(lines[a].borrow()).total_cmp(&aspect(lines[b].borrow())));
    order
        .chunks(batch_size.max(1))
        .map(<[usize]>::to_vec)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Rgb;

    #[test]
    fn batches_cover_every_line_once_sorted_by_aspect() {
        let lines: Vec<RgbImage> = [30, 10, 50, 20, 40]
            .iter()
            .map(|&w| RgbImage::from_pixel(w, 10, Rgb([0, 0, 0])))
            .collect();
        let b = batches_by_aspect(&lines, 2);
        assert_eq!(b, vec![vec![1, 3], vec![0, 4], vec![2]]);
    }
}
