#!/usr/bin/env bash
# Short soak of `wenzi serve` with the real OCR engine (about 2-3 minutes on 2 cores once
# built). Fails (exit 1) when:
#   - any request gets no answer, a malformed answer, or the wrong status code (images: 100;
#     not an image, empty file, wrong form field: 501; truncated image: -1), or an image's
#     text differs between two sends;
#   - the server's RSS exceeds MAX_RSS_MIB (default 400) at any sample, or grows more than
#     MAX_GROWTH_PCT (default 10) between 20% and 100% of the soak;
#   - under 4x overload a request is not answered 100, 502 or 429, or a refusal is slow;
#   - on SIGTERM in the middle of a run a request in flight is lost, a new connection is
#     accepted, or the process does not exit within the grace period.
#
#   bash crates/server/ci/soak_test.sh
#
# REQUESTS (default 160), CLIENTS (4), WORKERS (server default), OVERLOAD_SECS (10),
# PROFILE (release; or dev to reuse `cargo test` builds, slower), SKIP_BUILD=1 to use what is
# built, OUT=DIR to keep the CSV, SVG and logs.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../../.." && pwd)"
REQUESTS="${REQUESTS:-160}"
CLIENTS="${CLIENTS:-4}"
MAX_RSS_MIB="${MAX_RSS_MIB:-400}"
MAX_GROWTH_PCT="${MAX_GROWTH_PCT:-10}"
OVERLOAD_SECS="${OVERLOAD_SECS:-10}"
PROFILE="${PROFILE:-release}"
PORT="${WENZI_SOAK_PORT:-18095}"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
case "$PROFILE" in
  release) FLAG=--release DIR=release ;;
  dev) FLAG= DIR=debug ;;
  *) echo "PROFILE must be release or dev" >&2; exit 2 ;;
esac

if [ -z "${SKIP_BUILD:-}" ]; then
  (cd "$ROOT" && cargo build -q $FLAG -p wenzi-cli && cargo build -q $FLAG -p wenzi-server --example soak)
fi
BIN="$TARGET/$DIR/wenzi"
SOAK="$TARGET/$DIR/examples/soak"
WORK="${OUT:-$(mktemp -d /tmp/wenzi-soak.XXXXXX)}"
mkdir -p "$WORK"
SPID=""
cleanup() {
  if [ -n "$SPID" ]; then kill "$SPID" 2>/dev/null || true; wait "$SPID" 2>/dev/null || true; fi
  [ -n "${OUT:-}" ] || rm -rf "$WORK"
}
trap cleanup EXIT

KEY="$("$BIN" keys --database "$WORK/k.db" add --name soak 2>/dev/null)"
start_server() {
  RUST_LOG=warn "$BIN" serve --listen "127.0.0.1:$PORT" --database "$WORK/k.db" --no-initial-key \
    --rate-limit 0 --shutdown-grace 20 --request-timeout 120 ${WORKERS:+--workers "$WORKERS"} >"$WORK/server.log" 2>&1 &
  SPID=$!
  for _ in $(seq 1 300); do
    curl -fsS "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && return
    kill -0 "$SPID" 2>/dev/null || break
    sleep 0.1
  done
  echo "FAIL: server did not start" >&2; cat "$WORK/server.log" >&2; exit 1
}

start_server
echo "== soak: $REQUESTS requests from $CLIENTS clients (every 20th a bad input), then 4x overload, then SIGTERM under load"
set +e
"$SOAK" --url "http://127.0.0.1:$PORT" --key "$KEY" --server-pid "$SPID" \
  --clients "$CLIENTS" --requests "$REQUESTS" --bad-every 20 --sample-secs 1 --window-secs 20 \
  --max-rss-mib "$MAX_RSS_MIB" --max-growth-pct "$MAX_GROWTH_PCT" \
  --throughput-rounds 1 --overload-secs "$OVERLOAD_SECS" --overload-factor 4 \
  --sigterm --sigterm-delay 4 --grace 20 \
  --csv "$WORK/soak.csv" --svg "$WORK/soak.svg"
rc=$?
set -e
wait "$SPID" 2>/dev/null
code=$?
SPID=""
if [ "$code" != 0 ]; then
  echo "FAIL: the server exited with status $code after SIGTERM" >&2
  tail -n 20 "$WORK/server.log" >&2
  rc=1
fi
if grep -q -i panic "$WORK/server.log"; then
  echo "FAIL: the server log mentions a panic" >&2
  grep -i panic "$WORK/server.log" | head -n 5 >&2
  rc=1
fi
[ -z "${OUT:-}" ] || echo "CSV, plot and logs in $WORK"
if [ "$rc" = 0 ]; then
  echo "soak_test: OK"
  echo "1 passed, 0 failed"
else
  echo "soak_test: FAILED"
  echo "0 passed, 1 failed"
fi
exit "$rc"
