//! Criterion benches of whole-model inference at the shapes the OCR pipeline uses.
//!
//! `CARGO_TARGET_DIR=/work/target-nn cargo bench -p wenzi-nn --bench nn`
//! (uses the global rayon pool; set `RAYON_NUM_THREADS=1` for single-thread numbers).
//! For a side-by-side with onnxruntime use `tools/bench_vs_ort.py`.

use criterion::{criterion_group, criterion_main, Criterion};
use ndarray::{ArrayD, IxDyn};
use std::path::Path;
use std::time::Duration;

fn load(name: &str) -> wenzi_nn::Model {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../models")
        .join(name);
    wenzi_nn::Model::load(&std::fs::read(&path).expect("model file")).expect("load")
}

fn input(shape: &[usize]) -> ArrayD<f32> {
    let n: usize = shape.iter().product();
    let data = (0..n)
        .map(|i| ((i.wrapping_mul(2_654_435_761) >> 7) % 2001) as f32 / 1000.0 - 1.0)
        .collect();
    ArrayD::from_shape_vec(IxDyn(shape), data).expect("shape")
}

fn bench(c: &mut Criterion) {
    let cases: &[(&str, &str, &[usize])] = &[
        (
            "v4_det_960x960",
            "ch_PP-OCRv4_det_infer.onnx",
            &[1, 3, 960, 960],
        ),
        (
            "v4_det_736x1280",
            "ch_PP-OCRv4_det_infer.onnx",
            &[1, 3, 736, 1280],
        ),
        (
            "v4_rec_1x48x320",
            "ch_PP-OCRv4_rec_infer.onnx",
            &[1, 3, 48, 320],
        ),
        (
            "v4_rec_8x48x320",
            "ch_PP-OCRv4_rec_infer.onnx",
            &[8, 3, 48, 320],
        ),
        (
            "cls_8x48x192",
            "ch_ppocr_mobile_v2.0_cls_infer.onnx",
            &[8, 3, 48, 192],
        ),
        (
            "v6_det_960x960",
            "PP-OCRv6_det_small.onnx",
            &[1, 3, 960, 960],
        ),
        (
            "v6_rec_1x48x320",
            "PP-OCRv6_rec_small.onnx",
            &[1, 3, 48, 320],
        ),
    ];
    let mut g = c.benchmark_group("wenzi-nn");
    g.sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    for (id, file, shape) in cases {
        let model = load(file);
        let x = input(shape);
        let name = model.input_names()[0].to_string();
        g.bench_function(*id, |b| {
            b.iter(|| model.run(&[(name.as_str(), x.view())]).expect("run"))
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
