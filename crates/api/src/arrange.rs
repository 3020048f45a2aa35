//! From read lines to the page's blocks and reading order.
//!
//! Layout runs in the upright frame: on a page turned 90°, 180° or 270° every line's corners
//! are first mapped as if the image had been turned back, so columns, rows and tables are
//! found the same way on every page. The blocks' bounds are then given in image pixels.

use crate::page::points_bounds;
use crate::reading::{to_upright, QuarterTurns, ReadLine};
use crate::{Block, LineOrientation};

/// Reading order and blocks: returns the permutation of `lines` in reading order and the
/// blocks as ranges of that order.
pub(crate) fn arrange(
    lines: &[ReadLine],
    turns: QuarterTurns,
    width: u32,
    height: u32,
) -> (Vec<usize>, Vec<Block>) {
    let (w, h) = (width as f32, height as f32);
    let boxes: Vec<wenzi_layout::LineBox> = lines
        .iter()
        .map(|l| {
            let quad = l.quad.map(|p| to_upright(p, turns, w, h));
            let direction = if l.orientation == LineOrientation::Vertical {
                wenzi_layout::Direction::Vertical
            } else {
                wenzi_layout::Direction::Horizontal
            };
            wenzi_layout::LineBox { quad, direction }
        })
        .collect();
    let mut order = Vec::with_capacity(lines.len());
    let mut blocks = Vec::new();
    for b in wenzi_layout::analyze(&boxes) {
        let start = order.len();
        order.extend_from_slice(&b.lines);
        let rows = b
            .rows
            .iter()
            .map(|r| start + r.start..start + r.end)
            .collect();
        let bounds = points_bounds(b.lines.iter().flat_map(|&i| &lines[i].quad));
        blocks.push(Block {
            kind: b.kind,
            lines: start..order.len(),
            rows,
            bounds,
        });
    }
    (order, blocks)
}
