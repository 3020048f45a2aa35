//! Helpers shared by the layout tests.
#![allow(dead_code)]

use wenzi_layout::{analyze, reading_order, Block, LineBox};

/// An axis-aligned horizontal line.
pub fn r(x0: f32, y0: f32, x1: f32, y1: f32) -> LineBox {
    LineBox::from_rect(x0, y0, x1, y1)
}

/// An axis-aligned vertical line (a column of upright characters).
pub fn v(x0: f32, y0: f32, x1: f32, y1: f32) -> LineBox {
    LineBox::vertical([[x0, y0], [x1, y0], [x1, y1], [x0, y1]])
}

/// A scrambled copy of `lines` and, for each position, the original index.
fn scrambled(lines: &[LineBox]) -> (Vec<LineBox>, Vec<usize>) {
    let mut perm: Vec<usize> = (0..lines.len()).rev().collect();
    if !perm.is_empty() {
        let n = perm.len();
        perm.rotate_left(n / 3);
    }
    (perm.iter().map(|&i| lines[i]).collect(), perm)
}

/// The reading order of `lines` (as original indices), computed on a scrambled copy so the
/// tests also check that the input order does not matter.
pub fn order_of(lines: &[LineBox]) -> Vec<usize> {
    let (s, perm) = scrambled(lines);
    let order: Vec<usize> = reading_order(&s).into_iter().map(|i| perm[i]).collect();
    assert_eq!(order, reading_order(lines), "depends on the input order");
    order
}

/// The blocks of `lines` (line indices are original ones), computed on a scrambled copy.
pub fn blocks_of(lines: &[LineBox]) -> Vec<Block> {
    let (s, perm) = scrambled(lines);
    let mut blocks = analyze(&s);
    for b in &mut blocks {
        for i in &mut b.lines {
            *i = perm[*i];
        }
    }
    assert_eq!(blocks, analyze(lines), "depends on the input order");
    blocks
}

/// The rows of a table block as line indices.
pub fn rows_of(b: &Block) -> Vec<Vec<usize>> {
    b.rows.iter().map(|r| b.lines[r.clone()].to_vec()).collect()
}

/// Rotates every corner of every line by `deg` degrees about `(cx, cy)` (a photo of a page).
pub fn rotate_page(lines: &[LineBox], deg: f32, cx: f32, cy: f32) -> Vec<LineBox> {
    let (s, c) = deg.to_radians().sin_cos();
    lines
        .iter()
        .map(|l| LineBox {
            quad: l.quad.map(|[x, y]| {
                let (dx, dy) = (x - cx, y - cy);
                [cx + dx * c - dy * s, cy + dx * s + dy * c]
            }),
            direction: l.direction,
        })
        .collect()
}

pub fn seq(n: usize) -> Vec<usize> {
    (0..n).collect()
}
