//! Reading order on hand-made layouts, plus totality properties.

use proptest::prelude::*;
use wenzi_detect::{sort_reading_order, TextBox};

fn r(x0: f32, y0: f32, x1: f32, y1: f32) -> TextBox {
    TextBox::from_rect(x0, y0, x1, y1, 1.0)
}

/// Sorts a shuffled copy and returns the indices of the original boxes in reading order.
fn order_of(boxes: &[TextBox]) -> Vec<usize> {
    let mut v: Vec<TextBox> = boxes.iter().rev().copied().collect();
    v.rotate_left(boxes.len() / 3);
    sort_reading_order(&mut v);
    v.iter()
        .map(|b| boxes.iter().position(|o| o == b).unwrap())
        .collect()
}

#[test]
fn single_column_reads_top_to_bottom() {
    let boxes: Vec<TextBox> = (0..6)
        .map(|i| {
            r(
                20.0,
                20.0 + 30.0 * i as f32,
                500.0 - 30.0 * i as f32,
                42.0 + 30.0 * i as f32,
            )
        })
        .collect();
    assert_eq!(order_of(&boxes), vec![0, 1, 2, 3, 4, 5]);
}

#[test]
fn words_in_a_row_read_left_to_right_even_with_jitter() {
    let boxes = vec![
        r(10.0, 100.0, 80.0, 120.0),
        r(90.0, 102.0, 150.0, 121.0),
        r(160.0, 98.0, 260.0, 119.0),
    ];
    assert_eq!(order_of(&boxes), vec![0, 1, 2]);
}

#[test]
fn two_columns_with_aligned_rows_and_a_title() {
    // Rows line up across the gutter (same font, same pitch) and the paragraph break is at the
    // same height in both columns: a naive XY-cut would interleave the columns.
    let mut boxes = vec![r(40.0, 20.0, 800.0, 60.0)];
    for (i, y) in [100.0, 135.0, 170.0, 230.0, 265.0].iter().enumerate() {
        boxes.push(r(40.0, *y, 540.0 - 10.0 * i as f32, y + 24.0));
    }
    for y in [100.0, 135.0, 170.0, 230.0, 265.0] {
        boxes.push(r(620.0, y, 1120.0, y + 24.0));
    }
    boxes.push(r(40.0, 320.0, 1100.0, 344.0)); // full-width footer
    assert_eq!(order_of(&boxes), (0..12).collect::<Vec<_>>());
}

#[test]
fn side_menu_then_content() {
    let mut boxes = vec![r(20.0, 10.0, 100.0, 40.0)]; // top bar title
    for i in 0..8 {
        boxes.push(r(
            20.0,
            80.0 + 41.0 * i as f32,
            90.0,
            96.0 + 41.0 * i as f32,
        )); // menu
    }
    boxes.push(r(245.0, 75.0, 490.0, 106.0)); // content title
    for i in 0..4 {
        let y = 141.0 + 50.0 * i as f32;
        boxes.push(r(245.0, y, 330.0, y + 18.0)); // label
        boxes.push(r(1270.0, y, 1330.0, y + 18.0)); // value, same row
    }
    let order = order_of(&boxes);
    assert_eq!(order, (0..boxes.len()).collect::<Vec<_>>());
}

#[test]
fn table_rows_read_left_to_right() {
    let mut boxes = Vec::new();
    for row in 0..5 {
        let y = 100.0 + 36.0 * row as f32;
        for (x0, x1) in [
            (48.0, 110.0),
            (145.0, 240.0),
            (283.0, 330.0),
            (370.0, 530.0),
        ] {
            // Chinese cells slightly taller than digit cells.
            let (a, b) = if x0 < 100.0 {
                (y, y + 18.0)
            } else {
                (y + 3.0, y + 15.0)
            };
            boxes.push(r(x0, a, x1, b));
        }
    }
    assert_eq!(order_of(&boxes), (0..20).collect::<Vec<_>>());
}

