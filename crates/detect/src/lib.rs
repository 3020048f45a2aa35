//! Text line detection for the wenzi OCR engine.
//!
//! Two detectors produce the same [`TextBox`] output:
//!
//! * [`classic`]: no neural network. Binarization, connected components, run-length smearing
//!   into line segments, projection-profile splitting. Good on clean rendered pages.
//! * [`db`]: pre- and post-processing around the PP-OCR DB network (the network itself runs in
//!   `wenzi-nn`): [`db::prepare_input`] builds the tensor, [`db::postprocess`] turns the
//!   probability map into boxes.
//!
//! [`looks_like_single_line`] recognises inputs that are already a single text line.
//!
//! Both detectors return boxes in a simple, deterministic *position* order (see
//! [`sort_by_position`]), not in reading order: columns, tables and vertical text are layout
//! questions, answered by the `wenzi-layout` crate over the boxes of the whole page.

#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod classic;
pub mod db;
pub mod geometry;
mod line;

use std::cmp::Ordering;

pub use line::looks_like_single_line;

/// Re-export of the preprocessing crate (decode, binarize, resize policies).
pub use wenzi_preprocess as preprocess;

/// A detected text region: a quadrilateral in original-image pixel coordinates.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TextBox {
    /// Corners clockwise from the top-left: top-left, top-right, bottom-right, bottom-left.
    pub points: [[f32; 2]; 4],
    /// Detector confidence in `[0, 1]`.
    pub score: f32,
}

impl TextBox {
    /// An axis-aligned box from its left, top, right and bottom edges.
    pub fn from_rect(x0: f32, y0: f32, x1: f32, y1: f32, score: f32) -> Self {
        Self {
            points: [[x0, y0], [x1, y0], [x1, y1], [x0, y1]],
            score,
        }
    }

    /// Axis-aligned bounding box `[x0, y0, x1, y1]`.
    pub fn bounds(&self) -> [f32; 4] {
        let mut b = [
            f32::INFINITY,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::NEG_INFINITY,
        ];
        for p in &self.points {
            b[0] = b[0].min(p[0]);
            b[1] = b[1].min(p[1]);
            b[2] = b[2].max(p[0]);
            b[3] = b[3].max(p[1]);
        }
        b
    }

    /// Length of the top edge (text direction for a horizontal line).
    pub fn width(&self) -> f32 {
        let [a, b, ..] = self.points;
        (b[0] - a[0]).hypot(b[1] - a[1])
    }

    /// Length of the left edge.
    pub fn height(&self) -> f32 {
        let [a, _, _, d] = self.points;
        (d[0] - a[0]).hypot(d[1] - a[1])
    }

    /// Angle of the top edge in degrees, counter-clockwise as displayed (positive = rising to
    /// the right).
    pub fn angle_deg(&self) -> f32 {
        let [a, b, ..] = self.points;
        (-(b[1] - a[1])).atan2(b[0] - a[0]).to_degrees()
    }
}

/// Sorts boxes top to bottom by their top edge (the smallest y of their corners), then left to
/// right by their left edge; remaining ties by every coordinate and the score.
///
/// This is the order both detectors return: deterministic (it depends only on the set of boxes,
/// so the output does not change with how connected regions happened to be enumerated) and
/// cheap, but deliberately layout-free — a two-column page comes out interleaved row by row.
/// Use `wenzi-layout` for reading order. Non-finite coordinates are tolerated.
pub fn sort_by_position(boxes: &mut [TextBox]) {
    boxes.sort_by(position_cmp);
}

fn position_cmp(a: &TextBox, b: &TextBox) -> Ordering {
    // `bounds` skips NaN corners (f32::min/max ignore NaN), and total_cmp orders the rest.
    let (ba, bb) = (a.bounds(), b.bounds());
    ba[1]
        .total_cmp(&bb[1])
        .then(ba[0].total_cmp(&bb[0]))
        .then_with(|| {
            a.points
                .iter()
                .flatten()
                .zip(b.points.iter().flatten())
                .map(|(x, y)| x.total_cmp(y))
                .find(|o| o.is_ne())
                .unwrap_or(Ordering::Equal)
        })
        .then(a.score.total_cmp(&b.score))
}
