#!/usr/bin/env bash
# Everything CI runs for wenzi-server: install/start services, the cargo tests with the
# browser and PostgreSQL parts required, then the nginx + PostgreSQL end-to-end script.
#
#   bash crates/server/ci/run_tests.sh
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../../.." && pwd)"
bash "$HERE/setup.sh"
export WENZI_PG_URL="postgres://postgres@127.0.0.1:${WENZI_PG_PORT:-55432}/postgres"
export WENZI_REQUIRE_BROWSER=1 WENZI_REQUIRE_PG=1
cd "$ROOT"
cargo test -p wenzi-server
bash "$HERE/nginx_pg_test.sh"
