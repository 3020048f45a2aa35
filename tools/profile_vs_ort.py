#!/usr/bin/env python3
"""Node-by-node profile of one model and input shape: onnxruntime (SessionOptions.
enable_profiling) beside wenzi-nn (crates/nn/examples/profile.rs), in one run.

Both sides: a warm-up run, then N profiled runs; per node the median time. Nodes are
matched by name (both engines fuse nodes and keep the first node's name, so fused groups
usually line up; unmatched nodes are listed on their own). Also prints the per-op-type
totals of each engine. Times under load are noisy: compare the two columns, which come
from the same run.

    ~/.cache/wenzi-peers/bin/python tools/profile_vs_ort.py models/PP-OCRv6_rec_small.onnx 1,3,48,320 [--threads 1] [--runs 10] [--top 25]
"""

import argparse
import collections
import json
import os
import statistics
import subprocess
import tempfile

import numpy as np
import onnxruntime as ort

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))


def ort_profile(path, shape, threads, runs):
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    tmp = tempfile.mkdtemp()
    so.enable_profiling = True
    so.profile_file_prefix = os.path.join(tmp, "ort")
    sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    x = np.random.default_rng(0).uniform(-1, 1, size=shape).astype(np.float32)
    sess.run(None, {name: x})
    for _ in range(runs):
        sess.run(None, {name: x})
    events = json.load(open(sess.end_profiling()))
    per = collections.defaultdict(list)
    ops = {}
    order = []
    for e in events:
        if e.get("cat") != "Node" or not e["name"].endswith("_kernel_time"):
            continue
        n = e["name"][: -len("_kernel_time")]
        if n not in ops:
            order.append(n)
        per[n].append(e["dur"] / 1e3)
        ops[n] = e.get("args", {}).get("op_name", "?")
    # Drop the warm-up run (the first sample of every node).
    return {n: (ops[n], statistics.median(per[n][1:] or per[n])) for n in order}, order


def wenzi_profile(path, shape, threads, runs):
    env = dict(os.environ, CARGO_TARGET_DIR=TARGET)
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "wenzi-nn", "--example", "profile"],
                   cwd=ROOT, check=True, env=env)
    exe = os.path.join(TARGET, "release", "examples", "profile")
    out = subprocess.run([exe, path, ",".join(map(str, shape)), str(threads), str(runs)],
                         check=True, capture_output=True, text=True).stdout
    nodes = {}
    order = []
    for line in out.splitlines():
        name, op, oshape, ms, flops = line.split("\t")
        nodes[name] = (op, float(ms), oshape, int(flops))
        order.append(name)
    return nodes, order


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("shape")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--top", type=int, default=25)
    a = ap.parse_args()
    shape = tuple(int(s) for s in a.shape.split(","))
    load = open("/proc/loadavg").read().split()[:3]
    o, _ = ort_profile(a.model, shape, a.threads, a.runs)
    w, _ = wenzi_profile(a.model, shape, a.threads, a.runs)
    load2 = open("/proc/loadavg").read().split()[:3]
    ot = sum(v[1] for v in o.values())
    wt = sum(v[1] for v in w.values())
    print(f"{a.model} {a.shape}, {a.threads} thread(s), median of {a.runs} profiled runs; "
          f"load average {' '.join(load)} → {' '.join(load2)}")
    print(f"sum of node times: onnxruntime {ot:.2f} ms ({len(o)} nodes), "
          f"wenzi-nn {wt:.2f} ms ({len(w)} nodes), ratio {wt / ot:.2f}\n")
    print("| node | wenzi op | output | wenzi ms | ort op | ort ms | Δ ms |")
    print("|---|---|---|---:|---|---:|---:|")
    names = sorted(set(o) | set(w), key=lambda n: -max(w.get(n, (0, 0))[1], o.get(n, (0, 0))[1]))
    for n in names[: a.top]:
        wo, wms, wsh, _ = w.get(n, ("–", 0.0, "", 0))
        oo, oms = o.get(n, ("–", 0.0))
        print(f"| {n} | {wo} | {wsh} | {wms:.3f} | {oo} | {oms:.3f} | {wms - oms:+.3f} |")
    for label, d, idx in (("onnxruntime", o, 0), ("wenzi-nn", w, 1)):
        agg = collections.defaultdict(lambda: [0.0, 0])
        for v in d.values():
            agg[v[0]][0] += v[1]
            agg[v[0]][1] += 1
        print(f"\n{label} by op type:\n")
        print("| op | nodes | ms |")
        print("|---|---:|---:|")
        for op, (ms, c) in sorted(agg.items(), key=lambda kv: -kv[1][0]):
            print(f"| {op} | {c} | {ms:.2f} |")


if __name__ == "__main__":
    main()
