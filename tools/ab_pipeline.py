#!/usr/bin/env python3
"""A/B timing of two builds of the wenzi CLI on eval sets, for machines whose speed drifts.

    cp target/release/wenzi /tmp/wenzi_old        # before the change
    ... change, cargo build --release -p wenzi-cli ...
    python3 tools/ab_pipeline.py /tmp/wenzi_old target/release/wenzi vertical,rotated --rounds 4

Each round runs both builds over every image of a set (one process per build, `--jsonl`),
in alternating order, and takes the median of the per-image `ms` each page reports (what
`peer_eval.py --ours-batch` scores). The ratio B/A is taken per round, so a drift that lasts
minutes hits both sides of every ratio; the median ratio and its range are printed. With
`--texts`, the runs also check that both builds read the same lines on every image, and
name the images that differ. Sets are folders of `../shared/eval` (or any path).
Standard library only.
"""
import argparse
import glob
import json
import os
import statistics
import subprocess
import sys


def images(folder):
    exts = ("*.png", "*.jpg", "*.jpeg", "*.bmp", "*.webp")
    return sorted(p for e in exts for p in glob.glob(os.path.join(folder, e)))


def run(binary, paths):
    out = subprocess.run([binary, "--jsonl", *paths], capture_output=True, text=True)
    pages = [json.loads(l) for l in out.stdout.splitlines() if l.startswith("{")]
    if len(pages) != len(paths):
        sys.exit(f"{binary}: {len(pages)} pages for {len(paths)} images\n{out.stderr[-2000:]}")
    return pages


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("a")
    ap.add_argument("b")
    ap.add_argument("sets", help="comma-separated: names under ../shared/eval, or folders")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--texts", action="store_true", help="also compare the lines read")
    args = ap.parse_args()
    for name in args.sets.split(","):
        folder = name if os.path.isdir(name) else os.path.join("..", "shared", "eval", name)
        paths = images(folder)
        if not paths:
            sys.exit(f"no images in {folder}")
        ratios = []
        for r in range(args.rounds):
            order = (args.a, args.b) if r % 2 == 0 else (args.b, args.a)
            pages = {binary: run(binary, paths) for binary in order}
            med = {k: statistics.median(p["ms"] for p in v) for k, v in pages.items()}
            ratios.append(med[args.b] / med[args.a])
            print(f"{name} round {r}: A {med[args.a]:.0f} ms, B {med[args.b]:.0f} ms, "
                  f"B/A {ratios[-1]:.3f}", flush=True)
            if args.texts and r == 0:
                texts = lambda p: [l["text"] for l in p["lines"]]
                differ = [os.path.basename(x["file"]) for x, y in
                          zip(pages[args.a], pages[args.b]) if texts(x) != texts(y)]
                print(f"{name}: {len(differ)} of {len(paths)} images read differently"
                      + (f": {', '.join(differ)}" if differ else ""))
        print(f"{name}: median B/A {statistics.median(ratios):.3f} "
              f"({min(ratios):.3f}..{max(ratios):.3f}), B faster in "
              f"{sum(x < 1 for x in ratios)} of {len(ratios)} rounds")


if __name__ == "__main__":
    main()
