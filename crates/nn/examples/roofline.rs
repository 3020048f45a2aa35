//! Roofline report: this machine's measured fp32 FMA peak and memory bandwidth, then for
//! each model and input shape its FLOPs (counted from the graph), achieved GFLOP/s, % of
//! the measured peak and the slowest nodes. Prints Markdown.
//!
//! ```sh
//! cargo run --release -p wenzi-nn --example roofline -- [--threads N] [--runs R] [--top K] \
//!     [MODEL.onnx SHAPE ...]
//! ```
//!
//! Without MODEL/SHAPE pairs it reports the shapes of `docs/performance.md`. Times are
//! medians of R runs after a warm-up; the top-nodes table comes from one profiled run at
//! one thread (`Model::run_profiled`).

use std::time::Instant;
use wenzi_nn::roofline::{self, Isa};

const CASES: &[(&str, &str, &str)] = &[
    ("v4 det", "ch_PP-OCRv4_det_infer.onnx", "1,3,960,960"),
    ("v4 det", "ch_PP-OCRv4_det_infer.onnx", "1,3,736,1280"),
    ("v4 rec", "ch_PP-OCRv4_rec_infer.onnx", "1,3,48,320"),
    ("v4 rec", "ch_PP-OCRv4_rec_infer.onnx", "8,3,48,320"),
    ("cls", "ch_ppocr_mobile_v2.0_cls_infer.onnx", "8,3,48,192"),
    ("v6 det", "PP-OCRv6_det_small.onnx", "1,3,960,960"),
    ("v6 rec", "PP-OCRv6_rec_small.onnx", "1,3,48,320"),
];

