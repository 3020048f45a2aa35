//! The detectors' output order: by top edge, then left edge; total and input-order independent.

use proptest::prelude::*;
use wenzi_detect::{sort_by_position, TextBox};

fn coord() -> impl Strategy<Value = f32> {
    prop_oneof![
        8 => -50.0f32..2000.0,
        1 => Just(f32::NAN),
        1 => Just(f32::INFINITY),
        1 => Just(f32::NEG_INFINITY),
    ]
}

fn any_box() -> impl Strategy<Value = TextBox> {
    (proptest::array::uniform8(coord()), any::<f32>()).prop_map(|(c, s)| TextBox {
        points: [[c[0], c[1]], [c[2], c[3]], [c[4], c[5]], [c[6], c[7]]],
        score: s,
    })
}

fn key(b: &TextBox) -> Vec<u32> {
    b.points
        .iter()
        .flatten()
        .chain(std::iter::once(&b.score))
        .map(|v| v.to_bits())
        .collect()
}

#[test]
fn top_edge_then_left_edge() {
    let mut boxes = vec![
        TextBox::from_rect(500.0, 100.0, 900.0, 120.0, 1.0), // right column, first line
        TextBox::from_rect(40.0, 102.0, 400.0, 122.0, 1.0),  // left column, slightly lower
        TextBox::from_rect(40.0, 20.0, 900.0, 60.0, 1.0),    // title
        TextBox::from_rect(40.0, 100.0, 400.0, 120.0, 1.0),  // same top as the right one
    ];
    sort_by_position(&mut boxes);
    let firsts: Vec<[f32; 2]> = boxes.iter().map(|b| b.points[0]).collect();
    assert_eq!(
        firsts,
        vec![[40.0, 20.0], [40.0, 100.0], [500.0, 100.0], [40.0, 102.0]]
    );
}

proptest! {
    #[test]
    fn total_and_independent_of_input_order(
        boxes in proptest::collection::vec(any_box(), 0..30),
        rot in 0usize..30,
    ) {
        let mut a = boxes.clone();
        sort_by_position(&mut a);
        let mut b = boxes;
        b.reverse();
        if !b.is_empty() {
            let n = b.len();
            b.rotate_left(rot % n);
        }
        sort_by_position(&mut b);
        prop_assert_eq!(a.iter().map(key).collect::<Vec<_>>(), b.iter().map(key).collect::<Vec<_>>());
    }
}
