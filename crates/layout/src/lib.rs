//! Layout analysis and reading order for the wenzi OCR engine.
//!
//! Detection finds text lines; this crate decides how a reader walks through them. Lines are
//! grouped into [`Block`]s (paragraphs, tables, columns of vertical text) and the blocks are put
//! in reading order, from geometry alone:
//!
//! * **Skew.** Photos are rarely square to the page. The dominant text angle (median over the
//!   elongated lines) is rotated out first, so the bounding rectangles of tilted lines do not
//!   overlap their neighbours and hide the structure.
//! * **Columns versus tables.** A recursive XY-cut looks for vertical gutters that no line
//!   crosses. A gutter only separates *columns* when both sides are separate text flows: their
//!   lines are not row-aligned (a side menu beside content), or both sides are comparably wide
//!   prose columns whose lines fill them. Row-aligned cells — tables, agendas (a narrow time
//!   column beside a wide event column), label/value forms, price lists — are read row by row,
//!   because reading all times and then all events loses what belongs together. Rows may be
//!   records: a time centered beside a two-line entry pairs with the entry, not with a line.
//! * **Rows.** Lines are put in the same row when they overlap vertically by half the smaller
//!   height, so a baseline a few pixels off (photos, mixed CJK/digit heights) does not reorder a
//!   row.
//! * **Vertical text.** Lines marked [`Direction::Vertical`] that stand side by side form one
//!   [`BlockKind::Vertical`] block whose columns read right to left, as in traditional CJK
//!   typesetting; the block then takes part in the page layout as a single unit.
//!
//! The result depends only on the set of input lines, never on their order, and garbage input
//! (NaN, infinities, degenerate quads) is tolerated.

#![deny(unsafe_code)]
#![warn(missing_docs)]

mod blocks;
mod cut;
mod geom;

use cut::{Layout, Node};
use geom::Rect;

/// Corners clockwise from the line's own top-left (the start of its text), image pixels.
pub type Quad = [[f32; 2]; 4];

/// How a line's characters run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Direction {
    /// Characters run left to right (Latin text, modern horizontal CJK).
    #[default]
    Horizontal,
    /// A column of upright CJK characters read top to bottom.
    Vertical,
}

/// One detected text line, the unit of layout analysis.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LineBox {
    /// The line's corners in the upright page frame (see [`Quad`]).
    pub quad: Quad,
    /// How the line's characters run.
    pub direction: Direction,
}

impl LineBox {
    /// A horizontal line from its quad.
    pub fn horizontal(quad: Quad) -> Self {
        Self {
            quad,
            direction: Direction::Horizontal,
        }
    }

    /// A vertical line (a column of upright CJK characters) from its quad.
    pub fn vertical(quad: Quad) -> Self {
        Self {
            quad,
            direction: Direction::Vertical,
        }
    }

    /// An axis-aligned horizontal line from its left, top, right and bottom edges.
    pub fn from_rect(x0: f32, y0: f32, x1: f32, y1: f32) -> Self {
        Self::horizontal([[x0, y0], [x1, y0], [x1, y1], [x0, y1]])
    }
}

/// What a block of lines is, which decides how its lines are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(rename_all = "lowercase")
)]
#[non_exhaustive]
pub enum BlockKind {
    /// Running text (or a single line): lines read top to bottom.
    Paragraph,
    /// Cells aligned in rows (tables, forms, agendas, price lists): rows read top to bottom,
    /// each row left to right.
    Table,
    /// Columns of vertical text, read right to left, each column top to bottom.
    Vertical,
}

impl BlockKind {
    /// A short lowercase name: `paragraph`, `table`, `vertical`.
    pub fn as_str(self) -> &'static str {
        match self {
            BlockKind::Paragraph => "paragraph",
            BlockKind::Table => "table",
            BlockKind::Vertical => "vertical",
        }
    }
}

