//! Times `Model::run` for one input shape at a given thread count and prints JSON.
//! Used by `tools/bench_vs_ort.py`.
//!
//! `cargo run --release -p wenzi-nn --example bench_shapes -- MODEL 1,3,960,960 THREADS RUNS`
//!
//! With `serve` for RUNS it stays loaded and warm: each line read from stdin is a count k,
//! answered by one line of the k run times in ms (JSON list). `bench_vs_ort.py --pairs`
//! uses it to alternate single runs with onnxruntime's, so the VM's drift hits both sides.

use std::time::Instant;

fn main() {
    let a: Vec<String> = std::env::args().collect();
    if a.len() < 5 {
        eprintln!("usage: bench_shapes MODEL SHAPE THREADS RUNS");
        std::process::exit(2);
    }
    let bytes = std::fs::read(&a[1]).expect("read model");
    let shape: Vec<usize> = a[2].split(',').map(|s| s.parse().expect("shape")).collect();
    let threads: usize = a[3].parse().expect("threads");
    let serve = a[4] == "serve";
    let runs: usize = if serve {
        0
    } else {
        a[4].parse().expect("runs")
    };
    let model = wenzi_nn::Model::load(&bytes).expect("load");
    let n: usize = shape.iter().product();
    // Deterministic pseudo-image in [-1, 1].
    let data: Vec<f32> = (0..n)
        .map(|i| ((i.wrapping_mul(2_654_435_761) >> 7) % 2001) as f32 / 1000.0 - 1.0)
        .collect();
    let x = ndarray::ArrayD::from_shape_vec(shape.clone(), data).expect("shape");
    let name = model.input_names()[0].to_string();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("pool");
    let mut times = Vec::with_capacity(runs);
    let mut cpu0 = 0.0;
    pool.install(|| {
        model
            .run(&[(name.as_str(), x.view())])
            .expect("warm-up run");
        if serve {
            serve_stdin(|| {
                let t = Instant::now();
                let out = model.run(&[(name.as_str(), x.view())]).expect("run");
                let ms = t.elapsed().as_secs_f64() * 1e3;
                std::hint::black_box(out);
                ms
            });
            return;
        }
        cpu0 = cpu_ms();
        for _ in 0..runs {
            let t = Instant::now();
            let out = model.run(&[(name.as_str(), x.view())]).expect("run");
            times.push(t.elapsed().as_secs_f64() * 1e3);
            std::hint::black_box(out);
        }
    });
    if serve {
        return;
    }
    // CPU time per run (all threads): less sensitive than wall time to other processes
    // competing for the cores.
    let cpu = (cpu_ms() - cpu0) / runs as f64;
    times.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let median = times[times.len() / 2];
    let min = times[0];
    println!("{{\"model\": \"{}\", \"shape\": \"{}\", \"threads\": {threads}, \"runs\": {runs}, \"median_ms\": {median:.3}, \"min_ms\": {min:.3}, \"cpu_ms\": {cpu:.1}}}", a[1], a[2]);
}

/// User+system CPU time of this process in ms (Linux `/proc/self/stat`; 0 elsewhere).
fn cpu_ms() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    // Fields after the parenthesized command name; utime and stime are 14th and 15th.
    let rest = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f.get(11).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0)
        + f.get(12).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    ticks * 10.0 // USER_HZ is 100 on Linux
}

/// Answers each stdin line `k` with the times of k runs, until stdin closes.
fn serve_stdin(mut run: impl FnMut() -> f64) {
    use std::io::{BufRead, Write};
    let stdin = std::io::stdin();
    let mut out = std::io::stdout();
    for line in stdin.lock().lines() {
        let Ok(k) = line.expect("stdin").trim().parse::<usize>() else {
            break;
        };
        let times: Vec<String> = (0..k).map(|_| format!("{:.4}", run())).collect();
        writeln!(out, "[{}]", times.join(", ")).expect("stdout");
        out.flush().expect("flush");
    }
}
