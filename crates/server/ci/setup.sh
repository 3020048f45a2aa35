#!/usr/bin/env bash
# Installs and starts what the wenzi-server tests need, on a Debian machine, as root.
# Idempotent: installs only missing packages; starts PostgreSQL only if not running.
#
#   bash crates/server/ci/setup.sh
#
# Afterwards (printed at the end):
#   WENZI_PG_URL=postgres://postgres@127.0.0.1:${WENZI_PG_PORT:-55432}/postgres
# PostgreSQL is a private cluster (trust auth, loopback only) in ${WENZI_PG_DIR:-/var/tmp/wenzi-pg}.
set -euo pipefail

PG_PORT="${WENZI_PG_PORT:-55432}"
PG_DIR="${WENZI_PG_DIR:-/var/tmp/wenzi-pg}"

if [ "$(id -u)" != 0 ]; then
  echo "setup.sh: must run as root (apt-get, PostgreSQL as user postgres)" >&2
  exit 1
fi

need=()
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || need+=(nginx)
[ -x /usr/bin/chromium ] || need+=(chromium)
[ -x /usr/bin/chromedriver ] || need+=(chromium-driver)
ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || need+=(postgresql)
command -v psql >/dev/null 2>&1 || need+=(postgresql-client)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
command -v curl >/dev/null 2>&1 || need+=(curl)
if [ "${#need[@]}" -gt 0 ]; then
  echo "setup.sh: installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  # Debian's postinst may try to start services; without an init system that only warns.
  apt-get install -y -q --no-install-recommends "${need[@]}" 2>&1 | tail -n 3
fi

PG_BIN="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)"
if "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT"; then
  echo "setup.sh: PostgreSQL already running on 127.0.0.1:$PG_PORT"
else
  if [ ! -s "$PG_DIR/PG_VERSION" ]; then
    rm -rf "$PG_DIR"
    install -d -o postgres -g postgres -m 700 "$PG_DIR"
    runuser -u postgres -- "$PG_BIN/initdb" -D "$PG_DIR" -U postgres --auth=trust -E UTF8 >/dev/null
  fi
  install -d -o postgres -g postgres "$PG_DIR/run"
  runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$PG_DIR" -l "$PG_DIR/server.log" -w -t 60 \
    -o "-p $PG_PORT -c listen_addresses=127.0.0.1 -k $PG_DIR/run -c max_connections=200 -c fsync=off" start >/dev/null
  echo "setup.sh: PostgreSQL started on 127.0.0.1:$PG_PORT (data in $PG_DIR)"
fi

echo "setup.sh: nginx $(nginx -v 2>&1 | sed 's/.*\///'), $(/usr/bin/chromium --version 2>/dev/null || echo 'chromium ?')"
echo "WENZI_PG_URL=postgres://postgres@127.0.0.1:$PG_PORT/postgres"
