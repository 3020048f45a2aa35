#!/usr/bin/env bash
# PDF throughput of wenzi next to OCRmyPDF on the same scan PDF (a dev tool: the product and
# the tests never run it; see docs/documents.md).
#
# Builds one multi-page scan PDF from the fixture page images (fixtures/images/*.png, cycled to
# PAGES pages, embedded losslessly at 200 dpi with img2pdf, as a scanner's PDF), then in one run:
#   wenzi   SCAN.pdf --format pdf -o wenzi.pdf --threads THREADS
#   ocrmypdf -l chi_sim+eng --force-ocr --jobs THREADS OCRMYPDF_ARGS SCAN.pdf ocrmypdf.pdf
# and prints wall time and pages/s for both and their ratio. Then both outputs go through
# pdftotext, page by page, and are scored against fixtures/images/gt.jsonl (share of the
# ground-truth characters found in order, spaces ignored); an output without text fails.
#
# Usage: tools/pdf_vs_ocrmypdf.sh [PAGES]        (default 10; run from anywhere)
# Environment:
#   WENZI          wenzi binary (default: release/wenzi in cargo's target folder; build it
#                  first with `cargo build --release -p wenzi-cli`)
#   OCRMYPDF       ocrmypdf command (default: on PATH, else /root/.cache/ocrmypdf-venv/bin/ocrmypdf)
#   THREADS        worker threads for both (default: nproc)
#   OCRMYPDF_ARGS  extra OCRmyPDF options (default "--output-type pdf --optimize 0": plain PDF
#                  out, like wenzi's; OCRmyPDF's own default adds a Ghostscript PDF/A pass)
#   OUT            folder for the scan, the outputs and the extracted text (default: a temp dir)
#
# Needs: img2pdf (installed with ocrmypdf), tesseract with chi_sim and eng, Ghostscript,
# pdftotext and pdfinfo (poppler-utils), python3. Setup on Debian:
#   apt-get install -y tesseract-ocr tesseract-ocr-chi-sim ghostscript poppler-utils
#   python3 -m venv /root/.cache/ocrmypdf-venv && /root/.cache/ocrmypdf-venv/bin/pip install ocrmypdf
# Run it on an otherwise idle machine: both tools use every core given.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
pages=${1:-10}
venv=/root/.cache/ocrmypdf-venv/bin
# Where `cargo build --release` put it (a worktree may share another target folder).
target=$(cd "$root" && cargo metadata --no-deps --format-version 1 2>/dev/null |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])' ||
    echo "$root/target")
wenzi=${WENZI:-$target/release/wenzi}
ocrmypdf=${OCRMYPDF:-$(command -v ocrmypdf || echo "$venv/ocrmypdf")}
img2pdf=$(command -v img2pdf || echo "$venv/img2pdf")
threads=${THREADS:-$(nproc)}
ocr_args=${OCRMYPDF_ARGS:---output-type pdf --optimize 0}
out=${OUT:-$(mktemp -d /tmp/pdf_vs_ocrmypdf.XXXXXX)}
mkdir -p "$out"

die() { echo "pdf_vs_ocrmypdf: $*" >&2; exit 1; }
[[ -x $wenzi ]] || die "no wenzi binary at $wenzi (cargo build --release -p wenzi-cli, or set WENZI)"
[[ -x $ocrmypdf ]] || command -v "$ocrmypdf" >/dev/null || die "no ocrmypdf (see the setup lines in this script)"
[[ -x $img2pdf ]] || die "no img2pdf (it comes with ocrmypdf)"
for tool in pdftotext pdfinfo tesseract gs python3; do
    command -v "$tool" >/dev/null || die "$tool is missing"
done
tesseract --list-langs 2>/dev/null | grep -qx chi_sim || die "tesseract has no chi_sim data"

