//! From read lines to the page's blocks and reading order.
//!
//! Layout runs in the upright frame: on a page turned 90°, 180° or 270° every line's corners
//! are first mapped as if the image had been turned back, so columns, rows and tables are
//! found the same way on every page. The blocks' bounds are then given in image pixels.

use crate::reading::{to_upright, QuarterTurns, ReadLine};
use crate::{Block, BlockKind, LineOrientation};

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
        let kind = match b.kind {
            wenzi_layout::BlockKind::Table => BlockKind::Table,
            wenzi_layout::BlockKind::Vertical => BlockKind::Vertical,
            _ => BlockKind::Paragraph,
        };
        let bounds = bounds_of(b.lines.iter().map(|&i| &lines[i].quad));
        blocks.push(Block {
            kind,
            lines: start..order.len(),
            rows,
            bounds,
        });
    }
    (order, blocks)
}

fn bounds_of<'a>(quads: impl Iterator<Item = &'a [[f32; 2]; 4]>) -> [f32; 4] {
    let mut b = [
        f32::INFINITY,
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::NEG_INFINITY,
    ];
    for p in quads.flatten() {
        b[0] = b[0].min(p[0]);
        b[1] = b[1].min(p[1]);
        b[2] = b[2].max(p[0]);
        b[3] = b[3].max(p[1]);
    }
    b
}
