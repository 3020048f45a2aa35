//! Reading order: top-to-bottom, left-to-right, column by column.
//!
//! A recursive XY-cut over the boxes' bounding rectangles, with two twists that plain XY-cut
//! and "sort by y, then x" both get wrong:
//!
//! * **Columns versus tables.** A vertical gap that no box crosses is only treated as a column
//!   gutter if the two sides really are separate text flows: both sides hold several lines
//!   that run side by side, and either their lines are *not* row-aligned (a side menu next to
//!   content) or both sides are wide text columns with a gutter much wider than any gap inside
//!   a row (two-column prose that happens to share a baseline grid). Row-aligned cells (tables,
//!   label/value settings rows, tool bars) are read row by row instead.
//! * **Paragraph breaks inside columns.** Horizontal cuts are tried after column cuts, and
//!   consecutive horizontal strips are merged back together while their union still has a
//!   column gutter, so a paragraph break that happens to line up across both columns does not
//!   make the reader hop between columns.
//!
//! Pages with a uniform skew are rotated back (by the median box angle) before cutting, so
//! overlapping bounding rectangles of tilted lines do not hide the structure.

use std::cmp::Ordering;

use crate::TextBox;

/// Above this many boxes the quadratic layout analysis is skipped and boxes are read as rows.
const MAX_LAYOUT_BOXES: usize = 3000;
const MAX_DEPTH: usize = 64;

/// Sorts boxes into reading order: top-to-bottom, left-to-right, with columns read one after
/// the other (see the module docs).
///
/// The order is total and deterministic: it depends only on the set of boxes, not on their
/// incoming order, so sorting is idempotent. Non-finite coordinates are tolerated.
pub fn sort_reading_order(boxes: &mut Vec<TextBox>) {
    if boxes.len() < 2 {
        return;
    }
    boxes.sort_by(canonical_cmp);
    let items = layout_items(boxes);
    let ids: Vec<usize> = (0..boxes.len()).collect();
    let order = if boxes.len() > MAX_LAYOUT_BOXES {
        rows(&items, &ids).concat()
    } else {
        Layout { items: &items }.order(ids, 0)
    };
    let sorted: Vec<TextBox> = order.iter().map(|&i| boxes[i]).collect();
    *boxes = sorted;
}

