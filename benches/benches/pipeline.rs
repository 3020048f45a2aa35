//! Hot paths between the crates: line crops, CTC decoding, and whole pages end to end.
//! Stage benches of decoding, binarization and detection live in wenzi-preprocess and
//! wenzi-detect; the networks' in wenzi-nn.

use criterion::{criterion_group, criterion_main, Criterion};
use ndarray::Array2;

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/../fixtures/images/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn crop(c: &mut Criterion) {
    let page = image::load_from_memory(&fixture("page_008.png"))
        .unwrap()
        .to_rgb8();
    let quad = [[20.0, 30.0], [620.0, 42.0], [619.0, 80.0], [19.0, 68.0]];
    c.bench_function("crop_quad 600x40 slanted", |b| {
        b.iter(|| wenzi_recognize::crop_quad(&page, &quad, 96))
    });
}

fn ctc(c: &mut Criterion) {
    let dictionary: String = (0..6623).map(|i| format!("c{i}\n")).collect();
    let charset = wenzi_recognize::Charset::from_dictionary(&dictionary).unwrap();
    let (steps, classes) = (160, charset.len());
    let scores = Array2::from_shape_fn((steps, classes), |(t, k)| {
        if k == (t * 7) % classes {
            0.9
        } else {
            0.1 / classes as f32
        }
    });
    c.bench_function("ctc greedy 160 steps x 6625 classes", |b| {
        b.iter(|| wenzi_recognize::decode_greedy(scores.view(), &charset))
    });
}

fn end_to_end(c: &mut Criterion) {
    let engine = wenzi::Engine::builder().build().unwrap();
    let mut group = c.benchmark_group("end_to_end");
    group.sample_size(10);
    for name in ["line_004.png", "page_008.png", "page_003.png"] {
        let bytes = fixture(name);
        group.bench_function(name, |b| b.iter(|| engine.recognize(&bytes).unwrap()));
    }
    group.finish();
}

criterion_group!(benches, crop, ctc, end_to_end);
criterion_main!(benches);
