#!/usr/bin/env python3
"""A/B timing of two builds of wenzi-nn's `bench_shapes` example, both loaded and warm in
their own processes (`bench_shapes MODEL SHAPE THREADS serve`), alternating short bursts of
runs: P pairs, each the fastest of K runs of A and of B, the order swapped every pair.

On a VM whose speed swings by ±20 % within minutes (the twentieth session's Zen 3 VM),
`tools/ab_bench.sh`'s rounds of separate processes ranged 0.76–1.22 on a change that made no
difference; these pairs, seconds apart, gave interquartile ranges of about ±0.01 (one build
against itself: 1.003, 0.988–1.015). In the VM's slowest minutes they too spread (0.86–1.30
once): rerun when the IQR is wide.

    cp target/release/examples/bench_shapes /tmp/bench_old   # before the change
    ... change, cargo build --release -p wenzi-nn --examples ...
    python3 tools/ab_pairs.py /tmp/bench_old target/release/examples/bench_shapes \\
        models/PP-OCRv6_rec_small.onnx 1,3,48,320 1 [--pairs 60] [--runs 3]

Prints each side's median, the median per-pair ratio B/A with its interquartile range, and
how many pairs B won. Standard library only.
"""

import argparse
import json
import statistics
import subprocess


class Server:
    """One `bench_shapes … serve` process: each request is a run count, each answer the
    list of those runs' times in ms."""

    def __init__(self, exe, model, shape, threads):
        self.p = subprocess.Popen(
            [exe, model, shape, str(threads), "serve"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def runs(self, k):
        self.p.stdin.write(f"{k}\n")
        self.p.stdin.flush()
        line = self.p.stdout.readline()
        if not line:
            raise SystemExit(f"bench_shapes exited (status {self.p.wait()})")
        return json.loads(line)

    def close(self):
        self.p.stdin.close()
        self.p.wait()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("a", help="bench_shapes build A (before)")
    ap.add_argument("b", help="bench_shapes build B (after)")
    ap.add_argument("model")
    ap.add_argument("shape", help="e.g. 1,3,48,320")
    ap.add_argument("threads", type=int)
    ap.add_argument("--pairs", type=int, default=60)
    ap.add_argument("--runs", type=int, default=3, help="runs per side per pair (fastest kept)")
    args = ap.parse_args()
    sides = [Server(x, args.model, args.shape, args.threads) for x in (args.a, args.b)]
    try:
        for s in sides:
            s.runs(3)  # warm-up
        ta, tb = [], []
        for i in range(args.pairs):
            order = (0, 1) if i % 2 == 0 else (1, 0)
            best = {}
            for side in order:
                best[side] = min(sides[side].runs(args.runs))
            ta.append(best[0])
            tb.append(best[1])
    finally:
        for s in sides:
            s.close()
    ratios = [b / a for a, b in zip(ta, tb)]
    q1, _, q3 = statistics.quantiles(ratios, n=4)
    print(
        f"A {statistics.median(ta):.3f} ms, B {statistics.median(tb):.3f} ms; "
        f"B/A per pair: median {statistics.median(ratios):.3f} (IQR {q1:.3f}–{q3:.3f}), "
        f"B faster in {sum(r < 1 for r in ratios)} of {len(ratios)}"
    )


if __name__ == "__main__":
    main()
