#!/usr/bin/env bash
# Two `wenzi serve` instances (the real OCR engine) behind nginx, sharing one PostgreSQL
# database (all on loopback).
# Checks that a key with quota N gets exactly N successes (100) across both instances and
# that every other request is answered 505, that both instances served, that the client IP
# from X-Forwarded-For is used for rate limiting, and that nginx passes the JSON through.
#
#   WENZI_PG_URL=postgres://postgres@127.0.0.1:55432/postgres bash crates/server/ci/nginx_pg_test.sh
#
# Needs: nginx, psql, curl, a running PostgreSQL (see setup.sh). Builds the `wenzi` binary
# (release) unless WENZI_BIN points to one. Every request sends a real fixture image, and
# every success must carry its recognized text.
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../../.." && pwd)"
PG_URL="${WENZI_PG_URL:-postgres://postgres@127.0.0.1:55432/postgres}"
QUOTA="${QUOTA:-25}"
TOTAL="${TOTAL:-80}"
PARALLEL="${PARALLEL:-16}"
BASE_PORT="${WENZI_TEST_PORT:-18080}"
P_NGINX=$BASE_PORT
P_A=$((BASE_PORT + 1))
P_B=$((BASE_PORT + 2))

if [ -z "${WENZI_BIN:-}" ]; then
  (cd "$ROOT" && cargo build -q --release -p wenzi-cli)
  BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/wenzi"
else
  BIN="$WENZI_BIN"
fi
IMG="$ROOT/fixtures/images/line_004.png"
[ -f "$IMG" ] || { echo "FAIL: missing $IMG" >&2; exit 1; }

