#!/usr/bin/env bash
# A/B timing of two builds of wenzi-nn's `bench_shapes` example on one model and shape, for
# machines whose speed drifts (shared VMs): the two builds alternate for ROUNDS rounds of RUNS
# runs each, and the ratio B/A is taken per round, so a drift that lasts minutes hits both
# sides of every ratio. Prints both medians, the median per-round ratio, its range and how
# many rounds B won.
#
#   cp target/release/examples/bench_shapes /tmp/bench_old   # before the change
#   ... change, cargo build --release -p wenzi-nn --examples ...
#   tools/ab_bench.sh /tmp/bench_old target/release/examples/bench_shapes \
#       models/PP-OCRv6_rec_small.onnx 1,3,48,320 1 10 10
#
# STAT=min_ms compares each round's fastest run instead of its median: steadier when the
# VM's steal time (`top`'s `st`) comes in bursts.
set -euo pipefail
if [ $# -ne 7 ]; then
  echo "usage: $0 BENCH_A BENCH_B MODEL SHAPE THREADS RUNS ROUNDS" >&2
  exit 2
fi
a_bin=$1 b_bin=$2 model=$3 shape=$4 threads=$5 runs=$6 rounds=$7
stat=${STAT:-median_ms}
median() { python3 -c "import json,sys; print(json.load(sys.stdin)['$stat'])"; }
for _ in $(seq "$rounds"); do
  a=$("$a_bin" "$model" "$shape" "$threads" "$runs" | median)
  b=$("$b_bin" "$model" "$shape" "$threads" "$runs" | median)
  echo "$a $b"
done | python3 -c '
import statistics, sys
pairs = [tuple(map(float, line.split())) for line in sys.stdin]
ratios = [b / a for a, b in pairs]
print(("A %.2f ms, B %.2f ms (per-round " + sys.argv[1] + ", medians); B/A per round: median %.3f (%.3f..%.3f), B faster in %d of %d rounds") % (
    statistics.median(a for a, _ in pairs), statistics.median(b for _, b in pairs),
    statistics.median(ratios), min(ratios), max(ratios),
    sum(r < 1 for r in ratios), len(ratios)))' "$stat"
