#!/usr/bin/env bash
# The Rust tests once under AddressSanitizer (nightly). Our crate and its
# dependencies are instrumented (std is not: no -Zbuild-std). The cc crate
# sees the sanitizer and adds -fsanitize=address to the C it compiles
# (c/shim.c, and mbedTLS through mbedtls-sys's cmake); with gcc it also adds
# -fno-ipa-icf-variables, which bindgen's clang rejects, so the C compiler is
# clang here.
#
# Usage: scripts/asan_rust_tests.sh [extra cargo test args, e.g. --test mqtt_codec_props]
# Default: the library's unit tests (--lib).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target/asan}
export RUSTFLAGS="-Zsanitizer=address ${RUSTFLAGS:-}"
export RUSTDOCFLAGS="-Zsanitizer=address"
export CC=${CC:-clang} CXX=${CXX:-clang++}
# Leak checking stays on; a report fails the run.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:halt_on_error=1}
# Changing the C compiler under an existing build makes CMake drop
# mbedtls-sys's cache and reconfigure with defaults (programs on, install
# prefix /usr/local, no sanitizer flags). Refuse instead.
mkdir -p "$CARGO_TARGET_DIR"
stamp="$CARGO_TARGET_DIR/.asan-cc"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" != "$CC" ]; then
  echo "$CARGO_TARGET_DIR was built with CC=$(cat "$stamp"), not $CC: remove it first" >&2
  exit 2
fi
echo "$CC" >"$stamp"
if [ $# -eq 0 ]; then
  set -- --lib
fi
exec cargo +nightly test --target x86_64-unknown-linux-gnu "$@"
