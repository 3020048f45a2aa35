//! The five PP-OCR models against onnxruntime at small sizes (probability outputs,
//! max |wenzi − onnxruntime| ≤ 1e-4), optimized and unoptimized.

mod common;

fn check_model(prefix: &str) {
    let cases: Vec<_> = common::cases()
        .into_iter()
        .filter(|c| c.name.starts_with(prefix))
        .collect();
    assert!(!cases.is_empty(), "no fixtures for {prefix}");
    for optimize in [true, false] {
        let m = common::load(&cases[0], optimize);
        for case in &cases {
            let worst = common::check_case(&m, case);
            eprintln!(
                "{} (optimize={optimize}): max error {:.3} of tolerance",
                case.name, worst
            );
        }
    }
}

#[test]
fn v4_det_matches_onnxruntime() {
    check_model("v4_det_");
}

#[test]
fn v6_det_matches_onnxruntime() {
    check_model("v6_det_");
}

#[test]
fn v4_rec_matches_onnxruntime() {
    check_model("v4_rec_");
}

#[test]
fn v6_rec_matches_onnxruntime() {
    check_model("v6_rec_");
}

#[test]
fn cls_matches_onnxruntime() {
    check_model("cls_");
}
