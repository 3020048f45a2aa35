//! Recursive XY-cut over layout nodes, producing text rows in reading order.
//!
//! Plain XY-cut and "sort by y, then x" both get two things wrong, handled here:
//!
//! * **Columns versus tables.** A vertical gap that no node crosses is only a column gutter if
//!   the two sides really are separate text flows (see [`Layout::column_split`]). Row-aligned
//!   cells are read row by row instead.
//! * **Paragraph breaks inside columns.** Horizontal cuts are tried after column cuts, and
//!   consecutive horizontal strips are merged back together while their union still has a
//!   column gutter, so a paragraph break that happens to line up across both columns does not
//!   make the reader hop between columns.

use crate::geom::{median, Rect};

const MAX_DEPTH: usize = 64;

/// A unit of the page layout: one horizontal line, or a whole group of vertical columns (which
/// is read as one piece and never split or merged into rows with other nodes).
#[derive(Debug, Clone)]
pub(crate) struct Node {
    pub r: Rect,
    pub vertical: bool,
    /// Text size across the reading direction: line height, or vertical column width.
    pub thick: f64,
    /// Canonical line indices, in reading order.
    pub members: Vec<usize>,
}

impl Node {
    pub fn line(id: usize, r: Rect, vertical: bool) -> Node {
        Node {
            r,
            vertical,
            thick: if vertical { r.w() } else { r.h() },
            members: vec![id],
        }
    }

    pub fn vertical_group(members: Vec<usize>, rects: &[Rect]) -> Node {
        let r = members
            .iter()
            .fold(Rect::EMPTY, |acc, &i| acc.union(&rects[i]));
        let thick = median(members.iter().map(|&i| rects[i].w()).collect());
        Node {
            r,
            vertical: true,
            thick,
            members,
        }
    }

    /// Same text row: mostly overlapping vertically and of similar height.
    fn aligned(&self, o: &Node) -> bool {
        if self.vertical || o.vertical {
            return false;
        }
        let (lo, hi) = (self.r.h().min(o.r.h()), self.r.h().max(o.r.h()));
        // CJK cells are ~1.4x as tall as digit-only cells in the same row.
        self.r.y_overlap(&o.r) >= 0.6 * lo && hi <= 2.0 * lo
    }
}

/// Groups nodes into text rows (by vertical overlap), top to bottom, each row left to right.
/// Vertical groups always form a row of their own.
pub(crate) fn rows(nodes: &[Node], ids: &[usize]) -> Vec<Vec<usize>> {
    let mut sorted = ids.to_vec();
    sorted.sort_by(|&a, &b| {
        let (ra, rb) = (&nodes[a].r, &nodes[b].r);
        ra.cy()
            .total_cmp(&rb.cy())
            .then(ra.x0.total_cmp(&rb.x0))
            .then(a.cmp(&b))
    });
    let mut out: Vec<(Rect, bool, Vec<usize>)> = Vec::new();
    for id in sorted {
        let n = &nodes[id];
        let found = if n.vertical {
            None
        } else {
            // Look back a few rows only: rows are created top to bottom.
            out.iter_mut()
                .rev()
                .filter(|(_, vertical, _)| !vertical)
                .take(8)
                .find(|(range, _, _)| n.r.y_overlap(range) >= 0.5 * n.r.h().min(range.h()))
        };
        match found {
            Some((range, _, members)) => {
                *range = range.union(&n.r);
                members.push(id);
            }
            None => out.push((n.r, n.vertical, vec![id])),
        }
    }
    out.into_iter()
        .map(|(_, _, mut members)| {
            members.sort_by(|&a, &b| {
                nodes[a]
                    .r
                    .x0
                    .total_cmp(&nodes[b].r.x0)
                    .then(nodes[a].r.y0.total_cmp(&nodes[b].r.y0))
                    .then(a.cmp(&b))
            });
            members
        })
        .collect()
}

pub(crate) struct Layout<'a> {
    pub nodes: &'a [Node],
}

