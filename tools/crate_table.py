#!/usr/bin/env python3
"""Ratio table of `benches/benches/crates.rs`: wenzi's routines against the crates.

Reads criterion's results under target/criterion (after
`cargo bench -p wenzi-benches --features compare-crates --bench crates`) and prints one
Markdown row per routine: wenzi's median time, each crate's median time and the ratio
crate / wenzi (above 1: wenzi is faster). Only the standard library is used.

    python3 tools/crate_table.py [target/criterion]
"""
import json
import os
import sys


def main() -> None:
    root = sys.argv[1] if len(sys.argv) > 1 else "target/criterion"
    groups: dict[str, dict[str, float]] = {}
    for dirpath, _dirs, files in os.walk(root):
        if os.path.basename(dirpath) != "new" or "benchmark.json" not in files:
            continue
        with open(os.path.join(dirpath, "benchmark.json")) as f:
            bench = json.load(f)
        with open(os.path.join(dirpath, "estimates.json")) as f:
            est = json.load(f)
        groups.setdefault(bench["group_id"], {})[bench["function_id"]] = (
            est["median"]["point_estimate"] / 1e6
        )
    rows = []
    for group, times in sorted(groups.items()):
        if "wenzi" not in times or len(times) < 2:
            continue
        ours = times["wenzi"]
        for crate, t in sorted(times.items()):
            if crate == "wenzi":
                continue
            rows.append(f"| {group} | {ours:.3} | {crate} | {t:.3} | {t / ours:.2} |")
    print("| routine | wenzi ms | crate | crate ms | crate / wenzi |")
    print("|---|---:|---|---:|---:|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
