//! Planar geometry for text boxes: convex hull, minimum-area rectangle, quad ordering, unclip.
//!
//! Coordinates are pixel coordinates with y pointing down. All functions accept arbitrary
//! input (including NaN/inf, duplicates, collinear sets) without panicking; non-finite points
//! are ignored.

/// A 2-D point `[x, y]`.
pub type Point = [f32; 2];

/// A rectangle of any orientation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RotatedRect {
    /// Centre.
    pub center: [f64; 2],
    /// Unit vector along the first side (`width` is measured along it).
    pub axis: [f64; 2],
    /// Length along `axis`.
    pub width: f64,
    /// Length along the perpendicular of `axis`.
    pub height: f64,
}

impl RotatedRect {
    /// The shorter side.
    pub fn short_side(&self) -> f64 {
        self.width.min(self.height)
    }

    /// Area.
    pub fn area(&self) -> f64 {
        self.width * self.height
    }

    /// Corners ordered clockwise from top-left (see [`order_quad`]). Coordinates beyond the
    /// `f32` range saturate at `±f32::MAX` instead of becoming infinite.
    pub fn corners(&self) -> [Point; 4] {
        let [ux, uy] = self.axis;
        let (vx, vy) = (-uy, ux);
        let (hw, hh) = (self.width / 2.0, self.height / 2.0);
        let [cx, cy] = self.center;
        let f = |v: f64| v.clamp(f64::from(f32::MIN), f64::from(f32::MAX)) as f32;
        let p = |a: f64, b: f64| [f(cx + a * ux + b * vx), f(cy + a * uy + b * vy)];
        order_quad([p(-hw, -hh), p(hw, -hh), p(hw, hh), p(-hw, hh)])
    }

    /// The rectangle grown by `d` on every side (shrunk for negative `d`, never below zero).
    pub fn expanded(&self, d: f64) -> RotatedRect {
        let d = if d.is_finite() { d } else { 0.0 };
        RotatedRect {
            width: (self.width + 2.0 * d).max(0.0),
            height: (self.height + 2.0 * d).max(0.0),
            ..*self
        }
    }
}

fn cross(o: [f64; 2], a: [f64; 2], b: [f64; 2]) -> f64 {
    (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])
}

/// Convex hull (Andrew's monotone chain), without collinear points. Returns the vertices in
/// one consistent rotational order; 0–2 points for degenerate input.
pub fn convex_hull(points: &[Point]) -> Vec<[f64; 2]> {
    let mut pts: Vec<[f64; 2]> = points
        .iter()
        .filter(|p| p[0].is_finite() && p[1].is_finite())
        .map(|p| [f64::from(p[0]), f64::from(p[1])])
        .collect();
    pts.sort_by(|a, b| a[0].total_cmp(&b[0]).then(a[1].total_cmp(&b[1])));
    pts.dedup();
    if pts.len() < 3 {
        return pts;
    }
    let mut hull: Vec<[f64; 2]> = Vec::with_capacity(pts.len() * 2);
    for pass in 0..2 {
        let start = hull.len();
        let iter: Box<dyn Iterator<Item = &[f64; 2]>> = if pass == 0 {
            Box::new(pts.iter())
        } else {
            Box::new(pts.iter().rev())
        };
        for &p in iter {
            while hull.len() >= start + 2
                && cross(hull[hull.len() - 2], hull[hull.len() - 1], p) <= 0.0
            {
                hull.pop();
            }
            hull.push(p);
        }
        hull.pop(); // last point of each chain is the first of the other
    }
    if hull.len() < 2 {
        // All points collinear and coincident after filtering: keep the extremes.
        return vec![pts[0], pts[pts.len() - 1]];
    }
    hull
}

/// Minimum-area enclosing rectangle of a point set (rotating calipers over the convex hull's
/// edges: the optimal rectangle has a side collinear with a hull edge). `None` if there is no
/// finite point.
pub fn min_area_rect(points: &[Point]) -> Option<RotatedRect> {
    let hull = convex_hull(points);
    min_area_rect_of_hull(&hull)
}

/// [`min_area_rect`] for points that already form a convex hull.
pub fn min_area_rect_of_hull(hull: &[[f64; 2]]) -> Option<RotatedRect> {
    match hull.len() {
        0 => return None,
        1 => {
            return Some(RotatedRect {
                center: hull[0],
                axis: [1.0, 0.0],
                width: 0.0,
                height: 0.0,
            });
        }
        _ => {}
    }
    let mut best: Option<(f64, RotatedRect)> = None;
    let n = hull.len();
    for i in 0..n {
        let a = hull[i];
        let b = hull[(i + 1) % n];
        let (dx, dy) = (b[0] - a[0], b[1] - a[1]);
        let len = (dx * dx + dy * dy).sqrt();
        if len <= f64::EPSILON || !len.is_finite() {
            continue;
        }
        let u = [dx / len, dy / len];
        let v = [-u[1], u[0]];
        let (mut umin, mut umax, mut vmin, mut vmax) = (
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::INFINITY,
            f64::NEG_INFINITY,
        );
        for p in hull {
            let (px, py) = (p[0] - a[0], p[1] - a[1]);
            let pu = px * u[0] + py * u[1];
            let pv = px * v[0] + py * v[1];
            umin = umin.min(pu);
            umax = umax.max(pu);
            vmin = vmin.min(pv);
            vmax = vmax.max(pv);
        }
        let area = (umax - umin) * (vmax - vmin);
        if !matches!(best, Some((ba, _)) if ba <= area) {
            let (cu, cv) = ((umin + umax) / 2.0, (vmin + vmax) / 2.0);
            let center = [a[0] + cu * u[0] + cv * v[0], a[1] + cu * u[1] + cv * v[1]];
            best = Some((
                area,
                RotatedRect {
                    center,
                    axis: u,
                    width: umax - umin,
                    height: vmax - vmin,
                },
            ));
        }
    }
    best.map(|(_, r)| r)
}

