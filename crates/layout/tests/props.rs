//! Totality properties: every index exactly once, independence of the input order, no panic on
//! garbage.

use proptest::prelude::*;
use wenzi_layout::{analyze, reading_order, BlockKind, Direction, LineBox};

fn coord() -> impl Strategy<Value = f32> {
    prop_oneof![
        8 => -50.0f32..2000.0,
        1 => Just(f32::NAN),
        1 => Just(f32::INFINITY),
        1 => Just(f32::NEG_INFINITY),
        1 => Just(0.0f32),
    ]
}

fn direction() -> impl Strategy<Value = Direction> {
    prop_oneof![4 => Just(Direction::Horizontal), 1 => Just(Direction::Vertical)]
}

fn any_line() -> impl Strategy<Value = LineBox> {
    prop_oneof![
        // Mostly plausible rectangles, so the layout analysis is exercised...
        6 => (0.0f32..1500.0, 0.0f32..1500.0, 1.0f32..600.0, 1.0f32..60.0, direction())
            .prop_map(|(x, y, w, h, d)| {
                let (w, h) = if d == Direction::Vertical { (h, w) } else { (w, h) };
                LineBox { quad: [[x, y], [x + w, y], [x + w, y + h], [x, y + h]], direction: d }
            }),
        // ...some slightly rotated ones...
        2 => (0.0f32..1500.0, 0.0f32..1500.0, 20.0f32..600.0, 5.0f32..40.0, -0.15f32..0.15)
            .prop_map(|(x, y, w, h, a)| {
                let (s, c) = a.sin_cos();
                let p = |dx: f32, dy: f32| [x + dx * c - dy * s, y + dx * s + dy * c];
                LineBox::horizontal([p(0.0, 0.0), p(w, 0.0), p(w, h), p(0.0, h)])
            }),
        // ...and arbitrary quads with non-finite values.
        1 => (proptest::array::uniform8(coord()), direction()).prop_map(|(c, d)| LineBox {
            quad: [[c[0], c[1]], [c[2], c[3]], [c[4], c[5]], [c[6], c[7]]],
            direction: d,
        }),
    ]
}

fn key(l: &LineBox) -> [u32; 9] {
    let q = l.quad;
    [
        q[0][0].to_bits(),
        q[0][1].to_bits(),
        q[1][0].to_bits(),
        q[1][1].to_bits(),
        q[2][0].to_bits(),
        q[2][1].to_bits(),
        q[3][0].to_bits(),
        q[3][1].to_bits(),
        l.direction as u32,
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn blocks_partition_the_input(lines in proptest::collection::vec(any_line(), 0..40)) {
        let blocks = analyze(&lines);
        let mut seen = vec![0u32; lines.len()];
        for b in &blocks {
            prop_assert!(!b.lines.is_empty());
            for &i in &b.lines {
                seen[i] += 1;
            }
            prop_assert!(b.bounds.iter().all(|v| v.is_finite()));
            match b.kind {
                BlockKind::Table => {
                    prop_assert!(b.rows.len() >= 2);
                    let mut next = 0;
                    for r in &b.rows {
                        prop_assert_eq!(r.start, next);
                        prop_assert!(r.end > r.start);
                        next = r.end;
                    }
                    prop_assert_eq!(next, b.lines.len());
                }
                _ => prop_assert!(b.rows.is_empty()),
            }
            if b.kind == BlockKind::Vertical {
                prop_assert!(b.lines.iter().all(|&i| lines[i].direction == Direction::Vertical));
            }
        }
        prop_assert!(seen.iter().all(|&n| n == 1), "{:?}", seen);
        let order: Vec<usize> = blocks.iter().flat_map(|b| b.lines.iter().copied()).collect();
        prop_assert_eq!(order, reading_order(&lines));
    }

    #[test]
    fn order_is_independent_of_the_input_order(
        lines in proptest::collection::vec(any_line(), 0..40),
        rot in 0usize..40,
    ) {
        let a: Vec<_> = reading_order(&lines).iter().map(|&i| key(&lines[i])).collect();
        let mut shuffled = lines.clone();
        shuffled.reverse();
        if !shuffled.is_empty() {
            let n = shuffled.len();
            shuffled.rotate_left(rot % n);
        }
        let b: Vec<_> = reading_order(&shuffled).iter().map(|&i| key(&shuffled[i])).collect();
        prop_assert_eq!(&a, &b);

        // Idempotent: feeding the lines back in reading order changes nothing.
        let sorted: Vec<LineBox> = reading_order(&lines).iter().map(|&i| lines[i]).collect();
        prop_assert_eq!(reading_order(&sorted), (0..sorted.len()).collect::<Vec<_>>());
    }

    #[test]
    fn garbage_never_panics(
        raw in proptest::collection::vec((proptest::array::uniform8(any::<f32>()), direction()), 0..60),
    ) {
        let lines: Vec<LineBox> = raw
            .into_iter()
            .map(|(c, d)| LineBox {
                quad: [[c[0], c[1]], [c[2], c[3]], [c[4], c[5]], [c[6], c[7]]],
                direction: d,
            })
            .collect();
        let order = reading_order(&lines);
        let mut sorted = order.clone();
        sorted.sort_unstable();
        prop_assert_eq!(sorted, (0..lines.len()).collect::<Vec<_>>());
    }
}
