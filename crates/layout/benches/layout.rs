//! Criterion benches: layout analysis of a 40-line two-column page (the typical DB detector
//! output), of a 40-cell table, and of the cheap fallback above the layout cap.

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use wenzi_layout::{analyze, reading_order, LineBox};

/// Two columns of 20 slightly rotated lines each, in reverse input order.
fn two_columns() -> Vec<LineBox> {
    let (s, c) = 1.5f32.to_radians().sin_cos();
    let mut lines = Vec::new();
    for col in 0..2 {
        for i in 0..20 {
            let (cx, cy) = (240.0 + 480.0 * col as f32, 30.0 + 45.0 * i as f32);
            let p = |u: f32, v: f32| [cx + u * c - v * s, cy + u * s + v * c];
            lines.push(LineBox::horizontal([
                p(-200.0, -8.0),
                p(200.0, -8.0),
                p(200.0, 8.0),
                p(-200.0, 8.0),
            ]));
        }
    }
    lines.reverse();
    lines
}

fn table() -> Vec<LineBox> {
    let mut lines = Vec::new();
    for row in 0..10 {
        let y = 100.0 + 36.0 * row as f32;
        for (x0, x1) in [
            (48.0, 110.0),
            (145.0, 240.0),
            (283.0, 330.0),
            (370.0, 530.0),
        ] {
            lines.push(LineBox::from_rect(x0, y, x1, y + 18.0));
        }
    }
    lines.reverse();
    lines
}

fn grid(n: usize) -> Vec<LineBox> {
    (0..n)
        .map(|k| {
            let (x, y) = (10.0 + 30.0 * (k % 50) as f32, 10.0 + 20.0 * (k / 50) as f32);
            LineBox::from_rect(x, y, x + 20.0, y + 12.0)
        })
        .rev()
        .collect()
}

fn bench(c: &mut Criterion) {
    let page = two_columns();
    c.bench_function("analyze_two_columns_40_lines", |b| {
        b.iter(|| analyze(black_box(&page)))
    });
    let t = table();
    c.bench_function("analyze_table_40_cells", |b| {
        b.iter(|| analyze(black_box(&t)))
    });
    let big = grid(5000);
    c.bench_function("reading_order_fallback_5000_lines", |b| {
        b.iter(|| reading_order(black_box(&big)))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