#[test]
fn chat_bubbles_read_in_time_order() {
    let boxes = vec![
        r(380.0, 18.0, 420.0, 40.0),   // header
        r(529.0, 93.0, 714.0, 112.0),  // right
        r(385.0, 139.0, 414.0, 149.0), // time stamp
        r(76.0, 176.0, 196.0, 195.0),  // left
        r(76.0, 210.0, 220.0, 229.0),  // left
        r(475.0, 250.0, 724.0, 272.0), // right
        r(536.0, 284.0, 713.0, 303.0), // right
        r(90.0, 330.0, 300.0, 350.0),  // left
    ];
    assert_eq!(order_of(&boxes), (0..8).collect::<Vec<_>>());
}

#[test]
fn skewed_two_column_page() {
    // Lines tilted by 5°: their bounding rectangles overlap vertically, but the columns and the
    // line order must still come out right.
    let (s, c) = 5f32.to_radians().sin_cos();
    let quad = |x: f32, y: f32, w: f32, h: f32| {
        let p = |dx: f32, dy: f32| [x + dx * c + dy * s, y - dx * s + dy * c];
        TextBox {
            points: [p(0.0, 0.0), p(w, 0.0), p(w, h), p(0.0, h)],
            score: 1.0,
        }
    };
    let mut boxes = Vec::new();
    for i in 0..6 {
        boxes.push(quad(40.0, 100.0 + 30.0 * i as f32, 400.0, 20.0));
    }
    for i in 0..6 {
        boxes.push(quad(520.0, 60.0 + 30.0 * i as f32, 400.0, 20.0));
    }
    assert_eq!(order_of(&boxes), (0..12).collect::<Vec<_>>());
}

fn coord() -> impl Strategy<Value = f32> {
    prop_oneof![
        8 => -50.0f32..2000.0,
        1 => Just(f32::NAN),
        1 => Just(f32::INFINITY),
        1 => Just(f32::NEG_INFINITY),
        1 => Just(0.0f32),
    ]
}

fn any_box() -> impl Strategy<Value = TextBox> {
    prop_oneof![
        // Mostly plausible rectangles, so the layout analysis is exercised...
        6 => (0.0f32..1500.0, 0.0f32..1500.0, 1.0f32..600.0, 1.0f32..60.0, 0.0f32..1.0)
            .prop_map(|(x, y, w, h, s)| TextBox::from_rect(x, y, x + w, y + h, s)),
        // ...and some arbitrary quads with non-finite values.
        1 => (proptest::array::uniform8(coord()), any::<f32>()).prop_map(|(c, s)| TextBox {
            points: [[c[0], c[1]], [c[2], c[3]], [c[4], c[5]], [c[6], c[7]]],
            score: s,
        }),
    ]
}

fn key(b: &TextBox) -> [u32; 9] {
    let p = b.points;
    [
        p[0][0].to_bits(),
        p[0][1].to_bits(),
        p[1][0].to_bits(),
        p[1][1].to_bits(),
        p[2][0].to_bits(),
        p[2][1].to_bits(),
        p[3][0].to_bits(),
        p[3][1].to_bits(),
        b.score.to_bits(),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn reading_order_is_a_total_deterministic_permutation(
        boxes in proptest::collection::vec(any_box(), 0..40),
        rot in 0usize..40,
    ) {
        let mut a = boxes.clone();
        sort_reading_order(&mut a);

        // A permutation of the input.
        let mut k1: Vec<_> = boxes.iter().map(key).collect();
        let mut k2: Vec<_> = a.iter().map(key).collect();
        k1.sort_unstable();
        k2.sort_unstable();
        prop_assert_eq!(k1, k2);

        // Idempotent.
        let mut again = a.clone();
        sort_reading_order(&mut again);
        prop_assert_eq!(again.iter().map(key).collect::<Vec<_>>(), a.iter().map(key).collect::<Vec<_>>());

        // Independent of the input order.
        let mut shuffled = boxes.clone();
        shuffled.reverse();
        if !shuffled.is_empty() {
            let n = shuffled.len();
            shuffled.rotate_left(rot % n);
        }
        sort_reading_order(&mut shuffled);
        prop_assert_eq!(shuffled.iter().map(key).collect::<Vec<_>>(), a.iter().map(key).collect::<Vec<_>>());
    }
}