# The page list: the fixture images in name order, cycled to $pages pages.
mapfile -t images < <(ls "$root"/fixtures/images/*.png | sort)
((${#images[@]} > 0)) || die "no fixtures/images/*.png"
list=()
for ((i = 0; i < pages; i++)); do list+=("${images[i % ${#images[@]}]}"); done
printf '%s\n' "${list[@]##*/}" > "$out/pages.txt"

scan=$out/scan.pdf
"$img2pdf" --imgsize 200dpix200dpi -o "$scan" "${list[@]}"
n=$(pdfinfo "$scan" | awk '/^Pages:/ {print $2}')
[[ $n == "$pages" ]] || die "the scan PDF has $n pages, not $pages"
echo "scan: $scan ($pages pages from ${#images[@]} fixture images, $(stat -c %s "$scan") bytes)"
echo "threads: $threads; wenzi: $wenzi ($("$wenzi" --version 2>/dev/null || echo '?'))"
echo "ocrmypdf: $("$ocrmypdf" --version) $ocr_args; tesseract: $(tesseract --version 2>&1 | head -1)"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"

now() { date +%s.%N; }
t0=$(now)
"$wenzi" "$scan" --format pdf -o "$out/wenzi.pdf" --threads "$threads" 2> "$out/wenzi.log" \
    || { cat "$out/wenzi.log" >&2; die "wenzi failed"; }
t1=$(now)
# shellcheck disable=SC2086  # OCRMYPDF_ARGS is a list of options
"$ocrmypdf" -l chi_sim+eng --force-ocr --jobs "$threads" $ocr_args "$scan" "$out/ocrmypdf.pdf" \
    2> "$out/ocrmypdf.log" || { cat "$out/ocrmypdf.log" >&2; die "ocrmypdf failed"; }
t2=$(now)

for name in wenzi ocrmypdf; do
    got=$(pdfinfo "$out/$name.pdf" | awk '/^Pages:/ {print $2}')
    [[ $got == "$pages" ]] || die "$name.pdf has $got pages, not $pages"
    for ((p = 1; p <= pages; p++)); do
        pdftotext -q -enc UTF-8 -f "$p" -l "$p" "$out/$name.pdf" "$out/$name.page$p.txt"
    done
done

python3 - "$out" "$pages" "$t0" "$t1" "$t2" "$root/fixtures/images/gt.jsonl" <<'EOF'
import difflib, json, sys

out, pages, t0, t1, t2, gt_path = sys.argv[1], int(sys.argv[2]), *map(float, sys.argv[3:6]), sys.argv[6]
gt = {}
with open(gt_path, encoding="utf-8") as f:
    for row in f:
        row = json.loads(row)
        gt[row["image"]] = "".join(row["lines"])
names = open(f"{out}/pages.txt", encoding="utf-8").read().split()
strip = lambda s: "".join(s.split())

times = {"wenzi": t1 - t0, "ocrmypdf": t2 - t1}
scores, failed = {}, False
for tool in times:
    found = total = chars = 0
    for p, name in enumerate(names, 1):
        text = strip(open(f"{out}/{tool}.page{p}.txt", encoding="utf-8", errors="replace").read())
        chars += len(text)
        want = strip(gt.get(name, ""))
        if want:
            m = difflib.SequenceMatcher(None, want, text, autojunk=False)
            found += sum(b.size for b in m.get_matching_blocks())
            total += len(want)
    scores[tool] = (chars, found / total if total else float("nan"))
    if chars == 0:
        failed = True
        print(f"{tool}: pdftotext extracted no text", file=sys.stderr)

print()
print(f"{'tool':<10} {'seconds':>8} {'pages/s':>8} {'chars':>7} {'gt chars in order':>18}")
for tool, secs in times.items():
    chars, score = scores[tool]
    print(f"{tool:<10} {secs:8.2f} {pages / secs:8.3f} {chars:7d} {100 * score:17.1f}%")
print(f"\nwenzi / ocrmypdf pages/s: {times['ocrmypdf'] / times['wenzi']:.2f}x")
print(f"outputs and extracted text: {out}")
sys.exit(1 if failed else 0)
EOF
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
