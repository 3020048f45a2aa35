//! Sanitized geometry: rectangles, the canonical line order, skew, vertical grouping.

use std::cmp::Ordering;
use std::f64::consts::{FRAC_PI_2, FRAC_PI_4, PI};

use crate::{Direction, LineBox};

/// NaN becomes 0 and everything is clamped, so arithmetic below never produces NaN or inf
/// (which would break the total orders and the gap arithmetic).
pub(crate) fn sanitize(v: f32) -> f64 {
    if v.is_nan() {
        0.0
    } else {
        f64::from(v).clamp(-1e7, 1e7)
    }
}

pub(crate) fn points(l: &LineBox) -> [[f64; 2]; 4] {
    l.quad.map(|p| [sanitize(p[0]), sanitize(p[1])])
}

/// An axis-aligned rectangle in the (deskewed) working frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Rect {
    pub x0: f64,
    pub y0: f64,
    pub x1: f64,
    pub y1: f64,
}

impl Rect {
    /// The identity of [`Rect::union`].
    pub const EMPTY: Rect = Rect {
        x0: f64::INFINITY,
        y0: f64::INFINITY,
        x1: f64::NEG_INFINITY,
        y1: f64::NEG_INFINITY,
    };

    pub fn point(p: [f64; 2]) -> Rect {
        Rect {
            x0: p[0],
            y0: p[1],
            x1: p[0],
            y1: p[1],
        }
    }

    pub fn union(&self, o: &Rect) -> Rect {
        Rect {
            x0: self.x0.min(o.x0),
            y0: self.y0.min(o.y0),
            x1: self.x1.max(o.x1),
            y1: self.y1.max(o.y1),
        }
    }

    /// Height, never zero so it can divide and scale thresholds.
    pub fn h(&self) -> f64 {
        (self.y1 - self.y0).max(1e-3)
    }

    /// Width, never zero.
    pub fn w(&self) -> f64 {
        (self.x1 - self.x0).max(1e-3)
    }

    pub fn cx(&self) -> f64 {
        (self.x0 + self.x1) / 2.0
    }

    pub fn cy(&self) -> f64 {
        (self.y0 + self.y1) / 2.0
    }

    pub fn y_overlap(&self, o: &Rect) -> f64 {
        self.y1.min(o.y1) - self.y0.max(o.y0)
    }

    pub fn x_overlap(&self, o: &Rect) -> f64 {
        self.x1.min(o.x1) - self.x0.max(o.x0)
    }
}