WORK="$(mktemp -d /tmp/wenzi-nginx-test.XXXXXX)"
chmod 755 "$WORK"
PIDS=()
DB="wenzi_nginx_$$_$(date +%s)"
cleanup() {
  set +e
  [ -f "$WORK/nginx.pid" ] && kill "$(cat "$WORK/nginx.pid")" 2>/dev/null
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  wait 2>/dev/null
  psql -q "$PG_URL" -c "DROP DATABASE IF EXISTS $DB" >/dev/null 2>&1
  if [ "${KEEP_WORK:-}" = "" ]; then rm -rf "$WORK"; else echo "logs in $WORK"; fi
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; for f in "$WORK"/*.log; do echo "== $f"; tail -n 5 "$f"; done >&2; exit 1; }

psql -q -v ON_ERROR_STOP=1 "$PG_URL" -c "CREATE DATABASE $DB" >/dev/null
DB_URL="${PG_URL%/*}/$DB"
KEY="$("$BIN" keys --database "$DB_URL" add --name nginx-test --quota "$QUOTA" 2>/dev/null)"
[ "${#KEY}" = 32 ] || fail "no key created: $KEY"

for p in $P_A $P_B; do
  RUST_LOG=info,wenzi::access=info "$BIN" serve --workers 1 --threads 1 \
    --listen "127.0.0.1:$p" --database "$DB_URL" --trusted-proxy 127.0.0.1 \
    --rate-limit 0 --demo-rate-limit 0.05 --demo-rate-burst 2 \
    --queue-size 128 --no-initial-key --log-format json \
    >"$WORK/server-$p.log" 2>&1 &
  PIDS+=($!)
done

cat >"$WORK/nginx.conf" <<CONF
worker_processes 1;
daemon on;
pid $WORK/nginx.pid;
error_log $WORK/nginx-error.log warn;
events { worker_connections 1024; }
http {
  access_log $WORK/nginx-access.log;
  client_body_temp_path $WORK/body;
  proxy_temp_path $WORK/proxy;
  fastcgi_temp_path $WORK/fastcgi;
  uwsgi_temp_path $WORK/uwsgi;
  scgi_temp_path $WORK/scgi;
  upstream wenzi {
    server 127.0.0.1:$P_A max_fails=0;
    server 127.0.0.1:$P_B max_fails=0;
    keepalive 32;
  }
  server {
    listen 127.0.0.1:$P_NGINX;
    client_max_body_size 11m;
    location / {
      proxy_pass http://wenzi;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host \$host;
      proxy_set_header X-Real-IP \$remote_addr;
      proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto \$scheme;
      proxy_request_buffering off;
      proxy_read_timeout 60s;
    }
  }
}
CONF
nginx -t -q -c "$WORK/nginx.conf" -p "$WORK" 2>"$WORK/nginx-t.log" || fail "nginx config: $(cat "$WORK/nginx-t.log")"
nginx -c "$WORK/nginx.conf" -p "$WORK"

for p in $P_A $P_B $P_NGINX; do
  ok=0
  for _ in $(seq 1 100); do
    if curl -fsS "http://127.0.0.1:$p/readyz" >/dev/null 2>&1; then ok=1; break; fi
    sleep 0.1
  done
  [ $ok = 1 ] || fail "port $p not ready"
done

cp "$IMG" "$WORK/img.png"
URL="http://127.0.0.1:$P_NGINX/imagerecognition/imagestreamocr?appkey=$KEY"
export URL WORK
seq 1 "$TOTAL" | xargs -P "$PARALLEL" -I{} sh -c \
  'curl -sS -F "imagefile=@$WORK/img.png;type=image/png" "$URL" -o "$WORK/r{}.json" -w "%{http_code} %{content_type}\n"' \
  >"$WORK/curl.out"

codes="$(cat "$WORK"/r*.json | grep -o '"StatusCode":-\{0,1\}[0-9]*' | cut -d: -f2 | sort | uniq -c)"
n100="$(cat "$WORK"/r*.json | grep -o '"StatusCode":100,' | wc -l)"
n505="$(cat "$WORK"/r*.json | grep -o '"StatusCode":505,' | wc -l)"
echo "answers through nginx:"
echo "$codes"
[ "$(grep -c '^200 application/json; charset=utf-8$' "$WORK/curl.out")" = "$TOTAL" ] || fail "not all answers were HTTP 200 JSON: $(sort "$WORK/curl.out" | uniq -c)"
[ "$n100" = "$QUOTA" ] || fail "expected exactly $QUOTA successes, got $n100"
[ "$n505" = $((TOTAL - QUOTA)) ] || fail "expected $((TOTAL - QUOTA)) answers 505, got $n505"
# The real engine read the image: every success has the same, non-empty text.
texts="$(grep -h '"StatusCode":100,' "$WORK"/r*.json | sed 's/.*"Data"://' | sort | uniq -c)"
[ "$(echo "$texts" | wc -l)" = 1 ] && echo "$texts" | grep -q '"ResultText":\["' || fail "successes differ or carry no text: $texts"
echo "recognized: $(echo "$texts" | sed 's/^ *[0-9]* //')"

a100="$(grep -c '"code":100' "$WORK/server-$P_A.log" || true)"
b100="$(grep -c '"code":100' "$WORK/server-$P_B.log" || true)"
echo "successes per instance: $P_A=$a100 $P_B=$b100"
[ "$a100" -gt 0 ] && [ "$b100" -gt 0 ] || fail "one instance served no successful request"
[ $((a100 + b100)) = "$QUOTA" ] || fail "instances logged $((a100 + b100)) successes"
used="$("$BIN" keys --database "$DB_URL" usage "$KEY" 2>/dev/null | awk '/^used:/ {print $2}')"
[ "$used" = "$QUOTA" ] || fail "database says used=$used"

# Client IP from X-Forwarded-For through the trusted proxy: the demo endpoint allows a burst
# of 2 per client per instance, refilled at one request per 20 s here, so of 6 requests from
# one client (at least 3 reach one instance) one or more see 429, while another client is
# unaffected. The refill is set this slow on purpose: at the default 1/s, 6 sequential
# requests that each take ~250 ms (alternating over 2 instances, one every ~0.5 s per
# instance) all fit the bucket, and the check turned on how fast the engine was.
DEMO="http://127.0.0.1:$P_NGINX/imagerecognition/imagestreamocr/demo"
limited=0
for _ in 1 2 3 4 5 6; do
  c="$(curl -sS -H 'X-Forwarded-For: 203.0.113.7' -F "imagefile=@$WORK/img.png" "$DEMO" -o /dev/null -w '%{http_code}')"
  [ "$c" = 429 ] && limited=$((limited + 1))
done
[ "$limited" -ge 1 ] || fail "no 429 for a client over the demo rate limit"
other="$(curl -sS -H 'X-Forwarded-For: 203.0.113.8' -F "imagefile=@$WORK/img.png" "$DEMO")"
echo "$other" | grep -q '"StatusCode":100' || fail "another client was limited: $other"
grep -q '"client":"203.0.113.7"' "$WORK/server-$P_A.log" "$WORK/server-$P_B.log" || fail "forwarded client IP not seen"
echo "rate limiting per forwarded client: $limited of 6 refused with 429, other client served"

echo "nginx_pg_test: OK ($QUOTA of $TOTAL succeeded across 2 instances, rest 505)"
echo "1 passed, 0 failed"
