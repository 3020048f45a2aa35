//! Reading each detected box the right way up, and the page's orientation.
//!
//! A box can hold a horizontal line (upright, or turned 90°/180°/270° with the page) or a
//! vertical column of upright CJK characters. One aspect rule cannot tell these apart, so a
//! box is read in each plausible orientation and the reading with the higher confidence wins:
//!
//! * a wide box: upright; also turned 180° when the cls network flags it;
//! * a tall box: as a line turned 90° (and 270° when cls flags that), and as a vertical column
//!   cut into character cells laid side by side ([`wenzi_recognize::column_to_line`]).
//!
//! The lines then vote, weighted by characters read, on how the whole page is turned. On a
//! turned page, lines whose own reading disagrees (a lone square character, a short word) are
//! read again in the page's orientation, and layout runs in the upright frame.

use image::RgbImage;
use wenzi_detect::TextBox;
use wenzi_recognize::{column_to_line, crop_quad, Decoded, OrientationClassifier, Recognizer};

use crate::{Error, LineOrientation, Timings};

/// Largest crop height (across the text) handed to the recognizer before its own resize to 48
/// rows; taller crops are scaled while warping, so a huge box never makes a huge image.
const MAX_CROP_HEIGHT: u32 = 2 * wenzi_recognize::LINE_HEIGHT;

/// A box is tall (a column, or a line turned 90°) when its side along y is this many times
/// its side along x.
const TALL: f32 = 1.5;

/// Share of the page's reading weight a rotation needs before the page counts as turned.
const PAGE_MAJORITY: f32 = 0.6;

/// One box, read.
#[derive(Debug, Clone)]
pub(crate) struct ReadLine {
    pub decoded: Decoded,
    pub orientation: LineOrientation,
    /// Corners clockwise from the text's own top-left, in image pixels.
    pub quad: [[f32; 2]; 4],
}

/// Clockwise rotation of the page content, in quarter turns (0..4).
pub(crate) type QuarterTurns = u8;

/// The corners of `points` (image order: top-left, top-right, bottom-right, bottom-left)
/// listed from the top-left of text that is turned `turns` quarter turns clockwise.
pub(crate) fn text_quad(points: &[[f32; 2]; 4], turns: QuarterTurns) -> [[f32; 2]; 4] {
    let mut q = *points;
    q.rotate_left(usize::from(turns % 4));
    q
}

/// Maps a point of a `w × h` image whose content is turned `turns` quarter turns clockwise
/// into the upright frame (the image turned back).
pub(crate) fn to_upright(p: [f32; 2], turns: QuarterTurns, w: f32, h: f32) -> [f32; 2] {
    match turns % 4 {
        1 => [p[1], w - p[0]],
        2 => [w - p[0], h - p[1]],
        3 => [h - p[1], p[0]],
        _ => p,
    }
}

impl LineOrientation {
    /// Quarter turns the page would be turned for this line to be upright (a vertical column
    /// is upright).
    fn page_turns(self) -> QuarterTurns {
        match self {
            LineOrientation::Upright | LineOrientation::Vertical => 0,
            LineOrientation::Rotated90 => 1,
            LineOrientation::Rotated180 => 2,
            LineOrientation::Rotated270 => 3,
        }
    }

    fn from_turns(turns: QuarterTurns) -> Self {
        match turns % 4 {
            1 => LineOrientation::Rotated90,
            2 => LineOrientation::Rotated180,
            3 => LineOrientation::Rotated270,
            _ => LineOrientation::Upright,
        }
    }
}

struct Candidate {
    line: usize,
    orientation: LineOrientation,
    image: RgbImage,
}