fn main() {
    let mut threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut runs = 5usize;
    let mut top = 8usize;
    let mut pairs: Vec<(String, String, String)> = Vec::new();
    let mut args = std::env::args().skip(1);
    let mut positional = Vec::new();
    while let Some(a) = args.next() {
        let mut num = |what: &str| -> usize {
            args.next()
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("{what} needs a number"))
        };
        match a.as_str() {
            "--threads" => threads = num("--threads").max(1),
            "--runs" => runs = num("--runs").max(1),
            "--top" => top = num("--top"),
            _ => positional.push(a),
        }
    }
    if positional.len() % 2 != 0 {
        eprintln!("usage: roofline [--threads N] [--runs R] [--top K] [MODEL.onnx SHAPE ...]");
        std::process::exit(2);
    }
    for p in positional.chunks(2) {
        let label = std::path::Path::new(&p[0])
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        pairs.push((label, p[0].clone(), p[1].clone()));
    }
    if pairs.is_empty() {
        let models = concat!(env!("CARGO_MANIFEST_DIR"), "/../../models");
        pairs = CASES
            .iter()
            .map(|(l, f, s)| (l.to_string(), format!("{models}/{f}"), s.to_string()))
            .collect();
    }
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "load average at start: {}\n",
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );

    // --- Machine limits -------------------------------------------------------------
    let tcounts: Vec<usize> = if threads > 1 {
        vec![1, threads]
    } else {
        vec![1]
    };
    println!("## Machine peak (own kernels)\n");
    println!("| kernel | threads | GFLOP/s |");
    println!("|---|---:|---:|");
    // Peak of the widest ISA the engine's GEMM uses (AVX-512 when present, else AVX2+FMA)
    // at 1 and N threads; the narrower kernels are printed for reference.
    let engine_isa = [Isa::Avx512, Isa::Avx2Fma]
        .into_iter()
        .find(|i| i.available())
        .unwrap_or(Isa::Portable);
    let mut peak = Vec::new();
    for isa in [Isa::Avx512, Isa::Avx2Fma, Isa::Portable] {
        if !isa.available() || (isa == Isa::Portable && engine_isa != Isa::Portable) {
            continue;
        }
        for &t in &tcounts {
            let g = roofline::peak_gflops(isa, t, 20_000_000, 5);
            if isa == engine_isa {
                peak.push((t, g));
            }
            println!(
                "| {isa:?} FMA, {} accumulators | {t} | {g:.1} |",
                roofline::ACC
            );
        }
    }
    let n = 32 << 20; // 3 × 128 MiB: far beyond any cache
    for &t in &tcounts {
        let gbs = roofline::triad_gbs(n, t, 5);
        println!("| STREAM triad, 3 × 128 MiB (GB/s) | {t} | {gbs:.1} |");
    }
    // The GEMM micro-kernel with B from each cache level, alone and on every thread at
    // once: what the cores share (GFLOP/s per thread).
    let most = tcounts.iter().copied().max().unwrap_or(1);
    println!("\n| GEMM kernel, B per thread in | 1 thread | {most} threads at once (each) |");
    println!("|---|---:|---:|");
    for (what, bytes) in [
        ("L1 (16 KiB)", 16 << 10),
        ("L2 (384 KiB)", 384 << 10),
        ("L3 (4 MiB)", 4 << 20),
        ("DRAM (64 MiB)", 64 << 20),
    ] {
        let one = roofline::kernel_stream_gflops(bytes, 1, 0.5)[0];
        let all = roofline::kernel_stream_gflops(bytes, most, 0.5);
        let all: Vec<String> = all.iter().map(|g| format!("{g:.1}")).collect();
        println!("| {what} | {one:.1} | {} |", all.join(", "));
    }
    let peak_at = |t: usize| peak.iter().find(|p| p.0 == t).map_or(f64::NAN, |p| p.1);
    println!(
        "\n% of peak below is against the {engine_isa:?} peak at the same thread count (the \
         widest kernel the engine's GEMM runs here).\n"
    );

    // --- Models -----------------------------------------------------------------------
    println!("## Models\n");
    println!(
        "| model | input | GFLOP | threads | median ms | GFLOP/s | % of peak | counted ops' share of time |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|");
    let mut tops = Vec::new();
    for (label, path, shape) in &pairs {
        let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let model = wenzi_nn::Model::load(&bytes).expect("load");
        let dims: Vec<usize> = shape
            .split(',')
            .map(|s| s.parse().expect("shape"))
            .collect();
        let len: usize = dims.iter().product();
        let data: Vec<f32> = (0..len)
            .map(|i| ((i.wrapping_mul(2_654_435_761) >> 7) % 2001) as f32 / 1000.0 - 1.0)
            .collect();
        let x = ndarray::ArrayD::from_shape_vec(dims.clone(), data).expect("shape");
        let name = model.input_names()[0].to_string();
        let feeds = [(name.as_str(), x.view())];
        let mut prof1 = None;
        for &t in &tcounts {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(t)
                .build()
                .expect("pool");
            let (ms, prof) = pool.install(|| {
                model.run(&feeds).expect("warm-up");
                let mut times: Vec<f64> = (0..runs)
                    .map(|_| {
                        let t0 = Instant::now();
                        std::hint::black_box(model.run(&feeds).expect("run"));
                        t0.elapsed().as_secs_f64() * 1e3
                    })
                    .collect();
                times.sort_by(f64::total_cmp);
                let prof = model.run_profiled(&feeds).expect("profiled run").1;
                (times[times.len() / 2], prof)
            });
            let flops = prof.flops() as f64;
            let gflops = flops / (ms * 1e6);
            let counted: f64 = prof
                .nodes
                .iter()
                .filter(|n| n.flops.is_some())
                .map(|n| n.seconds)
                .sum();
            println!(
                "| {label} | {} | {:.2} | {t} | {ms:.1} | {gflops:.1} | {:.0} % | {:.0} % |",
                shape.replace(',', "×"),
                flops / 1e9,
                100.0 * gflops / peak_at(t),
                100.0 * counted / prof.seconds()
            );
            if t == 1 {
                prof1 = Some(prof);
            }
        }
        if let Some(p) = prof1 {
            tops.push((label.clone(), shape.clone(), p));
        }
    }

    // --- Top nodes (1 thread) ------------------------------------------------------------
    if top > 0 {
        let p1 = peak_at(1);
        for (label, shape, prof) in &tops {
            let total = prof.seconds();
            println!(
                "\n### {label} {}: top {top} nodes, 1 thread (profiled run {:.1} ms)\n",
                shape.replace(',', "×"),
                total * 1e3
            );
            println!("| op | node | output | ms | % of run | GFLOP/s | % of peak |");
            println!("|---|---|---|---:|---:|---:|---:|");
            for n in prof.top(top) {
                let (g, pct) = match n.flops {
                    Some(f) => {
                        let g = f as f64 / n.seconds / 1e9;
                        (format!("{g:.1}"), format!("{:.0} %", 100.0 * g / p1))
                    }
                    None => ("–".into(), "–".into()),
                };
                println!(
                    "| {} | {} | {:?} | {:.2} | {:.1} % | {g} | {pct} |",
                    n.op,
                    n.name,
                    n.output_shape,
                    n.seconds * 1e3,
                    100.0 * n.seconds / total
                );
            }
            println!("\nby op type:\n");
            println!("| op | nodes | ms | % of run |");
            println!("|---|---:|---:|---:|");
            for (op, s, c) in prof.by_op().into_iter().take(top) {
                println!(
                    "| {op} | {c} | {:.2} | {:.1} % |",
                    s * 1e3,
                    100.0 * s / total
                );
            }
        }
    }
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "\nload average at end: {}",
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
}
