#!/usr/bin/env bash
# The Python package end to end, as a user gets it: a fresh venv with maturin, pytest, numpy
# and pillow from PyPI, the wheel built from this checkout and pip-installed, the README's
# one-liner, then the pytest suite.
#
# The wheel is built with the `dev` profile by default: after `cargo test --workspace` every
# dependency is already compiled in that profile (optimized: see [profile.dev.package."*"]),
# so the build adds about two minutes on 2 cores instead of a full optimized rebuild. Set
# WENZI_WHEEL_PROFILE=release for the wheel users get (`maturin build --release`).
set -euo pipefail
cd "$(dirname "$0")/../../.."

profile="${WENZI_WHEEL_PROFILE:-dev}"
python="${PYTHON:-python3}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# Debian and Ubuntu ship venv (ensurepip) separately from python3.
if ! "$python" -m venv "$work/venv" >/dev/null 2>&1; then
  rm -rf "$work/venv"
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
  "$python" -m venv "$work/venv"
fi
venv="$work/venv/bin"
"$venv/python" -m pip install -q --disable-pip-version-check maturin pytest numpy pillow

start=$SECONDS
"$venv/maturin" build --profile "$profile" -m crates/python/Cargo.toml -i "$venv/python" \
  --out "$work/wheels"
echo "python: wheel built with profile $profile in $((SECONDS - start)) s:" \
  "$(du -h "$work"/wheels/*.whl | cut -f1)"
"$venv/python" -m pip install -q --disable-pip-version-check "$work"/wheels/*.whl

"$venv/python" -c "import wenzi; print(wenzi.recognize(open('fixtures/images/page_008.png','rb').read()))"
"$venv/python" -m pytest -q -p no:cacheprovider crates/python/tests