impl Layout<'_> {
    /// The rows of `ids` in reading order.
    pub fn order(&self, ids: Vec<usize>, depth: usize) -> Vec<Vec<usize>> {
        if ids.len() <= 1 {
            return if ids.is_empty() {
                Vec::new()
            } else {
                vec![ids]
            };
        }
        if depth > MAX_DEPTH {
            return rows(self.nodes, &ids);
        }
        if let Some((left, right)) = self.column_cut(&ids) {
            let all_vertical = |s: &[usize]| s.iter().all(|&i| self.nodes[i].vertical);
            // Blocks of vertical text sit right to left like their columns.
            let (first, second) = if all_vertical(&left) && all_vertical(&right) {
                (right, left)
            } else {
                (left, right)
            };
            let mut out = self.order(first, depth + 1);
            out.extend(self.order(second, depth + 1));
            return out;
        }
        let pieces = self.horizontal_pieces(&ids);
        if pieces.len() <= 1 {
            return self.strip_rows(&ids);
        }
        // Merge consecutive strips while their union still has a column gutter.
        let mut groups: Vec<Vec<usize>> = Vec::new();
        let mut cur: Vec<usize> = Vec::new();
        for piece in pieces {
            if cur.is_empty() {
                cur = piece;
                continue;
            }
            let mut union = cur.clone();
            union.extend_from_slice(&piece);
            if self.column_cut(&union).is_some() {
                cur = union;
            } else {
                groups.push(std::mem::replace(&mut cur, piece));
            }
        }
        groups.push(cur);
        if groups.len() == 1 {
            return rows(self.nodes, &ids);
        }
        groups
            .into_iter()
            .flat_map(|g| self.order(g, depth + 1))
            .collect()
    }

    /// The rows of a strip that no horizontal gap divides. Usually these are plain text rows,
    /// but when a single cell on one side of a gutter spans several rows of the other side (a
    /// time centered beside a two-line agenda entry, a label beside a multi-line value), the
    /// strip is one record read cell by cell: that cell, then the other side's lines.
    fn strip_rows(&self, ids: &[usize]) -> Vec<Vec<usize>> {
        let plain = rows(self.nodes, ids);
        if plain.len() < 2 || ids.iter().any(|&i| self.nodes[i].vertical) {
            return plain;
        }
        let Some((gap, _)) = self.gaps(ids).into_iter().next() else {
            return plain;
        };
        let (left, right): (Vec<usize>, Vec<usize>) =
            ids.iter().partition(|&&i| self.nodes[i].r.x1 <= gap);
        if left.is_empty() || right.is_empty() || (left.len() > 1 && right.len() > 1) {
            return plain;
        }
        let mut record = rows(self.nodes, &left).concat();
        record.extend(rows(self.nodes, &right).concat());
        vec![record]
    }

    /// Vertical gaps that no node crosses, at least 0.8 text sizes wide, widest first, as
    /// (left edge, right edge).
    fn gaps(&self, ids: &[usize]) -> Vec<(f64, f64)> {
        let med = median(ids.iter().map(|&i| self.nodes[i].thick).collect());
        let mut spans: Vec<(f64, f64)> = ids
            .iter()
            .map(|&i| (self.nodes[i].r.x0, self.nodes[i].r.x1))
            .collect();
        spans.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
        let mut gaps: Vec<(f64, f64)> = Vec::new();
        let mut end = f64::NEG_INFINITY;
        for (x0, x1) in spans {
            if end.is_finite() && x0 > end && x0 - end >= 0.8 * med {
                gaps.push((end, x0));
            }
            end = end.max(x1);
        }
        gaps.sort_by(|a, b| {
            (b.1 - b.0)
                .total_cmp(&(a.1 - a.0))
                .then(a.0.total_cmp(&b.0))
        });
        gaps
    }

    /// Splits at the widest vertical gap that is a genuine column gutter, if any.
    fn column_cut(&self, ids: &[usize]) -> Option<(Vec<usize>, Vec<usize>)> {
        self.gaps(ids)
            .into_iter()
            .find_map(|g| self.column_split(ids, g))
    }

    /// Whether the gap `gap` separates two text flows (columns) rather than the cells of rows.
    fn column_split(&self, ids: &[usize], gap: (f64, f64)) -> Option<(Vec<usize>, Vec<usize>)> {
        let nodes = self.nodes;
        let mid = (gap.0 + gap.1) / 2.0;
        let (left, right): (Vec<usize>, Vec<usize>) =
            ids.iter().partition(|&&i| nodes[i].r.cx() < mid);
        let all_vertical = |s: &[usize]| !s.is_empty() && s.iter().all(|&i| nodes[i].vertical);
        let (lv, rv) = (all_vertical(&left), all_vertical(&right));
        // A single line beside something is a row cell, but a vertical block is a flow of its
        // own.
        if (left.len() < 2 && !lv)
            || (right.len() < 2 && !rv)
            || left.is_empty()
            || right.is_empty()
        {
            return None;
        }
        let span = |side: &[usize]| {
            side.iter()
                .fold(Rect::EMPTY, |acc, &i| acc.union(&nodes[i].r))
        };
        let (ls, rs) = (span(&left), span(&right));
        if ls.y_overlap(&rs) < 0.5 * ls.h().min(rs.h()) {
            return None; // one side is above the other, not beside it
        }
        if lv || rv {
            return Some((left, right));
        }
        // Lines of the two sides must run side by side, not take turns (chat bubbles).
        let interleaved = beside(nodes, &left, &right) + beside(nodes, &right, &left);
        if (interleaved as f64) < 0.3 * ids.len() as f64 {
            return None;
        }
        let (small, large) = if left.len() <= right.len() {
            (&left, &right)
        } else {
            (&right, &left)
        };
        let aligned = aligned_count(nodes, small, large) as f64 / small.len() as f64;
        // Two prose columns (possibly on a shared baseline grid): both sides are wide, their
        // lines fill them, they are set tight and of comparable width. An agenda's time column,
        // a form's labels or a price column fail at least one of these. When every line has a
        // partner on its row, the sides must be wider still to count as prose: short paired
        // lines are cells far more often than narrow columns.
        let min_width = if aligned >= 0.9 { 12.0 } else { 8.0 };
        let gutter = gap.1 - gap.0;
        if let (Some(a), Some(b)) = (
            self.flow_width(&left, gutter, min_width),
            self.flow_width(&right, gutter, min_width),
        ) {
            if a.min(b) >= 0.4 * a.max(b) {
                return Some((left, right));
            }
        }
        // Records: an agenda whose times sit centered beside two-line entries is not row-aligned
        // line by line, but entry by entry.
        if self.records(&left, &right) {
            return None;
        }
        // Not row-aligned: independent flows (a side menu beside content). Row-aligned: a
        // table or form, read row by row.
        (aligned < 0.5).then_some((left, right))
    }

    /// Whether the two sides pair up entry by entry: each side's rows grouped into entries
    /// (rows closer than 0.6 line heights), the same number of entries on both sides, each
    /// overlapping exactly its partner vertically, and at least one entry of several rows (with
    /// single-row entries only, the line-level alignment test already decides).
    fn records(&self, left: &[usize], right: &[usize]) -> bool {
        let (le, re) = (self.entries(left), self.entries(right));
        if le.len() != re.len() || le.len() < 2 || !le.iter().chain(&re).any(|e| e.1 >= 2) {
            return false;
        }
        // Entries of one side are disjoint and sorted top to bottom, so whatever an entry
        // overlaps on the other side is a contiguous run: checking the neighbours suffices.
        let only_partner = |a: &[(Rect, usize)], b: &[(Rect, usize)], i: usize| {
            let hits = |j: usize| a[i].0.y_overlap(&b[j].0) > 0.0;
            hits(i) && (i == 0 || !hits(i - 1)) && (i + 1 == b.len() || !hits(i + 1))
        };
        (0..le.len()).all(|i| only_partner(&le, &re, i) && only_partner(&re, &le, i))
    }

    /// Rows of `side` grouped into entries (bounds, number of rows), top to bottom.
    fn entries(&self, side: &[usize]) -> Vec<(Rect, usize)> {
        let nodes = self.nodes;
        let mut rects: Vec<Rect> = rows(nodes, side)
            .iter()
            .map(|r| r.iter().fold(Rect::EMPTY, |acc, &i| acc.union(&nodes[i].r)))
            .collect();
        rects.sort_by(|a, b| a.y0.total_cmp(&b.y0).then(a.x0.total_cmp(&b.x0)));
        let mut out: Vec<(Rect, usize, f64)> = Vec::new();
        for r in rects {
            match out.last_mut() {
                Some((e, n, h)) if r.y0 - e.y1 <= 0.6 * h.min(r.h()) => {
                    *e = e.union(&r);
                    *n += 1;
                    *h = r.h();
                }
                _ => out.push((r, 1, r.h())),
            }
        }
        out.into_iter().map(|(e, n, _)| (e, n)).collect()
    }

    /// The width of `side` if it looks like a column of running text: at least `min_width` line
    /// heights wide, one line per row (no inner gap rivalling the gutter), at least half of its rows
    /// spanning 70 % of its width, and rows set closer than a line height.
    fn flow_width(&self, side: &[usize], gutter: f64, min_width: f64) -> Option<f64> {
        let nodes = self.nodes;
        if side.iter().any(|&i| nodes[i].vertical) {
            return None;
        }
        let h = median(side.iter().map(|&i| nodes[i].r.h()).collect());
        let ext = side
            .iter()
            .fold(Rect::EMPTY, |acc, &i| acc.union(&nodes[i].r));
        let width = ext.x1 - ext.x0;
        let rows = rows(nodes, side);
        let max_inner_gap = rows
            .iter()
            .flat_map(|r| r.windows(2).map(|w| nodes[w[1]].r.x0 - nodes[w[0]].r.x1))
            .fold(0.0f64, f64::max);
        let full = rows
            .iter()
            .filter(|r| {
                let e = r.iter().fold(Rect::EMPTY, |acc, &i| acc.union(&nodes[i].r));
                e.x1 - e.x0 >= 0.7 * width
            })
            .count();
        // Prose is set with less than a line height of leading; tables, forms and agendas
        // space their rows out further.
        let leading = median(
            rows.windows(2)
                .map(|w| {
                    let top = w[1]
                        .iter()
                        .map(|&i| nodes[i].r.y0)
                        .fold(f64::INFINITY, f64::min);
                    let bottom = w[0]
                        .iter()
                        .map(|&i| nodes[i].r.y1)
                        .fold(f64::NEG_INFINITY, f64::max);
                    top - bottom
                })
                .collect(),
        );
        let tight = rows.len() < 2 || leading <= h;
        // Lines set solid (almost no leading) that mostly fill their width are running text
        // even when narrow and row-aligned with their neighbour (a scanned two-column page):
        // table rows are spaced out and their cells vary in width.
        let solid = rows.len() >= 2 && leading <= 0.2 * h && 10 * full >= 7 * rows.len();
        let min_width = if solid { min_width.min(8.0) } else { min_width };
        (width >= min_width * h && gutter >= 2.0 * max_inner_gap && 2 * full >= rows.len() && tight)
            .then_some(width)
    }

    /// Splits into strips at every horizontal gap that no node crosses, top to bottom.
    fn horizontal_pieces(&self, ids: &[usize]) -> Vec<Vec<usize>> {
        let mut sorted = ids.to_vec();
        sorted.sort_by(|&a, &b| {
            let (ra, rb) = (&self.nodes[a].r, &self.nodes[b].r);
            ra.y0
                .total_cmp(&rb.y0)
                .then(ra.x0.total_cmp(&rb.x0))
                .then(a.cmp(&b))
        });
        let mut pieces: Vec<Vec<usize>> = Vec::new();
        let mut end = f64::NEG_INFINITY;
        for id in sorted {
            let r = &self.nodes[id].r;
            match pieces.last_mut() {
                Some(p) if r.y0 < end => p.push(id),
                _ => pieces.push(vec![id]),
            }
            end = end.max(r.y1);
        }
        pieces
    }
}

