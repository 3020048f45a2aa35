#!/usr/bin/env bash
# Accuracy and speed of wenzi against RapidOCR (PP-OCRv4, PP-OCRv6) and Tesseract, in one run,
# on the evaluation sets beside the repository (../shared/eval). Dev-only; needs network once
# to install the peers (../shared/tools/setup_peers.sh).
#
# Usage: tools/eval.sh [--engines rapidocr_v4,rapidocr_v6,tesseract,ours] [--limit N] [-- extra wenzi flags]
set -euo pipefail
cd "$(dirname "$0")/.."
shared=../shared
engines="rapidocr_v4,rapidocr_v6,tesseract,ours"
limit=()
while [ $# -gt 0 ]; do
  case "$1" in
    --engines) engines="$2"; shift 2 ;;
    --limit) limit=(--limit "$2"); shift 2 ;;
    --) shift; break ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
wenzi_flags="$*"
py=$(bash "$shared/tools/setup_peers.sh" | tail -n 1)
cargo build --release -p wenzi-cli
sets=()
for d in "$shared"/eval/*/; do [ -f "$d/gt.jsonl" ] && sets+=("$d"); done
"$py" "$shared/tools/peer_eval.py" "${sets[@]}" --engines "$engines" "${limit[@]}" \
  --ours-batch "target/release/wenzi --jsonl $wenzi_flags {images}" --out target/eval.json
