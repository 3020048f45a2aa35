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
//! [`sort_reading_order`] orders boxes top-to-bottom, left-to-right, column by column, and
//! [`looks_like_single_line`] recognises inputs that are already a single text line.

#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod classic;
pub mod db;
pub mod geometry;
mod line;
mod order;

pub use line::looks_like_single_line;
pub use order::sort_reading_order;

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