/// How many nodes of `a` overlap some node of `b` vertically (a sweep, not all pairs: this runs
/// for every candidate gutter of every merge step).
fn beside(nodes: &[Node], a: &[usize], b: &[usize]) -> usize {
    let mut spans: Vec<(f64, f64)> = b.iter().map(|&j| (nodes[j].r.y0, nodes[j].r.y1)).collect();
    spans.sort_by(|p, q| p.0.total_cmp(&q.0));
    // prefix_max[k] = the largest bottom among the first k + 1 spans by top.
    let mut prefix_max = Vec::with_capacity(spans.len());
    let mut m = f64::NEG_INFINITY;
    for s in &spans {
        m = m.max(s.1);
        prefix_max.push(m);
    }
    a.iter()
        .filter(|&&i| {
            let r = &nodes[i].r;
            // Spans starting above this node's bottom; one of them must end below its top.
            let k = spans.partition_point(|s| s.0 < r.y1);
            k > 0 && prefix_max[k - 1] > r.y0
        })
        .count()
}

/// How many nodes of `small` have a row-aligned partner in `large`. Aligned nodes differ in
/// height by at most 2x, so a partner's centre lies within 1.5 heights: only those are tried.
fn aligned_count(nodes: &[Node], small: &[usize], large: &[usize]) -> usize {
    let mut by_cy: Vec<(f64, usize)> = large.iter().map(|&j| (nodes[j].r.cy(), j)).collect();
    by_cy.sort_by(|p, q| p.0.total_cmp(&q.0).then(p.1.cmp(&q.1)));
    small
        .iter()
        .filter(|&&i| {
            let r = &nodes[i].r;
            let lo = by_cy.partition_point(|p| p.0 < r.cy() - 1.5 * r.h());
            by_cy[lo..]
                .iter()
                .take_while(|p| p.0 <= r.cy() + 1.5 * r.h())
                .any(|&(_, j)| nodes[i].aligned(&nodes[j]))
        })
        .count()
}