/// Reads every box in its best orientation; returns the lines (same order as `boxes`; a box
/// that cannot be cropped is left out) and the page's quarter turns.
pub(crate) fn read_boxes(
    image: &RgbImage,
    boxes: &[TextBox],
    rec: &Recognizer,
    cls: Option<&OrientationClassifier>,
    timings: &mut Timings,
) -> Result<(Vec<ReadLine>, QuarterTurns), Error> {
    let crop = |points: &[[f32; 2]; 4], turns: QuarterTurns| {
        crop_quad(image, &text_quad(points, turns), MAX_CROP_HEIGHT)
    };
    let t = std::time::Instant::now();
    // First reading of each box: upright for wide boxes, a line turned 90° for tall ones.
    let mut candidates: Vec<Candidate> = Vec::with_capacity(boxes.len() * 2);
    for (i, b) in boxes.iter().enumerate() {
        let tall = b.height() > TALL * b.width();
        let turns = if tall { 1 } else { 0 };
        if let Some(img) = crop(&b.points, turns) {
            candidates.push(Candidate {
                line: i,
                orientation: LineOrientation::from_turns(turns),
                image: img,
            });
        }
    }
    // The classifier alone flips too eagerly (clean upright Latin lines sometimes score
    // "180°" above its threshold), so a flagged line is read both ways and the reading with
    // the higher confidence wins.
    let mut extra: Vec<Candidate> = Vec::new();
    if let Some(cls) = cls {
        let images: Vec<RgbImage> = candidates.iter().map(|c| c.image.clone()).collect();
        for (c, o) in candidates.iter().zip(cls.classify(&images)?) {
            if o.upside_down {
                let turns = c.orientation.page_turns() + 2;
                if let Some(img) = crop(&boxes[c.line].points, turns) {
                    extra.push(Candidate {
                        line: c.line,
                        orientation: LineOrientation::from_turns(turns),
                        image: img,
                    });
                }
            }
        }
    }
    timings.classify += t.elapsed();
    // Tall boxes may be vertical columns of upright characters.
    for c in &candidates {
        let b = &boxes[c.line];
        if c.orientation != LineOrientation::Rotated90 {
            continue;
        }
        let cap = (MAX_CROP_HEIGHT as f32 * b.height() / b.width().max(1.0))
            .min(wenzi_recognize::MAX_CROP_SIDE as f32) as u32;
        if let Some(line) = crop_quad(image, &b.points, cap).and_then(|c| column_to_line(&c)) {
            extra.push(Candidate {
                line: c.line,
                orientation: LineOrientation::Vertical,
                image: line,
            });
        }
    }
    candidates.extend(extra);

    let t = std::time::Instant::now();
    let images: Vec<RgbImage> = candidates.iter().map(|c| c.image.clone()).collect();
    let decoded = rec.recognize(&images)?;
    let mut best: Vec<Option<(Decoded, LineOrientation)>> = vec![None; boxes.len()];
    for (c, d) in candidates.iter().zip(decoded) {
        let slot = &mut best[c.line];
        let better = match slot {
            Some((b, _)) => d.confidence > b.confidence,
            None => true,
        };
        if better {
            *slot = Some((d, c.orientation));
        }
    }

    let turns = page_turns(&best);
    if turns != 0 {
        // Lines that disagree with a turned page are read again its way; the page's reading
        // wins unless the line's own is clearly better.
        let page_orientation = LineOrientation::from_turns(turns);
        let again: Vec<(usize, RgbImage)> = best
            .iter()
            .enumerate()
            .filter_map(|(i, r)| {
                let (_, o) = r.as_ref()?;
                (*o != page_orientation)
                    .then(|| crop(&boxes[i].points, turns).map(|img| (i, img)))
                    .flatten()
            })
            .collect();
        let images: Vec<RgbImage> = again.iter().map(|(_, img)| img.clone()).collect();
        for ((i, _), d) in again.iter().zip(rec.recognize(&images)?) {
            if let Some((own, o)) = &mut best[*i] {
                if d.confidence + 0.1 >= own.confidence {
                    *own = d;
                    *o = page_orientation;
                }
            }
        }
    }
    timings.recognize += t.elapsed();

    let lines = best
        .into_iter()
        .enumerate()
        .filter_map(|(i, r)| {
            let (decoded, orientation) = r?;
            let quad = match orientation {
                LineOrientation::Vertical => boxes[i].points,
                o => text_quad(&boxes[i].points, o.page_turns()),
            };
            Some(ReadLine {
                decoded,
                orientation,
                quad,
            })
        })
        .collect();
    Ok((lines, turns))
}

/// The page's quarter turns: the rotation that most of the read characters agree on, if a
/// clear majority does; otherwise upright.
fn page_turns(best: &[Option<(Decoded, LineOrientation)>]) -> QuarterTurns {
    let mut weight = [0f32; 4];
    for (d, o) in best.iter().flatten() {
        let chars = d.text.chars().filter(|c| !c.is_whitespace()).count() as f32;
        weight[usize::from(o.page_turns())] += chars * d.confidence;
    }
    let total: f32 = weight.iter().sum();
    let (turns, w) = weight
        .iter()
        .enumerate()
        .skip(1)
        .max_by(|a, b| a.1.total_cmp(b.1))
        .map(|(i, &w)| (i as QuarterTurns, w))
        .unwrap_or((0, 0.0));
    if total > 0.0 && w >= PAGE_MAJORITY * total {
        turns
    } else {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upright_frame_maps_corners_of_turned_pages() {
        let (w, h) = (200.0, 100.0);
        // Content turned 90° clockwise: the image's top-right corner is the text's top-left.
        assert_eq!(to_upright([200.0, 0.0], 1, w, h), [0.0, 0.0]);
        assert_eq!(to_upright([0.0, 100.0], 1, w, h), [100.0, 200.0]);
        assert_eq!(to_upright([0.0, 0.0], 2, w, h), [200.0, 100.0]);
        assert_eq!(to_upright([0.0, 100.0], 3, w, h), [0.0, 0.0]);
        for turns in 0..4 {
            assert_eq!(to_upright([10.0, 20.0], turns, w, h).len(), 2);
        }
    }

    #[test]
    fn text_quad_starts_at_the_texts_top_left() {
        let q = [[0.0, 0.0], [10.0, 0.0], [10.0, 50.0], [0.0, 50.0]];
        assert_eq!(text_quad(&q, 0), q);
        // Turned 90° clockwise: text runs down, glyph tops face right.
        assert_eq!(text_quad(&q, 1)[0], [10.0, 0.0]);
        assert_eq!(text_quad(&q, 2)[0], [10.0, 50.0]);
        assert_eq!(text_quad(&q, 3)[0], [0.0, 50.0]);
    }

    fn read(text: &str, o: LineOrientation) -> Option<(Decoded, LineOrientation)> {
        Some((
            Decoded {
                text: text.into(),
                confidence: 0.9,
            },
            o,
        ))
    }

    #[test]
    fn page_turns_follow_a_clear_majority_only() {
        use LineOrientation::*;
        let turned = vec![
            read("一二三四五六", Rotated90),
            read("七八九十", Rotated90),
            read("A", Upright),
        ];
        assert_eq!(page_turns(&turned), 1);
        let mixed = vec![read("标题标题", Upright), read("竖排文字竖排", Vertical)];
        assert_eq!(page_turns(&mixed), 0);
        let split = vec![read("abcd", Rotated180), read("efgh", Upright)];
        assert_eq!(page_turns(&split), 0);
        assert_eq!(page_turns(&[None]), 0);
    }
}
