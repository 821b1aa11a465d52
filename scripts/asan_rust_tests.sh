#!/usr/bin/env bash
# The Rust tests once under AddressSanitizer (nightly). The Rust code (and
# std, with -Zbuild-std unset: only our crates and dependencies compiled
# here) is instrumented; mbedTLS's C code, built by mbedtls-sys's own cmake,
# is not, so heap errors inside mbedTLS itself are not caught here (the
# valgrind and ASan/UBSan C builds in ctest cover the C side).
#
# Usage: scripts/asan_rust_tests.sh [extra cargo test args, e.g. --test mqtt_codec_props]
# Default: the library's unit tests (--lib).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target/asan}
export RUSTFLAGS="-Zsanitizer=address ${RUSTFLAGS:-}"
export RUSTDOCFLAGS="-Zsanitizer=address"
# Leak checking stays on; a report fails the run.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:halt_on_error=1}
if [ $# -eq 0 ]; then
  set -- --lib
fi
exec cargo +nightly test --target x86_64-unknown-linux-gnu "$@"