/// A total order on box values, used to make the result independent of the input order.
fn canonical_cmp(a: &TextBox, b: &TextBox) -> Ordering {
    let key = |t: &TextBox| {
        let bb = sanitized_bounds(t);
        (bb[1], bb[0])
    };
    let (ka, kb) = (key(a), key(b));
    ka.0.total_cmp(&kb.0)
        .then(ka.1.total_cmp(&kb.1))
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

fn sanitize(v: f32) -> f64 {
    if v.is_nan() {
        0.0
    } else {
        f64::from(v).clamp(-1e7, 1e7)
    }
}

fn sanitized_bounds(t: &TextBox) -> [f64; 4] {
    let mut b = [
        f64::INFINITY,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::NEG_INFINITY,
    ];
    for p in &t.points {
        let (x, y) = (sanitize(p[0]), sanitize(p[1]));
        b[0] = b[0].min(x);
        b[1] = b[1].min(y);
        b[2] = b[2].max(x);
        b[3] = b[3].max(y);
    }
    b
}

#[derive(Debug, Clone, Copy)]
struct Item {
    x0: f64,
    y0: f64,
    x1: f64,
    y1: f64,
}

impl Item {
    fn h(&self) -> f64 {
        (self.y1 - self.y0).max(1e-3)
    }
    fn cx(&self) -> f64 {
        (self.x0 + self.x1) / 2.0
    }
    fn cy(&self) -> f64 {
        (self.y0 + self.y1) / 2.0
    }
    fn y_overlap(&self, o: &Item) -> f64 {
        self.y1.min(o.y1) - self.y0.max(o.y0)
    }
    /// Same text row: mostly overlapping vertically and of similar height.
    fn aligned(&self, o: &Item) -> bool {
        let (lo, hi) = if self.h() < o.h() {
            (self.h(), o.h())
        } else {
            (o.h(), self.h())
        };
        // CJK cells are ~1.4x as tall as digit-only cells in the same row.
        self.y_overlap(o) >= 0.6 * lo && hi <= 2.0 * lo
    }
}

/// Bounding rectangles in a frame rotated by the page's dominant text angle.
fn layout_items(boxes: &[TextBox]) -> Vec<Item> {
    let mut angles: Vec<f64> = boxes
        .iter()
        .filter_map(|b| {
            let [a, p, _, d] = b.points.map(|q| [sanitize(q[0]), sanitize(q[1])]);
            let (dx, dy) = (p[0] - a[0], p[1] - a[1]);
            let w = dx.hypot(dy);
            let h = (d[0] - a[0]).hypot(d[1] - a[1]);
            (w > 1.5 * h && w > 0.0).then(|| dy.atan2(dx))
        })
        .filter(|a| a.abs() < std::f64::consts::FRAC_PI_4)
        .collect();
    angles.sort_by(f64::total_cmp);
    let theta = if angles.is_empty() {
        0.0
    } else {
        angles[angles.len() / 2]
    };
    let (sin, cos) = if theta.abs() > 0.5f64.to_radians() {
        theta.sin_cos()
    } else {
        (0.0, 1.0)
    };
    boxes
        .iter()
        .map(|b| {
            let mut it = Item {
                x0: f64::INFINITY,
                y0: f64::INFINITY,
                x1: f64::NEG_INFINITY,
                y1: f64::NEG_INFINITY,
            };
            for p in &b.points {
                let (x, y) = (sanitize(p[0]), sanitize(p[1]));
                let (rx, ry) = (x * cos + y * sin, -x * sin + y * cos);
                it.x0 = it.x0.min(rx);
                it.y0 = it.y0.min(ry);
                it.x1 = it.x1.max(rx);
                it.y1 = it.y1.max(ry);
            }
            it
        })
        .collect()
}

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return 1.0;
    }
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Groups boxes into text rows (by vertical overlap) and sorts each row left to right.
fn rows(items: &[Item], ids: &[usize]) -> Vec<Vec<usize>> {
    let mut sorted = ids.to_vec();
    sorted.sort_by(|&a, &b| {
        let (ia, ib) = (&items[a], &items[b]);
        ia.cy()
            .total_cmp(&ib.cy())
            .then(ia.x0.total_cmp(&ib.x0))
            .then(a.cmp(&b))
    });
    let mut out: Vec<(Item, Vec<usize>)> = Vec::new();
    for id in sorted {
        let it = items[id];
        // Look back a few rows only: rows are created top to bottom.
        let found = out.iter_mut().rev().take(8).find(|(range, _)| {
            let lo = it.h().min(range.h());
            it.y_overlap(range) >= 0.5 * lo
        });
        match found {
            Some((range, members)) => {
                range.y0 = range.y0.min(it.y0);
                range.y1 = range.y1.max(it.y1);
                members.push(id);
            }
            None => out.push((it, vec![id])),
        }
    }
    out.into_iter()
        .map(|(_, mut members)| {
            members.sort_by(|&a, &b| {
                items[a]
                    .x0
                    .total_cmp(&items[b].x0)
                    .then(items[a].y0.total_cmp(&items[b].y0))
                    .then(a.cmp(&b))
            });
            members
        })
        .collect()
}

struct Layout<'a> {
    items: &'a [Item],
}