/// Median of `v` (1.0 when empty, a harmless scale).
pub(crate) fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return 1.0;
    }
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Input indices sorted by a total order on line *values* (top, left, then every coordinate
/// bit-exactly, then direction), so the analysis never sees the caller's order. Identical lines
/// keep their input order.
pub(crate) fn canonical_order(lines: &[LineBox]) -> Vec<usize> {
    let keys: Vec<(f64, f64)> = lines
        .iter()
        .map(|l| {
            let r = points(l)
                .into_iter()
                .fold(Rect::EMPTY, |r, p| r.union(&Rect::point(p)));
            (r.y0, r.x0)
        })
        .collect();
    let mut idx: Vec<usize> = (0..lines.len()).collect();
    idx.sort_by(|&a, &b| {
        let (la, lb) = (&lines[a], &lines[b]);
        keys[a]
            .0
            .total_cmp(&keys[b].0)
            .then(keys[a].1.total_cmp(&keys[b].1))
            .then_with(|| {
                la.quad
                    .iter()
                    .flatten()
                    .zip(lb.quad.iter().flatten())
                    .map(|(x, y)| x.total_cmp(y))
                    .find(|o| o.is_ne())
                    .unwrap_or(Ordering::Equal)
            })
            .then((la.direction as u8).cmp(&(lb.direction as u8)))
            .then(a.cmp(&b))
    });
    idx
}

/// The page's dominant text angle in radians (image coordinates, y down), or 0 when the page is
/// within half a degree of upright.
///
/// Each elongated line votes with its long axis' deviation from the axis its direction says it
/// should run along; the median ignores the odd stray box.
pub(crate) fn skew_angle(lines: &[LineBox]) -> f64 {
    let mut angles: Vec<f64> = lines
        .iter()
        .filter_map(|l| {
            let [a, b, c, _] = points(l);
            let e1 = [b[0] - a[0], b[1] - a[1]];
            let e2 = [c[0] - b[0], c[1] - b[1]];
            let (l1, l2) = (e1[0].hypot(e1[1]), e2[0].hypot(e2[1]));
            let (long, short) = if l1 >= l2 { (e1, l2) } else { (e2, l1) };
            let len = long[0].hypot(long[1]);
            if !(len > 1.5 * short && len > 0.0) {
                return None;
            }
            // Long-axis angle folded into (-pi/2, pi/2].
            let mut t = long[1].atan2(long[0]);
            if t > FRAC_PI_2 {
                t -= PI;
            } else if t <= -FRAC_PI_2 {
                t += PI;
            }
            let dev = match l.direction {
                Direction::Horizontal => t,
                Direction::Vertical if t > 0.0 => t - FRAC_PI_2,
                Direction::Vertical => t + FRAC_PI_2,
            };
            (dev.abs() < FRAC_PI_4).then_some(dev)
        })
        .collect();
    if angles.is_empty() {
        return 0.0;
    }
    angles.sort_by(f64::total_cmp);
    let theta = angles[angles.len() / 2];
    if theta.abs() > 0.5f64.to_radians() {
        theta
    } else {
        0.0
    }
}

/// Bounding rectangles of the lines after rotating the page by `-theta`.
pub(crate) fn deskewed_rects(lines: &[LineBox], theta: f64) -> Vec<Rect> {
    let (sin, cos) = theta.sin_cos();
    lines
        .iter()
        .map(|l| {
            points(l).into_iter().fold(Rect::EMPTY, |r, [x, y]| {
                r.union(&Rect::point([x * cos + y * sin, -x * sin + y * cos]))
            })
        })
        .collect()
}

/// Groups vertical lines into blocks: neighbouring columns of similar width that stand side by
/// side (overlapping vertically) belong together, even when their tops and lengths differ (a
/// poem's short last column). Each group comes out in reading order: columns right to left,
/// pieces of one column top to bottom.
pub(crate) fn vertical_groups(rects: &[Rect], ids: &[usize]) -> Vec<Vec<usize>> {
    let n = ids.len();
    let mut parent: Vec<usize> = (0..n).collect();
    fn find(p: &mut [usize], mut i: usize) -> usize {
        while p[i] != i {
            p[i] = p[p[i]];
            i = p[i];
        }
        i
    }
    for i in 0..n {
        for j in i + 1..n {
            let (a, b) = (&rects[ids[i]], &rects[ids[j]]);
            let (wmin, wmax) = (a.w().min(b.w()), a.w().max(b.w()));
            let x_gap = -a.x_overlap(b);
            let together = x_gap <= 1.2 * wmax
                && wmax <= 2.5 * wmin
                && a.y_overlap(b) >= 0.3 * a.h().min(b.h());
            if together {
                let (ri, rj) = (find(&mut parent, i), find(&mut parent, j));
                if ri != rj {
                    parent[ri.max(rj)] = ri.min(rj);
                }
            }
        }
    }
    let mut groups: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (i, &id) in ids.iter().enumerate() {
        let r = find(&mut parent, i);
        groups[r].push(id);
    }
    groups
        .into_iter()
        .filter(|g| !g.is_empty())
        .map(|g| vertical_reading_order(rects, g))
        .collect()
}

fn vertical_reading_order(rects: &[Rect], mut g: Vec<usize>) -> Vec<usize> {
    g.sort_by(|&a, &b| {
        rects[b]
            .cx()
            .total_cmp(&rects[a].cx())
            .then(rects[a].y0.total_cmp(&rects[b].y0))
            .then(a.cmp(&b))
    });
    let mut bands: Vec<(Rect, Vec<usize>)> = Vec::new();
    for id in g {
        let r = rects[id];
        match bands.last_mut() {
            Some((band, members)) if band.x_overlap(&r) >= 0.5 * band.w().min(r.w()) => {
                *band = band.union(&r);
                members.push(id);
            }
            _ => bands.push((r, vec![id])),
        }
    }
    bands
        .into_iter()
        .flat_map(|(_, mut members)| {
            members.sort_by(|&a, &b| rects[a].y0.total_cmp(&rects[b].y0).then(a.cmp(&b)));
            members
        })
        .collect()
}
