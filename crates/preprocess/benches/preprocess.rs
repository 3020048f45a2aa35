//! Criterion benches for the preprocessing stages on a rendered page (1244×379 two-column
//! fixture) and a synthetic 1280×960 page.

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use wenzi_preprocess::*;

const PAGE_PNG: &[u8] = include_bytes!("../../../fixtures/detect/page_013.png");

fn bench(c: &mut Criterion) {
    let limits = DecodeLimits::default();
    c.bench_function("decode_page_png", |b| {
        b.iter(|| decode(black_box(PAGE_PNG), &limits).unwrap())
    });

    let rgb = decode(PAGE_PNG, &limits).unwrap();
    let big = resize_rgb(&rgb, 1280, 960);
    let gray = to_gray(&big);
    c.bench_function("to_gray_1280x960", |b| b.iter(|| to_gray(black_box(&big))));
    c.bench_function("otsu_1280x960", |b| b.iter(|| otsu(black_box(&gray))));
    c.bench_function("sauvola_1280x960_w31", |b| {
        b.iter(|| sauvola(black_box(&gray), &SauvolaParams::default()))
    });
    c.bench_function("estimate_skew_1280x960", |b| {
        b.iter(|| estimate_skew(black_box(&gray)))
    });
    c.bench_function("resize_rgb_1280x960_to_960x736", |b| {
        b.iter(|| resize_rgb(black_box(&big), 960, 736))
    });
    c.bench_function("det_input_size_adaptive_1280x960", |b| {
        b.iter(|| det_input_size(black_box(&big), &DetResizePolicy::default()))
    });
    c.bench_function("to_nchw_960x736", |b| {
        let small = resize_rgb(&big, 960, 736);
        b.iter(|| to_nchw(black_box(&small), [0.5; 3], [0.5; 3], ChannelOrder::Bgr))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
