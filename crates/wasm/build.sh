#!/usr/bin/env bash
# Builds the browser page's WebAssembly: crates/wasm/www/pkg/ (git-ignored), for `--target web`.
# Installs what it needs: the wasm32-unknown-unknown target (rustup) and wasm-bindgen-cli at the
# exact version of the wasm-bindgen crate in Cargo.lock. Runs wasm-opt -Oz if it is on PATH.
#
#   bash crates/wasm/build.sh        # then serve crates/wasm/www/ (see docs/wasm.md)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$root"

rustup target list --installed | grep -qx wasm32-unknown-unknown \
  || rustup target add wasm32-unknown-unknown

version="$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/[^0-9.]/, ""); print; exit }' Cargo.lock)"
if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "$version" ]; then
  echo "build.sh: installing wasm-bindgen-cli $version"
  cargo install wasm-bindgen-cli --version "$version"
fi

# WebAssembly SIMD (simd128, in every current browser): the portable kernels auto-vectorize.
export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS="${CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS:--C target-feature=+simd128}"
cargo build -p wenzi-wasm --release --target wasm32-unknown-unknown
target_dir="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"
rm -rf "$here/www/pkg"
wasm-bindgen --target web --no-typescript --out-dir "$here/www/pkg" \
  "$target_dir/wasm32-unknown-unknown/release/wenzi_wasm.wasm"
if command -v wasm-opt >/dev/null; then
  wasm-opt -Oz --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
    --enable-mutable-globals -o "$here/www/pkg/wenzi_wasm_bg.wasm" "$here/www/pkg/wenzi_wasm_bg.wasm"
fi
wasm="$here/www/pkg/wenzi_wasm_bg.wasm"
echo "build.sh: $wasm: $(stat -c %s "$wasm") bytes, $(gzip -9 -c "$wasm" | wc -c) gzipped"
