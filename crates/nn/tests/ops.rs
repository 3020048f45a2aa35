//! Every single-op fixture against onnxruntime, with and without graph optimization.

mod common;

fn run_all(optimize: bool) {
    let cases: Vec<_> = common::cases()
        .into_iter()
        .filter(|c| c.model.to_string_lossy().contains("fixtures/nn/ops"))
        .collect();
    assert!(
        cases.len() > 40,
        "expected the op fixtures, found {}",
        cases.len()
    );
    let mut failures = Vec::new();
    for case in &cases {
        let r = std::panic::catch_unwind(|| {
            let m = common::load(case, optimize);
            common::check_case(&m, case)
        });
        if let Err(e) = r {
            let msg = e
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()));
            failures.push(format!("{}: {}", case.name, msg.unwrap_or_default()));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} op cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn op_fixtures_match_onnxruntime_optimized() {
    run_all(true);
}

#[test]
fn op_fixtures_match_onnxruntime_reference() {
    run_all(false);
}
