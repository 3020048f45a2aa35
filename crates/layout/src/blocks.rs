//! Grouping the rows that the XY-cut put in reading order into blocks.
//!
//! Consecutive rows join one block when a reader would take them in one go:
//!
//! * a **paragraph** continues with a single-line row that follows closely (at most about a
//!   line height of white space), has a similar text height and is not much wider (a full-width
//!   title or footer next to a column line starts its own block);
//! * a **table** starts at a row with two or more cells (separated by a gap of at least
//!   0.8 line heights; narrower gaps are word gaps of one line) and continues while the rows
//!   keep at least one cell gap in common — the table's column gutter — with looser vertical
//!   spacing, since tables and forms are often spaced out. A row with a single cell that stays
//!   inside one table column (an empty cell elsewhere) continues the table too.

use crate::cut::Node;
use crate::geom::{median, Rect};
use crate::{BlockKind, RawBlock};

struct Row {
    r: Rect,
    h: f64,
    /// Gaps between cells, as x intervals.
    gaps: Vec<(f64, f64)>,
    lines: Vec<usize>,
}

impl Row {
    fn multi(&self) -> bool {
        !self.gaps.is_empty()
    }
}

struct Builder {
    rows: Vec<Row>,
    table: bool,
    /// For tables, the cell gaps every multi-cell row so far has in common.
    gaps: Vec<(f64, f64)>,
    bounds: Rect,
    max_w: f64,
}

impl Builder {
    fn new(row: Row) -> Builder {
        Builder {
            table: row.multi(),
            gaps: row.gaps.clone(),
            bounds: row.r,
            max_w: row.r.w(),
            rows: vec![row],
        }
    }

    fn push(&mut self, row: Row) {
        if self.table && row.multi() {
            self.gaps = intersect(&self.gaps, &row.gaps);
        }
        self.bounds = self.bounds.union(&row.r);
        self.max_w = self.max_w.max(row.r.w());
        self.rows.push(row);
    }

    /// Whether `row` continues this block; may turn a one-row table candidate into a paragraph
    /// (a line that happened to be detected as two boxes).
    fn accepts(&mut self, row: &Row) -> bool {
        let Some(last) = self.rows.last() else {
            return false;
        };
        let hh = 0.5 * (last.h + row.h);
        let gap = row.r.y0 - last.r.y1;
        if gap < -0.5 * hh || self.bounds.x_overlap(&row.r) <= 0.0 {
            return false;
        }
        if !self.table {
            return !row.multi() && self.paragraph_continues(row, gap, hh);
        }
        if gap <= 3.0 * hh {
            if row.multi() {
                if !intersect(&self.gaps, &row.gaps).is_empty() {
                    return true;
                }
            } else {
                let tol = 0.25 * hh;
                let inside_a_column = self
                    .gaps
                    .iter()
                    .all(|g| row.r.x1 <= g.0 + tol || row.r.x0 >= g.1 - tol);
                if inside_a_column {
                    return true;
                }
            }
        }
        if self.rows.len() == 1 && !row.multi() && self.paragraph_continues(row, gap, hh) {
            self.table = false;
            self.gaps.clear();
            return true;
        }
        false
    }

    fn paragraph_continues(&self, row: &Row, gap: f64, hh: f64) -> bool {
        let last = &self.rows[self.rows.len() - 1];
        let (lo, hi) = (last.h.min(row.h), last.h.max(row.h));
        if gap > 1.0 * hh || hi > 1.35 * lo {
            return false;
        }
        let w = row.r.w();
        if self.rows.len() == 1 {
            let first = last.r.w();
            w <= 1.3 * first + hh && first <= 1.3 * w + hh
        } else {
            w <= 1.3 * self.max_w + hh
        }
    }

    fn finish(mut self, out: &mut Vec<RawBlock>) {
        if self.table {
            let mut keep = self.rows.iter().rposition(Row::multi).map_or(0, |p| p + 1);
            // Single-cell rows after the last full row stay if they follow tightly (the second
            // line of the last cell); looser ones are text after the table.
            while keep > 0 && keep < self.rows.len() {
                let (prev, row) = (&self.rows[keep - 1], &self.rows[keep]);
                if row.r.y0 - prev.r.y1 > 0.6 * prev.h.min(row.h) {
                    break;
                }
                keep += 1;
            }
            if keep >= 2 {
                let tail = self.rows.split_off(keep);
                let mut lines = Vec::new();
                let mut ranges = Vec::new();
                for row in self.rows {
                    let start = lines.len();
                    lines.extend(row.lines);
                    ranges.push(start..lines.len());
                }
                out.push(RawBlock {
                    kind: BlockKind::Table,
                    lines,
                    rows: ranges,
                });
                if !tail.is_empty() {
                    out.push(paragraph(tail));
                }
                return;
            }
        }
        out.push(paragraph(self.rows));
    }
}

fn paragraph(rows: Vec<Row>) -> RawBlock {
    RawBlock {
        kind: BlockKind::Paragraph,
        lines: rows.into_iter().flat_map(|r| r.lines).collect(),
        rows: Vec::new(),
    }
}

/// Pairwise overlaps of two sets of x intervals.
fn intersect(a: &[(f64, f64)], b: &[(f64, f64)]) -> Vec<(f64, f64)> {
    let mut out = Vec::new();
    for x in a {
        for y in b {
            let (lo, hi) = (x.0.max(y.0), x.1.min(y.1));
            if hi > lo {
                out.push((lo, hi));
            }
        }
    }
    out
}

/// Blocks from node rows already in reading order.
pub(crate) fn build(nodes: &[Node], rows: &[Vec<usize>]) -> Vec<RawBlock> {
    let mut out = Vec::new();
    let mut cur: Option<Builder> = None;
    for row in rows {
        if let [only] = row.as_slice() {
            if nodes[*only].vertical {
                if let Some(b) = cur.take() {
                    b.finish(&mut out);
                }
                out.push(RawBlock {
                    kind: BlockKind::Vertical,
                    lines: nodes[*only].members.clone(),
                    rows: Vec::new(),
                });
                continue;
            }
        }
        let row = make_row(nodes, row);
        let continues = cur.as_mut().is_some_and(|b| b.accepts(&row));
        if continues {
            if let Some(b) = cur.as_mut() {
                b.push(row);
            }
        } else {
            if let Some(b) = cur.take() {
                b.finish(&mut out);
            }
            cur = Some(Builder::new(row));
        }
    }
    if let Some(b) = cur.take() {
        b.finish(&mut out);
    }
    out
}

fn make_row(nodes: &[Node], ids: &[usize]) -> Row {
    let r = ids
        .iter()
        .fold(Rect::EMPTY, |acc, &i| acc.union(&nodes[i].r));
    let h = median(ids.iter().map(|&i| nodes[i].r.h()).collect());
    let mut gaps = Vec::new();
    let mut end = f64::NEG_INFINITY;
    for &i in ids {
        let n = &nodes[i].r;
        if end.is_finite() && n.x0 - end >= 0.8 * h {
            gaps.push((end, n.x0));
        }
        end = end.max(n.x1);
    }
    Row {
        r,
        h,
        gaps,
        lines: ids
            .iter()
            .flat_map(|&i| nodes[i].members.iter().copied())
            .collect(),
    }
}