/// Orders four corners clockwise (as displayed, y down) starting at the top-left.
///
/// "Top-left" is the start of the top edge: of the four clockwise edges, the one whose
/// direction is closest to +x (left to right). For upright and moderately rotated boxes this
/// is the visual top-left; unlike sorting by x then y, it stays consistent for rotated boxes.
/// Non-finite input is returned in its original order.
pub fn order_quad(pts: [Point; 4]) -> [Point; 4] {
    if pts.iter().any(|p| !p[0].is_finite() || !p[1].is_finite()) {
        return pts;
    }
    // Everything below is computed from the points in one canonical order, so the result is a
    // function of the set alone: the centroid's rounding and the tie-break of points at equal
    // angles do not depend on the order they came in, and ordering an ordered quad gives it
    // back unchanged.
    let mut pts = pts;
    pts.sort_by(|p, q| p[0].total_cmp(&q[0]).then(p[1].total_cmp(&q[1])));
    let cx = pts.iter().map(|p| f64::from(p[0])).sum::<f64>() / 4.0;
    let cy = pts.iter().map(|p| f64::from(p[1])).sum::<f64>() / 4.0;
    let mut idx = [0usize, 1, 2, 3];
    // Clockwise on screen = increasing atan2(dy, dx) with y down.
    let ang = |p: &Point| (f64::from(p[1]) - cy).atan2(f64::from(p[0]) - cx);
    idx.sort_by(|&a, &b| ang(&pts[a]).total_cmp(&ang(&pts[b])).then(a.cmp(&b)));
    let ordered = idx.map(|i| pts[i]);
    let mut start = 0;
    let mut best = f64::NEG_INFINITY;
    for s in 0..4 {
        let (p, q) = (ordered[s], ordered[(s + 1) % 4]);
        let (dx, dy) = (f64::from(q[0] - p[0]), f64::from(q[1] - p[1]));
        let len = (dx * dx + dy * dy).sqrt();
        let score = if len > 0.0 {
            dx / len
        } else {
            f64::NEG_INFINITY
        };
        // Ties (a box at exactly 45°) go to the edge that starts higher up, then leftmost.
        let better = score > best + 1e-9
            || ((score - best).abs() <= 1e-9
                && (p[1], p[0]) < (ordered[start][1], ordered[start][0]));
        if better {
            best = score.max(best);
            start = s;
        }
    }
    [
        ordered[start],
        ordered[(start + 1) % 4],
        ordered[(start + 2) % 4],
        ordered[(start + 3) % 4],
    ]
}

/// Absolute area of a simple polygon (shoelace).
pub fn polygon_area(poly: &[Point]) -> f64 {
    let n = poly.len();
    if n < 3 {
        return 0.0;
    }
    let mut s = 0.0;
    for i in 0..n {
        let (a, b) = (poly[i], poly[(i + 1) % n]);
        s += f64::from(a[0]) * f64::from(b[1]) - f64::from(b[0]) * f64::from(a[1]);
    }
    (s / 2.0).abs()
}

/// Perimeter of a closed polygon.
pub fn polygon_perimeter(poly: &[Point]) -> f64 {
    let n = poly.len();
    if n < 2 {
        return 0.0;
    }
    (0..n)
        .map(|i| {
            let (a, b) = (poly[i], poly[(i + 1) % n]);
            (f64::from(b[0] - a[0])).hypot(f64::from(b[1] - a[1]))
        })
        .sum()
}

/// DB "unclip": the offset distance `area * ratio / perimeter` used to grow the network's
/// shrunk text kernels back to full text size. 0 for degenerate or non-finite input.
pub fn unclip_distance(area: f64, perimeter: f64, ratio: f64) -> f64 {
    let d = area * ratio / perimeter;
    if d.is_finite() && d > 0.0 {
        d
    } else {
        0.0
    }
}

/// Unclips a rectangle: the polygon offset of a rectangle by `d` (round joins, as pyclipper
/// does in PP-OCR) has exactly the rectangle grown by `d` per side as its minimum-area
/// rectangle, so no general polygon clipper is needed.
pub fn unclip_rect(rect: &RotatedRect, ratio: f64) -> RotatedRect {
    let perimeter = 2.0 * (rect.width + rect.height);
    rect.expanded(unclip_distance(rect.area(), perimeter, ratio))
}
