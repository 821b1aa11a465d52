#!/usr/bin/env bash
# Prints, one per line, the linker flags (-lgcc_s, -lpthread, ...) a C
# program needs besides libiotkit.a, as rustc reports them for a static
# library (`--print native-static-libs`) on the host or on RUST_TARGET.
# This is how cmake/iotkit_rust_target.cmake finds them too: an empty crate
# is enough, because std is what needs them (mbedTLS and our C add none).
#
# Usage: scripts/native_libs.sh [RUST_TARGET]
# Environment: RUSTC (default: the rustc cargo would use).
set -euo pipefail
rust_target=${1:-}
rustc=${RUSTC:-rustc}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
: >"$dir/probe.rs"
args=(--crate-type staticlib --crate-name iotkit_probe --edition 2021 --print native-static-libs --out-dir "$dir")
if [ -n "$rust_target" ]; then
  args+=(--target "$rust_target")
fi
if ! out=$("$rustc" "${args[@]}" "$dir/probe.rs" 2>&1); then
  echo "native_libs.sh: $rustc cannot build a static library${rust_target:+ for $rust_target (rustup target add $rust_target?)}:" >&2
  echo "$out" >&2
  exit 1
fi
line=$(printf '%s\n' "$out" | sed -n 's/.*native-static-libs: //p' | tail -n 1)
if [ -z "$line" ]; then
  echo "native_libs.sh: $rustc printed no native-static-libs line" >&2
  exit 1
fi
for flag in $line; do
  printf '%s\n' "$flag"
done
