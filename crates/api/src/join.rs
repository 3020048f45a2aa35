//! Joining a line the detector split in two.
//!
//! The DB detector sometimes cuts one line of text into two boxes side by side: at a
//! change of font size (`168` + a smaller `元`), at a comma, or before the last character
//! of a CJK line. Each part is read correctly, but the line comes out as two. Between CJK
//! characters there are no word spaces, so two horizontal lines that sit on one row, are
//! about as tall, and are separated by less than [`MAX_GAP`] of their height where the text
//! on at least one side of the gap is CJK, are one line. Latin words and numbers (table
//! cells of figures sit that close) are never joined: a narrow gap between them is a word
//! space or a column gutter.

use crate::reading::ReadLine;
use crate::LineOrientation;
use wenzi_recognize::{CharSpan, Decoded};

/// Widest gap joined, as a share of the shorter line's height. A split CJK line's parts
/// were 0–0.3 heights apart on the real set; separate cells and fields sit 0.6 and more.
const MAX_GAP: f32 = 0.4;
/// Least vertical overlap of the two lines, as a share of the shorter one's height.
const MIN_OVERLAP: f32 = 0.7;
/// Least ratio of the shorter line's height to the taller one's.
const MIN_HEIGHT_RATIO: f32 = 0.6;

/// Joins every pair of horizontal lines that are one line split by the detector (see the
/// module doc), so a line split three ways becomes one. Order is not kept: reading order is
/// found afterwards.
///
/// Each line in turn takes in its nearest right neighbour while it has one: `O(n²)` checks
/// in all, not `O(n²)` per join (a page may hold 2,000 lines). A join keeps the left line's
/// left edge, height and first character, so a line passed earlier, which had no right
/// neighbour, faces the same gap, height and character as before.
pub(crate) fn join_split_lines(mut lines: Vec<ReadLine>) -> Vec<ReadLine> {
    let mut a = 0;
    while a < lines.len() {
        let right = (0..lines.len())
            .filter(|&b| b != a)
            .filter_map(|b| gap_if_split(&lines[a], &lines[b]).map(|g| (g, b)))
            .min_by(|x, y| x.0.total_cmp(&y.0))
            .map(|(_, b)| b);
        let Some(b) = right else {
            a += 1;
            continue;
        };
        // (order kept, so the lines not yet passed stay after `a`)
        let right = lines.remove(b);
        if b < a {
            a -= 1;
        }
        lines[a] = joined(&lines[a], &right);
    }
    lines
}

/// The frame of a horizontal line's text: origin at its top-left corner, unit vectors
/// along the text and down it, and its length and height.
struct Frame {
    origin: [f32; 2],
    along: [f32; 2],
    down: [f32; 2],
    length: f32,
    height: f32,
}

impl Frame {
    fn of(line: &ReadLine) -> Option<Frame> {
        let [tl, tr, _, bl] = line.quad;
        let (ax, ay) = (tr[0] - tl[0], tr[1] - tl[1]);
        let length = ax.hypot(ay);
        let height = (bl[0] - tl[0]).hypot(bl[1] - tl[1]);
        (length > 0.0 && height > 0.0).then(|| Frame {
            origin: tl,
            along: [ax / length, ay / length],
            down: [-ay / length, ax / length],
            length,
            height,
        })
    }

    /// `p` in this frame: (along the text, down from its top).
    fn local(&self, p: [f32; 2]) -> (f32, f32) {
        let (dx, dy) = (p[0] - self.origin[0], p[1] - self.origin[1]);
        (
            dx * self.along[0] + dy * self.along[1],
            dx * self.down[0] + dy * self.down[1],
        )
    }
}

/// When `right` continues `left` on its row as the other part of a split line: the gap
/// between them, in heights of the shorter one.
fn gap_if_split(left: &ReadLine, right: &ReadLine) -> Option<f32> {
    let horizontal = |l: &ReadLine| l.orientation != LineOrientation::Vertical;
    if left.orientation != right.orientation || !horizontal(left) {
        return None;
    }
    let (last, first) = (
        left.decoded.text.trim_end().chars().next_back()?,
        right.decoded.text.trim_start().chars().next()?,
    );
    if !(crate::words::is_cjk(last) || crate::words::is_cjk(first)) {
        return None;
    }
    let (fa, fb) = (Frame::of(left)?, Frame::of(right)?);
    let h = fa.height.min(fb.height);
    if h < MIN_HEIGHT_RATIO * fa.height.max(fb.height) {
        return None;
    }
    // The right line's corners in the left line's frame.
    let corners = right.quad.map(|p| fa.local(p));
    let x0 = corners[0].0.min(corners[3].0);
    let (y0, y1) = (
        corners.iter().map(|c| c.1).fold(f32::INFINITY, f32::min),
        corners
            .iter()
            .map(|c| c.1)
            .fold(f32::NEG_INFINITY, f32::max),
    );
    let overlap = y1.min(fa.height) - y0.max(0.0);
    let gap = (x0 - fa.length) / h;
    // (a small overlap of the boxes is a touching split too; more is not a neighbour)
    (overlap >= MIN_OVERLAP * h && (-0.25..=MAX_GAP).contains(&gap)).then_some(gap)
}

