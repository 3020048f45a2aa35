#!/usr/bin/env python3
"""wenzi's Python API against rapidocr_onnxruntime, same images, one run.

Each engine runs in its own child process (so peak memory is its own): it loads, is warmed up
on one image outside the set, then reads every image by path (decode included on both sides)
and reports per-image seconds, the lines, its RSS after loading and its peak RSS
(getrusage, no psutil). Accuracy uses ../shared/tools/peer_eval.py's normalization and
metrics (NFKC, whitespace removed, lines joined; micro-CER over complete=true images, exact
images, line hits; substring recall for complete=false images).

    PY=~/.cache/wenzi-peers/bin/python   # has rapidocr_onnxruntime (shared/tools/setup_peers.sh)
    # a venv with the wenzi wheel: maturin build --release -m crates/python/Cargo.toml, pip install
    $PY tools/python_vs_rapidocr.py ../shared/eval/real [../shared/eval/synth ...] \\
        --wenzi-python /path/to/venv/bin/python [--threads 2] [--engines wenzi,rapidocr]
        [--limit N] [--out results.json]

Engines: wenzi (PP-OCRv4, wenzi.Engine defaults), wenzi_v6 (models="v6"), rapidocr
(rapidocr_onnxruntime.RapidOCR, PP-OCRv4 on onnxruntime). Threads: wenzi.Engine(threads=N)
and onnxruntime intra_op_num_threads=N, inter_op_num_threads=1 (as peer_eval.py does).
Run it on an idle machine: the times and memory are the point.
"""

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
import unicodedata


def norm(s):
    return "".join(unicodedata.normalize("NFKC", s).split())


def distance(a, b):
    try:
        from rapidfuzz.distance import Levenshtein

        return Levenshtein.distance(a, b)
    except ImportError:
        prev = list(range(len(b) + 1))
        for i, ca in enumerate(a, 1):
            cur = [i]
            for j, cb in enumerate(b, 1):
                cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
            prev = cur
        return prev[-1]


def load_set(d, limit):
    with open(os.path.join(d, "gt.jsonl"), encoding="utf-8") as f:
        items = [json.loads(l) for l in f if l.strip()]
    return items[:limit] if limit else items


def rss_kib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


# ---- child side: one engine, reads {"paths": [...], "warmup": path} on stdin ----


def make_engine(name, threads):
    if name in ("wenzi", "wenzi_v6"):
        import wenzi

        eng = wenzi.Engine(models="v6" if name == "wenzi_v6" else "v4", threads=threads)
        return lambda path: eng.recognize(path).texts()
    if name == "rapidocr":
        import logging

        logging.disable(logging.INFO)
        from rapidocr_onnxruntime import RapidOCR

        eng = RapidOCR(intra_op_num_threads=threads, inter_op_num_threads=1)

        def run(path):
            res, _ = eng(path)
            return [r[1] for r in (res or [])]

        return run
    sys.exit(f"unknown engine {name}")


def child(name, threads):
    job = json.load(sys.stdin)
    t = time.perf_counter()
    run = make_engine(name, threads)
    load_s = time.perf_counter() - t
    loaded = rss_kib()
    run(job["warmup"])
    preds = []
    for path in job["paths"]:
        t = time.perf_counter()
        lines = run(path)
        preds.append([lines, time.perf_counter() - t])
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    json.dump({"preds": preds, "load_s": load_s, "loaded_kib": loaded, "peak_kib": peak}, sys.stdout)


# ---- parent side ----


def score(items, preds):
    """peer_eval.py's metrics."""
    edits = chars = exact = hits = glines = found = total = 0
    for it, (lines, _) in zip(items, preds):
        gt_lines = [norm(l) for l in it["lines"] if norm(l)]
        pr_lines = [norm(l) for l in lines if norm(l)]
        pr = "".join(pr_lines)
        if it.get("complete", True):
            gt = "".join(gt_lines)
            e = distance(pr, gt)
            edits += e
            chars += len(gt)
            exact += e == 0
            s = set(pr_lines)
            hits += sum(1 for g in gt_lines if g in s)
            glines += len(gt_lines)
        else:
            found += sum(1 for g in gt_lines if g in pr)
            total += len(gt_lines)
    return {
        "cer": edits / chars if chars else None,
        "exact": exact,
        "line_hit": hits / glines if glines else None,
        "recall": found / total if total else None,
    }


def run_child(python, name, threads, paths, warmup):
    p = subprocess.run(
        [python, os.path.abspath(__file__), "--child", name, "--threads", str(threads)],
        input=json.dumps({"paths": paths, "warmup": warmup}),
        capture_output=True,
        text=True,
    )
    if p.returncode != 0:
        sys.exit(f"{name} failed ({python}):\n{p.stderr[-3000:]}")
    return json.loads(p.stdout)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("datasets", nargs="*")
    ap.add_argument("--engines", default="wenzi,rapidocr")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--wenzi-python", default=sys.executable, help="interpreter with the wenzi wheel")
    ap.add_argument("--rapid-python", default=sys.executable, help="interpreter with rapidocr_onnxruntime")
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--out")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        return child(a.child, a.threads)
    if not a.datasets:
        ap.error("give at least one dataset directory")

    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    warmup = os.path.join(here, "fixtures", "images", "page_003.png")
    engines = [e for e in a.engines.split(",") if e]
    report = {}
    print(f"{'dataset':<14} {'engine':<10} {'imgs':>4} {'cer%':>7} {'exact':>5} {'line_hit':>8} "
          f"{'recall':>6} {'ms_med':>8} {'total_s':>8} {'load_s':>6} {'rss_MiB':>7} {'peak_MiB':>8}")
    for d in a.datasets:
        items = load_set(d, a.limit)
        paths = [os.path.abspath(os.path.join(d, it["image"])) for it in items]
        report[d] = {}
        for name in engines:
            python = a.rapid_python if name == "rapidocr" else a.wenzi_python
            r = run_child(python, name, a.threads, paths, warmup)
            times = [dt for _, dt in r["preds"]]
            row = score(items, r["preds"])
            row.update(
                images=len(items),
                ms_med=statistics.median(times) * 1000 if times else None,
                total_s=sum(times),
                load_s=r["load_s"],
                loaded_mib=r["loaded_kib"] / 1024,
                peak_mib=r["peak_kib"] / 1024,
                per_image=[{"image": it["image"], "pred": lines, "s": dt}
                           for it, (lines, dt) in zip(items, r["preds"])],
            )
            report[d][name] = row
            f = lambda v, m=100, p=2: "-" if v is None else f"{v * m:.{p}f}"
            print(f"{os.path.basename(os.path.normpath(d)):<14} {name:<10} {len(items):>4} "
                  f"{f(row['cer']):>7} {row['exact']:>5} {f(row['line_hit']):>8} {f(row['recall']):>6} "
                  f"{f(row['ms_med'], 1, 1):>8} {row['total_s']:>8.2f} {row['load_s']:>6.2f} "
                  f"{row['loaded_mib']:>7.0f} {row['peak_mib']:>8.0f}", flush=True)
    if a.out:
        with open(a.out, "w", encoding="utf-8") as fo:
            json.dump(report, fo, ensure_ascii=False, indent=1)


if __name__ == "__main__":
    main()
