//! In-process A/B timing of one load-time pass (`bands`, `concat`, `convt`): loads the
//! model twice, once with the pass switched off by `WENZI_NN_SKIP` (A) and once as usual
//! (B), checks both give the same outputs, then alternates single runs A, B, A, B… so that
//! both sides of every pair see the same machine state (this VM's speed drifts by ±20 %
//! over seconds). Prints both medians, the median of the per-pair ratios B/A, and in how
//! many pairs B was faster.
//!
//! `cargo run --release -p wenzi-nn --example ab_pass -- PASS MODEL 1,3,960,960 THREADS PAIRS`

use std::time::Instant;

fn main() {
    let a: Vec<String> = std::env::args().collect();
    if a.len() < 6 {
        eprintln!("usage: ab_pass PASS MODEL SHAPE THREADS PAIRS");
        std::process::exit(2);
    }
    let pass = &a[1];
    let bytes = std::fs::read(&a[2]).expect("read model");
    let shape: Vec<usize> = a[3].split(',').map(|s| s.parse().expect("shape")).collect();
    let threads: usize = a[4].parse().expect("threads");
    let pairs: usize = a[5].parse().expect("pairs");
    // SAFETY: no other thread exists yet that could read the environment concurrently.
    unsafe { std::env::set_var("WENZI_NN_SKIP", pass) };
    let plain = wenzi_nn::Model::load(&bytes).expect("load");
    // SAFETY: as above.
    unsafe { std::env::remove_var("WENZI_NN_SKIP") };
    let fused = wenzi_nn::Model::load(&bytes).expect("load");
    let n: usize = shape.iter().product();
    let data: Vec<f32> = (0..n)
        .map(|i| ((i.wrapping_mul(2_654_435_761) >> 7) % 2001) as f32 / 1000.0 - 1.0)
        .collect();
    let x = ndarray::ArrayD::from_shape_vec(shape, data).expect("shape");
    let name = plain.input_names()[0].to_string();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("pool");
    let (mut ta, mut tb, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    pool.install(|| {
        let run = |m: &wenzi_nn::Model| {
            let t = Instant::now();
            let out = m.run(&[(name.as_str(), x.view())]).expect("run");
            std::hint::black_box(out);
            t.elapsed().as_secs_f64() * 1e3
        };
        let (wa, wb) = (run(&plain), run(&fused));
        let same = plain.run(&[(name.as_str(), x.view())]).expect("run")
            == fused.run(&[(name.as_str(), x.view())]).expect("run");
        eprintln!("warm-up A {wa:.1} ms, B {wb:.1} ms; same outputs: {same}");
        for i in 0..pairs {
            // Alternate which side goes first, so that neither always runs on a cache
            // the other warmed.
            let (x, y) = if i % 2 == 0 {
                let x = run(&plain);
                (x, run(&fused))
            } else {
                let y = run(&fused);
                (run(&plain), y)
            };
            ta.push(x);
            tb.push(y);
            ratios.push(y / x);
        }
    });
    let med = |v: &mut Vec<f64>| {
        v.sort_by(|a, b| a.total_cmp(b));
        v[v.len() / 2]
    };
    let faster = ratios.iter().filter(|r| **r < 1.0).count();
    println!(
        "A (without {pass}) {:.1} ms, B (with) {:.1} ms; B/A per pair: median {:.3}, B faster in {faster} of {pairs}",
        med(&mut ta),
        med(&mut tb),
        med(&mut ratios)
    );
}
