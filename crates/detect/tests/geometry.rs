//! Geometry properties: min-area rectangles, unclip, quad ordering.

use proptest::prelude::*;
use wenzi_detect::geometry::*;

fn inside(rect: &RotatedRect, p: [f32; 2], tol: f64) -> bool {
    let (dx, dy) = (
        f64::from(p[0]) - rect.center[0],
        f64::from(p[1]) - rect.center[1],
    );
    let [ux, uy] = rect.axis;
    let u = dx * ux + dy * uy;
    let v = -dx * uy + dy * ux;
    u.abs() <= rect.width / 2.0 + tol && v.abs() <= rect.height / 2.0 + tol
}

fn point() -> impl Strategy<Value = [f32; 2]> {
    (-1000.0f32..1000.0, -1000.0f32..1000.0).prop_map(|(x, y)| [x, y])
}

fn is_clockwise_from_top_left(q: &[[f32; 2]; 4]) -> bool {
    // Positive shoelace area with y pointing down = clockwise on screen.
    let mut s = 0.0f64;
    for i in 0..4 {
        let (a, b) = (q[i], q[(i + 1) % 4]);
        s += f64::from(a[0]) * f64::from(b[1]) - f64::from(b[0]) * f64::from(a[1]);
    }
    // The first edge is the most left-to-right one.
    let dir = |i: usize| {
        let (a, b) = (q[i], q[(i + 1) % 4]);
        let (dx, dy) = (f64::from(b[0] - a[0]), f64::from(b[1] - a[1]));
        dx / dx.hypot(dy).max(1e-12)
    };
    s >= -1e-6 && (1..4).all(|i| dir(0) >= dir(i) - 1e-6)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn min_area_rect_contains_all_points(pts in proptest::collection::vec(point(), 1..60)) {
        let rect = min_area_rect(&pts).expect("finite points");
        prop_assert!(rect.center.iter().chain(rect.axis.iter()).all(|v| v.is_finite()));
        prop_assert!(rect.width.is_finite() && rect.height.is_finite());
        prop_assert!(rect.width >= 0.0 && rect.height >= 0.0);
        let scale = pts.iter().flatten().fold(1.0f64, |m, v| m.max(f64::from(v.abs())));
        for p in &pts {
            prop_assert!(inside(&rect, *p, 1e-6 * scale + 1e-3), "{:?} outside {:?}", p, rect);
        }
        // Never larger than the axis-aligned bounding box.
        let (mut x0, mut y0, mut x1, mut y1) = (f64::INFINITY, f64::INFINITY, f64::NEG_INFINITY, f64::NEG_INFINITY);
        for p in &pts {
            x0 = x0.min(f64::from(p[0])); x1 = x1.max(f64::from(p[0]));
            y0 = y0.min(f64::from(p[1])); y1 = y1.max(f64::from(p[1]));
        }
        prop_assert!(rect.area() <= (x1 - x0) * (y1 - y0) + 1e-6 * scale * scale + 1e-3);
        prop_assert!(rect.corners().iter().flatten().all(|v| v.is_finite()));
    }

    #[test]
    fn min_area_rect_ignores_non_finite_points(
        pts in proptest::collection::vec(point(), 0..20),
        junk in proptest::collection::vec(prop_oneof![Just(f32::NAN), Just(f32::INFINITY), Just(f32::NEG_INFINITY)], 0..5),
    ) {
        let mut all = pts.clone();
        for j in &junk {
            all.push([*j, 1.0]);
            all.push([2.0, *j]);
        }
        match min_area_rect(&all) {
            None => prop_assert!(pts.is_empty()),
            Some(r) => {
                prop_assert!(r.width.is_finite() && r.height.is_finite());
                prop_assert!(r.corners().iter().flatten().all(|v| v.is_finite()));
            }
        }
    }

    #[test]
    fn unclip_never_produces_nan_or_inf(
        pts in proptest::collection::vec(point(), 1..12),
        ratio in prop_oneof![-5.0f64..5.0, Just(f64::NAN), Just(f64::INFINITY)],
    ) {
        let rect = min_area_rect(&pts).unwrap();
        let grown = unclip_rect(&rect, ratio);
        prop_assert!(grown.width.is_finite() && grown.height.is_finite());
        prop_assert!(grown.width >= 0.0 && grown.height >= 0.0);
        prop_assert!(grown.corners().iter().flatten().all(|v| v.is_finite()));
        if ratio.is_finite() && ratio > 0.0 {
            prop_assert!(grown.width >= rect.width && grown.height >= rect.height);
        }
        let d = unclip_distance(polygon_area(&rect.corners()), polygon_perimeter(&rect.corners()), ratio);
        prop_assert!(d.is_finite() && d >= 0.0);
    }

    #[test]
    fn quad_ordering_is_clockwise_from_top_left(
        c in point(), w in 1.0f64..500.0, h in 1.0f64..100.0, angle in -44.0f64..44.0, perm in 0usize..24,
    ) {
        let rect = RotatedRect {
            center: [f64::from(c[0]), f64::from(c[1])],
            axis: [angle.to_radians().cos(), -angle.to_radians().sin()],
            width: w,
            height: h,
        };
        let q = rect.corners();
        prop_assert!(is_clockwise_from_top_left(&q), "{:?}", q);
        // Any input order gives the same result.
        let mut idx = [0usize, 1, 2, 3];
        let mut p = perm;
        for i in (1..4).rev() { idx.swap(i, p % (i + 1)); p /= i + 1; }
        let shuffled = idx.map(|i| q[i]);
        prop_assert_eq!(order_quad(shuffled), q);
        // For a box rotated by less than 45°, the first corner is the visual top-left.
        let top_left = q.iter().fold((f32::INFINITY, 0usize), |(best, bi), p| (best.min(p[0] + p[1]), bi)).0;
        prop_assert!((q[0][0] + q[0][1] - top_left).abs() < 1e-2 * (1.0 + top_left.abs()) || angle.abs() > 30.0);
    }
}

#[test]
fn hull_and_rect_of_degenerate_sets() {
    assert!(min_area_rect(&[]).is_none());
    let one = min_area_rect(&[[3.0, 4.0]]).unwrap();
    assert_eq!((one.width, one.height), (0.0, 0.0));
    let line = min_area_rect(&[[0.0, 0.0], [10.0, 0.0], [5.0, 0.0]]).unwrap();
    assert!(
        (line.width.max(line.height) - 10.0).abs() < 1e-9 && line.width.min(line.height) < 1e-9
    );
    assert_eq!(convex_hull(&[[1.0, 1.0], [1.0, 1.0]]).len(), 1);
}

#[test]
fn rotated_rectangle_is_recovered_exactly() {
    let (s, c) = 20f64.to_radians().sin_cos();
    let pts: Vec<[f32; 2]> = [
        (-50.0, -10.0),
        (50.0, -10.0),
        (50.0, 10.0),
        (-50.0, 10.0),
        (0.0, 0.0),
        (20.0, 5.0),
    ]
    .iter()
    .map(|&(u, v): &(f64, f64)| {
        [
            (100.0 + u * c + v * s) as f32,
            (100.0 - u * s + v * c) as f32,
        ]
    })
    .collect();
    let r = min_area_rect(&pts).unwrap();
    let (long, short) = (r.width.max(r.height), r.width.min(r.height));
    assert!((long - 100.0).abs() < 1e-3 && (short - 20.0).abs() < 1e-3);
    let grown = unclip_rect(&r, 1.5);
    let d = 100.0 * 20.0 * 1.5 / 240.0;
    assert!((grown.width.max(grown.height) - (100.0 + 2.0 * d)).abs() < 1e-3);
}
