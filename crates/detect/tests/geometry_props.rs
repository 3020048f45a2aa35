//! Geometry properties not covered by tests/geometry.rs and tests/order.rs: quad ordering of
//! arbitrary (not rectangular, not finite) corner sets, and unclip on extreme rectangles.

use proptest::prelude::*;
use wenzi_detect::geometry::{order_quad, unclip_rect, RotatedRect};

fn any_coord() -> impl Strategy<Value = f32> {
    prop_oneof![
        8 => -1e4f32..1e4,
        1 => any::<f32>(),
        1 => prop_oneof![Just(f32::NAN), Just(f32::INFINITY), Just(f32::NEG_INFINITY), Just(f32::MAX), Just(-f32::MAX), Just(0.0)],
    ]
}

fn sorted_bits(q: &[[f32; 2]; 4]) -> Vec<(u32, u32)> {
    let mut v: Vec<_> = q.iter().map(|p| (p[0].to_bits(), p[1].to_bits())).collect();
    v.sort_unstable();
    v
}

/// Degenerate quads found by randomized runs: (1) all four corners on one vertical line, two
/// at the centre's angle differing only in the sign of a zero — ties were broken by input
/// position; (2) two corners 2e-13 apart — the centroid's rounding depended on the summing
/// order and flipped their angles. Either way ordering the ordered quad changed it. Every
/// input order of the same four points must now give the same answer.
#[test]
fn degenerate_quads_order_the_same_from_any_input_order() {
    let cases = [
        [[-0.0, 9654.376], [0.0, 0.0], [-0.0, 0.0], [0.0, -6800.0713]],
        [
            [6473.3687, 722.4405],
            [2.0428247e-13, 0.0],
            [-5043.299, -4670.1807],
            [0.0, 0.0],
        ],
    ];
    let bits = |q: [[f32; 2]; 4]| q.map(|p| p.map(f32::to_bits));
    for q in cases {
        let o = order_quad(q);
        assert_eq!(sorted_bits(&o), sorted_bits(&q));
        assert_eq!(bits(order_quad(o)), bits(o), "{q:?}");
        for perm in [
            [3, 2, 1, 0],
            [1, 0, 3, 2],
            [2, 3, 0, 1],
            [0, 2, 1, 3],
            [1, 3, 0, 2],
        ] {
            assert_eq!(
                bits(order_quad(perm.map(|i| q[i]))),
                bits(o),
                "{q:?} {perm:?}"
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 500, ..ProptestConfig::default() })]

    /// Any four points, in any order, finite or not: `order_quad` never panics, returns the
    /// same four points, and is idempotent.
    #[test]
    fn order_quad_is_an_idempotent_permutation(c in proptest::array::uniform8(any_coord())) {
        let q = [[c[0], c[1]], [c[2], c[3]], [c[4], c[5]], [c[6], c[7]]];
        let o = order_quad(q);
        prop_assert_eq!(sorted_bits(&o), sorted_bits(&q));
        let again = order_quad(o);
        prop_assert_eq!(sorted_bits(&again), sorted_bits(&o));
        if c.iter().all(|v| v.is_finite() && v.abs() < 1e4) {
            prop_assert_eq!(again.map(|p| p.map(f32::to_bits)), o.map(|p| p.map(f32::to_bits)));
        }
    }

    /// Unclip of any finite rectangle, however large or thin, with any ratio.
    #[test]
    fn unclip_of_extreme_rectangles_stays_finite(
        cx in -1e6f64..1e6, cy in -1e6f64..1e6,
        w in prop_oneof![Just(0.0f64), 0.0f64..1e-6, 0.0f64..1e6],
        h in prop_oneof![Just(0.0f64), 0.0f64..1e-6, 0.0f64..1e6],
        angle in -180.0f64..180.0,
        ratio in prop_oneof![Just(f64::NAN), Just(f64::INFINITY), Just(f64::NEG_INFINITY), Just(0.0), -10.0f64..10.0, Just(1e300)],
    ) {
        let rect = RotatedRect {
            center: [cx, cy],
            axis: [angle.to_radians().cos(), angle.to_radians().sin()],
            width: w,
            height: h,
        };
        let grown = unclip_rect(&rect, ratio);
        prop_assert!(grown.width.is_finite() && grown.height.is_finite(), "{:?}", grown);
        prop_assert!(grown.width >= 0.0 && grown.height >= 0.0);
        prop_assert!(grown.corners().iter().flatten().all(|v| v.is_finite()), "{:?}", grown);
    }
}