impl Layout<'_> {
    fn order(&self, ids: Vec<usize>, depth: usize) -> Vec<usize> {
        if ids.len() <= 1 {
            return ids;
        }
        if depth > MAX_DEPTH {
            return rows(self.items, &ids).concat();
        }
        if let Some((left, right)) = self.column_cut(&ids) {
            let mut out = self.order(left, depth + 1);
            out.extend(self.order(right, depth + 1));
            return out;
        }
        let pieces = self.horizontal_pieces(&ids);
        if pieces.len() <= 1 {
            return rows(self.items, &ids).concat();
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
            return rows(self.items, &ids).concat();
        }
        groups
            .into_iter()
            .flat_map(|g| self.order(g, depth + 1))
            .collect()
    }

    /// Splits at the widest vertical gap that is a genuine column gutter, if any.
    fn column_cut(&self, ids: &[usize]) -> Option<(Vec<usize>, Vec<usize>)> {
        let med_h = median(ids.iter().map(|&i| self.items[i].h()).collect());
        let mut spans: Vec<(f64, f64)> = ids
            .iter()
            .map(|&i| (self.items[i].x0, self.items[i].x1))
            .collect();
        spans.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
        let mut gaps: Vec<(f64, f64)> = Vec::new();
        let mut end = f64::NEG_INFINITY;
        for (x0, x1) in spans {
            if end.is_finite() && x0 > end && x0 - end >= 0.8 * med_h {
                gaps.push((end, x0));
            }
            end = end.max(x1);
        }
        gaps.sort_by(|a, b| {
            (b.1 - b.0)
                .total_cmp(&(a.1 - a.0))
                .then(a.0.total_cmp(&b.0))
        });
        gaps.into_iter().find_map(|g| self.column_split(ids, g))
    }

    fn column_split(&self, ids: &[usize], gap: (f64, f64)) -> Option<(Vec<usize>, Vec<usize>)> {
        let mid = (gap.0 + gap.1) / 2.0;
        let (left, right): (Vec<usize>, Vec<usize>) =
            ids.iter().partition(|&&i| self.items[i].cx() < mid);
        if left.len() < 2 || right.len() < 2 {
            return None;
        }
        let it = self.items;
        let span = |side: &[usize]| {
            side.iter()
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &i| {
                    (a.min(it[i].y0), b.max(it[i].y1))
                })
        };
        let (ls, rs) = (span(&left), span(&right));
        let overlap = ls.1.min(rs.1) - ls.0.max(rs.0);
        if overlap < 0.5 * (ls.1 - ls.0).min(rs.1 - rs.0) {
            return None; // one side is above the other, not beside it
        }
        // Lines of the two sides must run side by side, not take turns (chat bubbles).
        let beside = |a: &[usize], b: &[usize]| {
            a.iter()
                .filter(|&&i| b.iter().any(|&j| it[i].y_overlap(&it[j]) > 0.0))
                .count()
        };
        let interleaved = beside(&left, &right) + beside(&right, &left);
        if (interleaved as f64) < 0.3 * ids.len() as f64 {
            return None;
        }
        let (small, large) = if left.len() <= right.len() {
            (&left, &right)
        } else {
            (&right, &left)
        };
        let aligned = small
            .iter()
            .filter(|&&i| large.iter().any(|&j| it[i].aligned(&it[j])))
            .count();
        if (aligned as f64) < 0.5 * small.len() as f64 {
            return Some((left, right));
        }
        // Row-aligned: columns only if both sides are wide text flows separated by a gutter that
        // dominates every gap inside their rows; otherwise it is a table / form.
        let gutter = gap.1 - gap.0;
        let flow = |side: &[usize]| {
            let h = median(side.iter().map(|&i| it[i].h()).collect());
            let (x0, x1) = side
                .iter()
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &i| {
                    (a.min(it[i].x0), b.max(it[i].x1))
                });
            let max_inner_gap = rows(it, side)
                .iter()
                .flat_map(|r| {
                    r.windows(2)
                        .map(|w| it[w[1]].x0 - it[w[0]].x1)
                        .collect::<Vec<_>>()
                })
                .fold(0.0f64, f64::max);
            x1 - x0 >= 8.0 * h && gutter >= 2.0 * max_inner_gap
        };
        (flow(&left) && flow(&right)).then_some((left, right))
    }

    /// Splits into strips at every horizontal gap that no box crosses, top to bottom.
    fn horizontal_pieces(&self, ids: &[usize]) -> Vec<Vec<usize>> {
        let mut sorted = ids.to_vec();
        sorted.sort_by(|&a, &b| {
            let (ia, ib) = (&self.items[a], &self.items[b]);
            ia.y0
                .total_cmp(&ib.y0)
                .then(ia.x0.total_cmp(&ib.x0))
                .then(a.cmp(&b))
        });
        let mut pieces: Vec<Vec<usize>> = Vec::new();
        let mut end = f64::NEG_INFINITY;
        for id in sorted {
            let it = &self.items[id];
            match pieces.last_mut() {
                Some(p) if it.y0 < end => p.push(id),
                _ => pieces.push(vec![id]),
            }
            end = end.max(it.y1);
        }
        pieces
    }
}
