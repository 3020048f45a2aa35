#!/usr/bin/env bash
# Load runs against the test-backend server (release build): closed loop at 1, 2, 8 and 32
# clients, then an open-loop overload at 4x the nominal capacity, once with the default
# per-IP rate limit and once without, sampling the server's memory.
#
#   bash crates/server/ci/load.sh
#
# WORK_MS (default 20): CPU ms the test backend burns per image; WORKERS (default 2);
# DURATION (default 5 s per run). Capacity is about WORKERS * 1000 / WORK_MS req/s.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../../.." && pwd)"
WORK_MS="${WORK_MS:-20}"
WORKERS="${WORKERS:-2}"
DURATION="${DURATION:-5}"
PORT="${WENZI_LOAD_PORT:-18090}"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"

[ -n "${SKIP_BUILD:-}" ] || (cd "$ROOT" && cargo build -q --release -p wenzi-server --features test-backend --bin wenzi-server --example load)
BIN="$TARGET/release/wenzi-server"
LOAD="$TARGET/release/examples/load"
WORK="$(mktemp -d /tmp/wenzi-load.XXXXXX)"
SPID=""
stop_server() { if [ -n "$SPID" ]; then kill "$SPID" 2>/dev/null || true; wait "$SPID" 2>/dev/null || true; SPID=""; fi; }
trap 'stop_server; rm -rf "$WORK"' EXIT

KEY="$("$BIN" keys --database "$WORK/k.db" add --name load 2>/dev/null)"
start_server() {
  RUST_LOG=warn "$BIN" serve --backend test --test-work-ms "$WORK_MS" --workers "$WORKERS" \
    --listen "127.0.0.1:$PORT" --database "$WORK/k.db" --no-initial-key "$@" >"$WORK/server.log" 2>&1 &
  SPID=$!
  for _ in $(seq 1 100); do curl -fsS "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && return; sleep 0.1; done
  echo "server did not start" >&2; cat "$WORK/server.log" >&2; exit 1
}
CAP=$((WORKERS * 1000 / WORK_MS))
echo "== test backend: $WORK_MS ms CPU per image, $WORKERS workers, nominal capacity $CAP req/s; $(nproc) cores shared with the load client"

echo "== closed loop (rate limit off)"
start_server --rate-limit 0
"$LOAD" --url "http://127.0.0.1:$PORT" --key "$KEY" --concurrency 1,2,8,32 --duration "$DURATION" --sources 32
stop_server

RATE=$((CAP * 4))
echo "== open loop overload: $RATE req/s (4x) from 32 client IPs, default rate limit (5/s, burst 10 per IP)"
start_server
"$LOAD" --url "http://127.0.0.1:$PORT" --key "$KEY" --rate "$RATE" --duration $((DURATION * 2)) --sources 32 --server-pid "$SPID"
stop_server

echo "== open loop overload: $RATE req/s (4x), rate limit off: the queue refuses (502)"
start_server --rate-limit 0
"$LOAD" --url "http://127.0.0.1:$PORT" --key "$KEY" --rate "$RATE" --duration $((DURATION * 2)) --sources 32 --server-pid "$SPID"
curl -fsS "http://127.0.0.1:$PORT/metrics" | grep -E '^wenzi_(requests_total\{endpoint="api"|queue_depth|in_flight|upload_slots_free|workers_alive)' | grep -v ' 0$' || true
stop_server
