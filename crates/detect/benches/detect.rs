//! Criterion benches: classic detection of a rendered page, DB post-processing of a 960×960
//! probability map with 40 text lines. (Reading order is benched in `wenzi-layout`.)

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use ndarray::Array2;
use wenzi_detect::classic::{detect, ClassicParams};
use wenzi_detect::db::{postprocess, DbParams};
use wenzi_detect::preprocess::{decode, to_gray, DecodeLimits};

const PAGE_PNG: &[u8] = include_bytes!("../../../fixtures/detect/page_013.png");

/// A 960×960 map with two columns of 20 slightly rotated lines each.
fn synthetic_map() -> Array2<f32> {
    let mut map = Array2::from_elem((960, 960), 0.01f32);
    let (s, c) = 1.5f32.to_radians().sin_cos();
    for col in 0..2 {
        for i in 0..20 {
            let (cx, cy) = (240.0 + 480.0 * col as f32, 30.0 + 45.0 * i as f32);
            for y in (cy as usize).saturating_sub(20)..(cy as usize + 20).min(960) {
                for x in (cx as usize - 210)..(cx as usize + 210) {
                    let (dx, dy) = (x as f32 - cx, y as f32 - cy);
                    let (u, v) = (dx * c - dy * s, dx * s + dy * c);
                    if u.abs() < 200.0 && v.abs() < 8.0 {
                        map[[y, x]] = 0.9;
                    }
                }
            }
        }
    }
    map
}

fn bench(c: &mut Criterion) {
    let gray = to_gray(&decode(PAGE_PNG, &DecodeLimits::default()).unwrap());
    c.bench_function("classic_detect_page_1244x379", |b| {
        b.iter(|| detect(black_box(&gray), &ClassicParams::default()))
    });

    let map = synthetic_map();
    c.bench_function("db_postprocess_960x960_40_lines", |b| {
        b.iter(|| {
            postprocess(
                black_box(map.view()),
                &DbParams::default(),
                1.0,
                1.0,
                960,
                960,
            )
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
