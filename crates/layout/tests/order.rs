//! Reading order on hand-made layouts (moved from `wenzi-detect`'s `sort_reading_order`).

mod common;

use common::{order_of, r, seq};
use wenzi_layout::LineBox;

#[test]
fn single_column_reads_top_to_bottom() {
    let lines: Vec<LineBox> = (0..6)
        .map(|i| {
            r(
                20.0,
                20.0 + 30.0 * i as f32,
                500.0 - 30.0 * i as f32,
                42.0 + 30.0 * i as f32,
            )
        })
        .collect();
    assert_eq!(order_of(&lines), seq(6));
}

#[test]
fn words_in_a_row_read_left_to_right_even_with_jitter() {
    let lines = vec![
        r(10.0, 100.0, 80.0, 120.0),
        r(90.0, 102.0, 150.0, 121.0),
        r(160.0, 98.0, 260.0, 119.0),
    ];
    assert_eq!(order_of(&lines), vec![0, 1, 2]);
}

#[test]
fn two_columns_with_aligned_rows_and_a_title() {
    // Rows line up across the gutter (same font, same pitch) and the paragraph break is at the
    // same height in both columns: a naive XY-cut would interleave the columns.
    let mut lines = vec![r(40.0, 20.0, 800.0, 60.0)];
    for (i, y) in [100.0, 135.0, 170.0, 230.0, 265.0].iter().enumerate() {
        lines.push(r(40.0, *y, 540.0 - 10.0 * i as f32, y + 24.0));
    }
    for y in [100.0, 135.0, 170.0, 230.0, 265.0] {
        lines.push(r(620.0, y, 1120.0, y + 24.0));
    }
    lines.push(r(40.0, 320.0, 1100.0, 344.0)); // full-width footer
    assert_eq!(order_of(&lines), seq(12));
}

#[test]
fn side_menu_then_content() {
    let mut lines = vec![r(20.0, 10.0, 100.0, 40.0)]; // top bar title
    for i in 0..8 {
        lines.push(r(
            20.0,
            80.0 + 41.0 * i as f32,
            90.0,
            96.0 + 41.0 * i as f32,
        )); // menu
    }
    lines.push(r(245.0, 75.0, 490.0, 106.0)); // content title
    for i in 0..4 {
        let y = 141.0 + 50.0 * i as f32;
        lines.push(r(245.0, y, 330.0, y + 18.0)); // label
        lines.push(r(1270.0, y, 1330.0, y + 18.0)); // value, same row
    }
    assert_eq!(order_of(&lines), seq(lines.len()));
}

#[test]
fn table_rows_read_left_to_right() {
    let mut lines = Vec::new();
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
            lines.push(r(x0, a, x1, b));
        }
    }
    assert_eq!(order_of(&lines), seq(20));
}

#[test]
fn chat_bubbles_read_in_time_order() {
    let lines = vec![
        r(380.0, 18.0, 420.0, 40.0),   // header
        r(529.0, 93.0, 714.0, 112.0),  // right
        r(385.0, 139.0, 414.0, 149.0), // time stamp
        r(76.0, 176.0, 196.0, 195.0),  // left
        r(76.0, 210.0, 220.0, 229.0),  // left
        r(475.0, 250.0, 724.0, 272.0), // right
        r(536.0, 284.0, 713.0, 303.0), // right
        r(90.0, 330.0, 300.0, 350.0),  // left
    ];
    assert_eq!(order_of(&lines), seq(8));
}

#[test]
fn skewed_two_column_page() {
    // Lines tilted by 5°: their bounding rectangles overlap vertically, but the columns and the
    // line order must still come out right.
    let (s, c) = 5f32.to_radians().sin_cos();
    let quad = |x: f32, y: f32, w: f32, h: f32| {
        let p = |dx: f32, dy: f32| [x + dx * c + dy * s, y - dx * s + dy * c];
        LineBox::horizontal([p(0.0, 0.0), p(w, 0.0), p(w, h), p(0.0, h)])
    };
    let mut lines = Vec::new();
    for i in 0..6 {
        lines.push(quad(40.0, 100.0 + 30.0 * i as f32, 400.0, 20.0));
    }
    for i in 0..6 {
        lines.push(quad(520.0, 60.0 + 30.0 * i as f32, 400.0, 20.0));
    }
    assert_eq!(order_of(&lines), seq(12));
}

/// Boxes the classic detector finds on `fixtures/detect/page_003.png`: a two-column poem whose
/// columns break lines differently, so only some rows line up across the gutter.
#[test]
fn poem_page_with_uneven_columns() {
    let lines = vec![
        r(43.5, 47.5, 231.6, 68.6),
        r(351.5, 47.5, 525.5, 68.6),
        r(43.5, 73.4, 231.6, 94.6),
        r(352.5, 73.4, 525.5, 94.6),
        r(352.5, 98.4, 525.5, 119.6),
        r(42.8, 98.8, 142.2, 117.2),
        r(352.5, 124.4, 525.5, 145.6),
        r(50.8, 136.8, 143.2, 155.2),
        r(352.5, 150.4, 525.5, 171.6),
        r(43.8, 162.8, 120.2, 181.2),
        r(351.5, 175.4, 525.5, 196.6),
        r(43.5, 187.4, 216.6, 208.6),
    ];
    assert_eq!(order_of(&lines), vec![0, 2, 5, 7, 9, 11, 1, 3, 4, 6, 8, 10]);
}

/// Boxes the classic detector finds on `fixtures/detect/page_013.png`: a title across two
/// prose columns whose rows line up.
#[test]
fn rendered_two_column_page() {
    let lines = vec![
        r(54.8, 63.8, 810.2, 108.2),
        r(653.5, 131.6, 1183.4, 160.4),
        r(55.8, 132.9, 547.2, 159.1),
        r(56.4, 166.4, 563.6, 196.6),
        r(653.5, 167.6, 1179.4, 196.4),
        r(54.8, 202.9, 90.2, 229.1),
        r(656.8, 202.9, 997.2, 229.1),
        r(56.4, 254.4, 577.6, 284.6),
        r(655.8, 255.9, 1187.2, 282.1),
        r(56.4, 289.4, 588.6, 319.6),
        r(654.7, 289.7, 1150.3, 317.3),
    ];
    assert_eq!(order_of(&lines), vec![0, 2, 3, 5, 7, 9, 1, 4, 6, 8, 10]);
}
