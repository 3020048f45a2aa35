//! Per-node timings of one model and input shape as tab-separated lines (median of RUNS
//! profiled runs after a warm-up): `name  op  output_shape  ms  flops`. Used by
//! `tools/profile_vs_ort.py` to set them beside onnxruntime's profile.
//!
//! `cargo run --release -p wenzi-nn --example profile -- MODEL 1,3,48,320 THREADS RUNS`

fn main() {
    let a: Vec<String> = std::env::args().collect();
    if a.len() < 5 {
        eprintln!("usage: profile MODEL SHAPE THREADS RUNS");
        std::process::exit(2);
    }
    let model = wenzi_nn::Model::load(&std::fs::read(&a[1]).expect("read model")).expect("load");
    let shape: Vec<usize> = a[2].split(',').map(|s| s.parse().expect("shape")).collect();
    let threads: usize = a[3].parse().expect("threads");
    let runs: usize = a[4].parse::<usize>().expect("runs").max(1);
    let n: usize = shape.iter().product();
    let data: Vec<f32> = (0..n)
        .map(|i| ((i.wrapping_mul(2_654_435_761) >> 7) % 2001) as f32 / 1000.0 - 1.0)
        .collect();
    let x = ndarray::ArrayD::from_shape_vec(shape, data).expect("shape");
    let name = model.input_names()[0].to_string();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("pool");
    let profs: Vec<wenzi_nn::Profile> = pool.install(|| {
        model.run(&[(name.as_str(), x.view())]).expect("warm-up");
        (0..runs)
            .map(|_| {
                model
                    .run_profiled(&[(name.as_str(), x.view())])
                    .expect("run")
                    .1
            })
            .collect()
    });
    for (i, node) in profs[0].nodes.iter().enumerate() {
        let mut t: Vec<f64> = profs.iter().map(|p| p.nodes[i].seconds).collect();
        t.sort_by(f64::total_cmp);
        println!(
            "{}\t{}\t{:?}\t{:.4}\t{}",
            node.name,
            node.op,
            node.output_shape,
            t[t.len() / 2] * 1e3,
            node.flops.unwrap_or(0)
        );
    }
}