/// One line from `left` and the `right` line that continues it: corners from both, the
/// texts run together, characters placed along the joined line, the mean confidence of all
/// characters.
fn joined(left: &ReadLine, right: &ReadLine) -> ReadLine {
    let frame = Frame::of(left).expect("checked by gap_if_split");
    let [tl, _, _, bl] = left.quad;
    let [_, tr, br, _] = right.quad;
    let end = frame.local(tr).0.max(frame.local(br).0).max(frame.length);
    let start_b = frame.local(right.quad[0]).0;
    let len_b = Frame::of(right).map_or(0.0, |f| f.length);
    let place = |c: &CharSpan, offset: f32, len: f32| CharSpan {
        start: ((offset + c.start * len) / end).clamp(0.0, 1.0),
        end: ((offset + c.end * len) / end).clamp(0.0, 1.0),
        ..c.clone()
    };
    let (na, nb) = (left.decoded.chars.len(), right.decoded.chars.len());
    let confidence = if na + nb == 0 {
        0.0
    } else {
        (left.decoded.confidence * na as f32 + right.decoded.confidence * nb as f32)
            / (na + nb) as f32
    };
    let chars = left
        .decoded
        .chars
        .iter()
        .map(|c| place(c, 0.0, frame.length))
        .chain(right.decoded.chars.iter().map(|c| place(c, start_b, len_b)))
        .collect();
    ReadLine {
        decoded: Decoded {
            text: format!(
                "{}{}",
                left.decoded.text.trim_end(),
                right.decoded.text.trim_start()
            ),
            confidence,
            chars,
        },
        orientation: left.orientation,
        quad: [tl, tr, br, bl],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(text: &str, x0: f32, x1: f32, y0: f32, y1: f32) -> ReadLine {
        ReadLine {
            decoded: crate::words::tests::decoded(text),
            orientation: LineOrientation::Upright,
            quad: [[x0, y0], [x1, y0], [x1, y1], [x0, y1]],
        }
    }

    fn texts(lines: &[ReadLine]) -> Vec<String> {
        let mut t: Vec<String> = lines.iter().map(|l| l.decoded.text.clone()).collect();
        t.sort();
        t
    }

    #[test]
    fn a_cjk_line_split_before_its_last_character_is_joined() {
        // 40 px tall; the last character 12 px (0.3 heights) to the right.
        let lines = vec![
            line("留", 412.0, 452.0, 101.0, 141.0),
            line("是因为不坚持不努力不挽", 0.0, 400.0, 100.0, 140.0),
        ];
        let out = join_split_lines(lines);
        assert_eq!(texts(&out), ["是因为不坚持不努力不挽留"]);
        let l = &out[0];
        assert_eq!(l.quad[0], [0.0, 100.0]);
        assert_eq!(l.quad[1], [452.0, 101.0]);
        // Characters placed along the joined line: the last one near its end.
        let last = l.decoded.chars.last().unwrap();
        assert!(last.start > 0.9 && last.end <= 1.0, "{last:?}");
        assert!(l.decoded.chars[0].start < 0.01);
    }

    #[test]
    fn a_price_and_its_smaller_unit_touching_are_joined() {
        let lines = vec![
            line("168", 0.0, 120.0, 0.0, 86.0),
            line("元", 117.0, 170.0, 20.0, 82.0),
        ];
        assert_eq!(texts(&join_split_lines(lines)), ["168元"]);
    }

    #[test]
    fn figures_cells_and_distant_fields_stay_apart() {
        let lines = vec![
            // Table figures 0.3 heights apart: Latin/digits on both sides.
            line("240,000,000", 0.0, 110.0, 0.0, 14.0),
            line("6.6441%", 114.0, 170.0, 0.0, 14.0),
            // CJK fields a whole character apart.
            line("期末持股数量", 0.0, 90.0, 40.0, 55.0),
            line("比例", 102.0, 132.0, 40.0, 55.0),
            // CJK lines close but on different rows.
            line("第一行文字", 0.0, 100.0, 80.0, 100.0),
            line("第二行文字", 104.0, 204.0, 95.0, 115.0),
            // A tall title beside small text.
            line("标题", 0.0, 100.0, 130.0, 180.0),
            line("小字", 105.0, 125.0, 150.0, 160.0),
        ];
        assert_eq!(join_split_lines(lines.clone()).len(), lines.len());
    }

    #[test]
    fn vertical_columns_are_left_alone() {
        let mut a = line("竖排", 0.0, 40.0, 0.0, 20.0);
        let mut b = line("文字", 44.0, 84.0, 0.0, 20.0);
        a.orientation = LineOrientation::Vertical;
        b.orientation = LineOrientation::Vertical;
        assert_eq!(join_split_lines(vec![a, b]).len(), 2);
    }

    #[test]
    fn many_rows_of_split_lines_each_become_one_line() {
        // Rows listed right part first, so joins also remove lines before the one joining.
        let mut lines = Vec::new();
        for row in 0..300 {
            let y = row as f32 * 60.0;
            lines.push(line("留", 412.0, 452.0, y, y + 40.0));
            lines.push(line("不挽", 0.0, 400.0, y, y + 40.0));
        }
        let out = join_split_lines(lines);
        assert_eq!(out.len(), 300);
        assert!(out.iter().all(|l| l.decoded.text == "不挽留"));
    }

    #[test]
    fn a_line_split_three_ways_becomes_one() {
        let lines = vec![
            line("登机口", 0.0, 72.0, 0.0, 24.0),
            line("GATE", 78.0, 140.0, 0.0, 24.0),
            line("号", -30.0, -6.0, 0.0, 24.0),
        ];
        assert_eq!(texts(&join_split_lines(lines)), ["号登机口GATE"]);
    }
}
