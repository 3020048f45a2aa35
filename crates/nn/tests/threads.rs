//! Results are bit-identical whatever the rayon pool size, and a `Model` can be shared
//! across threads.

mod common;

use std::sync::Arc;

fn run_in_pool(
    threads: usize,
    m: &wenzi_nn::Model,
    x: &ndarray::ArrayD<f32>,
) -> Vec<ndarray::ArrayD<f32>> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    pool.install(|| m.run(&[("x", x.view())]).unwrap())
}

#[test]
fn one_thread_pool_gives_identical_results() {
    let cases = common::cases();
    for prefix in [
        "v4_det_1x3x160x224",
        "v6_det_1x3x160x224",
        "v4_rec_2x3x48x160",
        "v6_rec_2x3x48x160",
        "cls_",
    ] {
        let case = cases.iter().find(|c| c.name.starts_with(prefix)).unwrap();
        let m = common::load(case, true);
        let x = common::read_npy(&case.inputs[0].1);
        let one = run_in_pool(1, &m, &x);
        let two = run_in_pool(2, &m, &x);
        let three = run_in_pool(3, &m, &x);
        assert!(
            one == two && two == three,
            "{}: results differ between pool sizes",
            case.name
        );
    }
}

#[test]
fn model_is_shared_across_threads() {
    let cases = common::cases();
    let case = cases
        .iter()
        .find(|c| c.name.starts_with("v4_rec_1x"))
        .unwrap();
    let m = Arc::new(common::load(case, true));
    let x = Arc::new(common::read_npy(&case.inputs[0].1));
    let want = m.run(&[("x", x.view())]).unwrap();
    let handles: Vec<_> = (0..3)
        .map(|_| {
            let (m, x) = (m.clone(), x.clone());
            std::thread::spawn(move || m.run(&[("x", x.view())]).unwrap())
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().unwrap(), want);
    }
}

#[test]
fn api_metadata_and_names() {
    let root = common::repo_root();
    let m = wenzi_nn::Model::load(
        &std::fs::read(root.join("models/ch_PP-OCRv4_rec_infer.onnx")).unwrap(),
    )
    .unwrap();
    assert_eq!(m.input_names(), vec!["x"]);
    // batch, height and width are dynamic in the file; only the 3 channels are fixed
    assert_eq!(
        m.input_shapes(),
        vec![("x", Some(&[None, Some(3), None, None][..]))]
    );
    assert_eq!(m.output_names(), vec!["softmax_11.tmp_0"]);
    let chars = m.metadata("character").unwrap();
    assert_eq!(chars.lines().count(), 6623);
    assert!(m.metadata("nope").is_none());
}
