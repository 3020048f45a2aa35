#!/usr/bin/env python3
"""Times the same model/shape pairs in onnxruntime and in wenzi-nn, at 1 and 2 threads,
in one run, and prints the wenzi/onnxruntime ratio per shape (lower is better; 1.0 =
parity).

wenzi-nn is timed through crates/nn/examples/bench_shapes.rs (built in release mode
first). Both sides use the same input shapes, a warm-up run, then the median of N runs.
For one thread the table also gives the ratio of CPU time per run, which is less
disturbed by other processes on a shared machine (10 ms resolution on the wenzi side).
onnxruntime runs with its default (full) graph optimizations and the given
intra-op thread count; inter-op parallelism is off.

    ~/.cache/wenzi-peers/bin/python tools/bench_vs_ort.py [--runs N] [--threads 1,2] [--only SUBSTRING] [--ab KEY=VALUE]

--ort-daz runs onnxruntime with session.set_denormal_as_zero=1 (default: off, as shipped).
--ab KEY=VALUE also times wenzi-nn with that environment variable set (e.g.
WENZI_NN_MAX_ISA=avx2) right beside the default, so a before/after ratio comes from one run;
--ab-exe PATH does the same with another build of bench_shapes (e.g. a copy made before a
change).

--rounds R alternates the two engines R times per row (each round a warm-up and N runs of
each) and reports the median of the per-round ratios with their range: on a shared VM whose
speed drifts by tens of percent within minutes, a drift then hits both sides of each ratio.

--pairs P (the steadiest): both engines stay loaded and warm in their processes, and P single
runs of each are alternated, each after a 200 ms pause (as a service's requests come after
idle time). The pause after onnxruntime matters: its idle worker threads keep spinning after
a run, and a wenzi-nn run started 20 ms later took 1.7x as long at 2 threads. Until
2026-12-02 the pause before onnxruntime was 50 ms; the two are now the same. The ratio is the median of the P per-pair ratios, with its
interquartile range; the ms columns are each side's median. Used instead of --runs/--rounds.

Prints a Markdown table (paste into docs/performance.md).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np
import onnxruntime as ort

# The `bench_shapes … serve` client, shared with tools/ab_pairs.py (this file's directory is on
# sys.path when it runs as a script).
from ab_pairs import Server

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))

CASES = [
    ("v4 det", "ch_PP-OCRv4_det_infer.onnx", (1, 3, 960, 960)),
    ("v4 det", "ch_PP-OCRv4_det_infer.onnx", (1, 3, 736, 1280)),
    ("v4 rec", "ch_PP-OCRv4_rec_infer.onnx", (1, 3, 48, 320)),
    ("v4 rec", "ch_PP-OCRv4_rec_infer.onnx", (8, 3, 48, 320)),
    ("cls", "ch_ppocr_mobile_v2.0_cls_infer.onnx", (8, 3, 48, 192)),
    ("v6 det", "PP-OCRv6_det_small.onnx", (1, 3, 960, 960)),
    ("v6 rec", "PP-OCRv6_rec_small.onnx", (1, 3, 48, 320)),
]


def runs_for(shape, base):
    # Fewer repetitions for the big detection inputs.
    return max(3, base // 4) if shape[2] >= 700 else base


ORT_DAZ = False


def time_ort(path, shape, threads, runs):
    sess = ort_session(path, threads)
    name = sess.get_inputs()[0].name
    x = np.random.default_rng(0).uniform(-1, 1, size=shape).astype(np.float32)
    sess.run(None, {name: x})
    times = []
    cpu0 = time.process_time()
    for _ in range(runs):
        t = time.perf_counter()
        sess.run(None, {name: x})
        times.append((time.perf_counter() - t) * 1e3)
    cpu = (time.process_time() - cpu0) * 1e3 / runs
    return statistics.median(times), cpu


def ort_session(path, threads):
    """onnxruntime with full graph optimizations, `threads` intra-op threads, no inter-op."""
    so = ort.SessionOptions()
    if ORT_DAZ:
        # Flush subnormals to zero in onnxruntime too (off by default).
        so.add_session_config_entry("session.set_denormal_as_zero", "1")
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    return ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])


def time_pairs(exe, path, shape, threads, pairs):
    """Alternates single runs of both engines; returns (ort times, wenzi times)."""
    sess = ort_session(path, threads)
    name = sess.get_inputs()[0].name
    x = np.random.default_rng(0).uniform(-1, 1, size=shape).astype(np.float32)
    w = Server(exe, path, ",".join(map(str, shape)), threads)

    def wenzi_run():
        return w.runs(1)[0]

    try:
        sess.run(None, {name: x})
        wenzi_run()
        o_t, w_t = [], []
        for _ in range(pairs):
            time.sleep(0.2)
            t = time.perf_counter()
            sess.run(None, {name: x})
            o_t.append((time.perf_counter() - t) * 1e3)
            time.sleep(0.2)
            w_t.append(wenzi_run())
    finally:
        w.close()
    return o_t, w_t


def time_wenzi(exe, path, shape, threads, runs, env=None):
    out = subprocess.run([exe, path, ",".join(map(str, shape)), str(threads), str(runs)],
                         check=True, capture_output=True, text=True, env=env)
    r = json.loads(out.stdout.strip().splitlines()[-1])
    return r["median_ms"], r["cpu_ms"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--only", default="")
    ap.add_argument("--rounds", type=int, default=1,
                    help="alternate the engines this many times per row; ratio = median per-round ratio")
    ap.add_argument("--pairs", type=int, default=0,
                    help="alternate this many single runs of each engine; ratio = median per-pair ratio")
    ap.add_argument("--ab", default="", help="KEY=VALUE: also time wenzi-nn with this env var")
    ap.add_argument("--ab-exe", default="", help="also time this bench_shapes build")
    ap.add_argument("--ort-daz", action="store_true",
                    help="run onnxruntime with session.set_denormal_as_zero=1")
    args = ap.parse_args()
    global ORT_DAZ
    ORT_DAZ = args.ort_daz
    ab_env = None
    if args.ab:
        k, v = args.ab.split("=", 1)
        ab_env = dict(os.environ, **{k: v})
    elif args.ab_exe:
        ab_env = dict(os.environ)
        args.ab = os.path.basename(args.ab_exe)
    env = dict(os.environ, CARGO_TARGET_DIR=TARGET)
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "wenzi-nn", "--example", "bench_shapes"],
                   cwd=ROOT, check=True, env=env)
    exe = os.path.join(TARGET, "release", "examples", "bench_shapes")
    threads = [int(t) for t in args.threads.split(",")]
    load = " ".join(open("/proc/loadavg").read().split()[:3])
    daz = ", onnxruntime with set_denormal_as_zero" if ORT_DAZ else ""
    print(f"onnxruntime {ort.__version__}{daz}, {os.cpu_count()} CPUs; median of N runs after a warm-up run; "
          f"load average at start {load}\n")
    ab_cols = f" wenzi-nn ms with {args.ab} | ratio with {args.ab} |" if ab_env else ""
    if args.pairs:
        print(f"{args.pairs} alternating single runs per row: medians of each side, and the median "
              "(interquartile range) of the per-pair ratios\n")
        print("| model | input | threads | onnxruntime ms | wenzi-nn ms | ratio (IQR) | pairs faster |")
        print("|---|---|---:|---:|---:|---:|---:|")
        worst = 0.0
        for label, fname, shape in CASES:
            if args.only and args.only not in label + fname:
                continue
            path = os.path.join(ROOT, "models", fname)
            pairs = max(5, args.pairs // 4) if shape[2] >= 700 else args.pairs
            for t in threads:
                o_t, w_t = time_pairs(exe, path, shape, t, pairs)
                ratios = sorted(b / a for a, b in zip(o_t, w_t))
                q = statistics.quantiles(ratios, n=4)
                r = statistics.median(ratios)
                worst = max(worst, r)
                faster = sum(x < 1 for x in ratios)
                print(f"| {label} | {'x'.join(map(str, shape))} | {t} | {statistics.median(o_t):.1f} | "
                      f"{statistics.median(w_t):.1f} | {r:.2f} ({q[0]:.2f}–{q[2]:.2f}) | {faster}/{len(ratios)} |",
                      flush=True)
        load = " ".join(open("/proc/loadavg").read().split()[:3])
        print(f"\nload average at end {load}")
        print(f"\nworst ratio: {worst:.2f}", file=sys.stderr)
        return
    rounds = max(1, args.rounds)
    if rounds > 1:
        print(f"{rounds} alternating rounds per row: medians of each side, and the median (range) of "
              "the per-round ratios\n")
    print("| model | input | threads | onnxruntime ms | wenzi-nn ms | ratio | CPU-time ratio (1 thread) |" + ab_cols)
    print("|---|---|---:|---:|---:|---:|---:|" + ("---:|---:|" if ab_env else ""))
    worst = 0.0
    for label, fname, shape in CASES:
        if args.only and args.only not in label + fname:
            continue
        path = os.path.join(ROOT, "models", fname)
        runs = runs_for(shape, args.runs)
        for t in threads:
            per = []  # (ort ms, ort cpu, wenzi ms, wenzi cpu, ab ms) per round
            for _ in range(rounds):
                o, ocpu = time_ort(path, shape, t, runs)
                wb = time_wenzi(args.ab_exe or exe, path, shape, t, runs, ab_env)[0] if ab_env else 0.0
                w, wcpu = time_wenzi(exe, path, shape, t, runs)
                per.append((o, ocpu, w, wcpu, wb))
            med = statistics.median
            o, w = med(p[0] for p in per), med(p[2] for p in per)
            ratios = [p[2] / p[0] for p in per]
            ratio = med(ratios)
            worst = max(worst, ratio)
            shown = f"{ratio:.2f}" if rounds == 1 else f"{ratio:.2f} ({min(ratios):.2f}–{max(ratios):.2f})"
            extra = ""
            if ab_env:
                wb = med(p[4] for p in per)
                extra = f" {wb:.1f} | {med(p[4] / p[0] for p in per):.2f} |"
            # With one thread, CPU time is a second opinion that ignores time lost to
            # other processes (onnxruntime's spinning worker threads make it meaningless
            # for more threads).
            cpu = ""
            if t == 1 and all(p[1] > 0 and p[3] > 0 for p in per):
                cpu = f"{med(p[3] / p[1] for p in per):.2f}"
            print(f"| {label} | {'x'.join(map(str, shape))} | {t} | {o:.1f} | {w:.1f} | {shown} | {cpu} |{extra}",
                  flush=True)
    load = " ".join(open("/proc/loadavg").read().split()[:3])
    print(f"\nload average at end {load}")
    print(f"\nworst ratio: {worst:.2f}", file=sys.stderr)


if __name__ == "__main__":
    main()