/// A group of lines that a reader takes in one go.
#[derive(Debug, Clone, PartialEq)]
pub struct Block {
    /// What the block is.
    pub kind: BlockKind,
    /// Indices into the input slice, in reading order within the block.
    pub lines: Vec<usize>,
    /// For `Table`: the rows, as ranges into `lines` (each row read left to right). Empty
    /// otherwise.
    pub rows: Vec<std::ops::Range<usize>>,
    /// Axis-aligned bounds `[x0, y0, x1, y1]` of the block's lines.
    pub bounds: [f32; 4],
}

/// Above this many lines the (roughly quadratic) layout analysis is skipped and lines are read
/// as rows, top to bottom, in one block: huge inputs are noise or dense tables, and a bounded
/// running time matters more there than columns.
pub const MAX_LAYOUT_LINES: usize = 3000;

/// Blocks in reading order. Every input index appears in exactly one block.
///
/// Deterministic: the result depends only on the set of lines (identical lines keep their
/// input order among themselves). Non-finite coordinates are treated as 0 or clamped; they
/// never panic.
pub fn analyze(lines: &[LineBox]) -> Vec<Block> {
    if lines.is_empty() {
        return Vec::new();
    }
    // Work on a canonical order so every tie below is broken the same way whatever the input
    // order; `canon[k]` is the input index of canonical line `k`.
    let canon = geom::canonical_order(lines);
    let sorted: Vec<LineBox> = canon.iter().map(|&i| lines[i]).collect();
    let theta = geom::skew_angle(&sorted);
    let rects = geom::deskewed_rects(&sorted, theta);

    let raw = if sorted.len() > MAX_LAYOUT_LINES {
        fallback(&rects)
    } else {
        layout(&sorted, &rects)
    };
    raw.into_iter()
        .map(|b| {
            let lines: Vec<usize> = b.lines.iter().map(|&k| canon[k]).collect();
            let mut r = Rect::EMPTY;
            for &k in &b.lines {
                for p in geom::points(&sorted[k]) {
                    r = r.union(&Rect::point(p));
                }
            }
            Block {
                kind: b.kind,
                lines,
                rows: b.rows,
                bounds: [r.x0 as f32, r.y0 as f32, r.x1 as f32, r.y1 as f32],
            }
        })
        .collect()
}

/// The line indices in reading order (= the blocks' lines concatenated).
pub fn reading_order(lines: &[LineBox]) -> Vec<usize> {
    analyze(lines).into_iter().flat_map(|b| b.lines).collect()
}

/// A block in canonical indices, before mapping back to the caller's.
pub(crate) struct RawBlock {
    pub kind: BlockKind,
    pub lines: Vec<usize>,
    pub rows: Vec<std::ops::Range<usize>>,
}

fn fallback(rects: &[Rect]) -> Vec<RawBlock> {
    let nodes: Vec<Node> = rects
        .iter()
        .enumerate()
        .map(|(i, r)| Node::line(i, *r, false))
        .collect();
    let ids: Vec<usize> = (0..nodes.len()).collect();
    let lines = cut::rows(&nodes, &ids).concat();
    vec![RawBlock {
        kind: BlockKind::Paragraph,
        lines,
        rows: Vec::new(),
    }]
}

fn layout(lines: &[LineBox], rects: &[Rect]) -> Vec<RawBlock> {
    let mut nodes: Vec<Node> = Vec::new();
    let mut vertical: Vec<usize> = Vec::new();
    for (i, (l, r)) in lines.iter().zip(rects).enumerate() {
        match l.direction {
            Direction::Horizontal => nodes.push(Node::line(i, *r, false)),
            Direction::Vertical => vertical.push(i),
        }
    }
    for group in geom::vertical_groups(rects, &vertical) {
        nodes.push(Node::vertical_group(group, rects));
    }
    let ids: Vec<usize> = (0..nodes.len()).collect();
    let rows = Layout { nodes: &nodes }.order(ids, 0);
    blocks::build(&nodes, &rows)
}
