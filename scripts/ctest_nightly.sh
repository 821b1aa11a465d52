#!/usr/bin/env bash
# Runs a nightly-toolchain check for ctest: the Rust tests under
# AddressSanitizer, or the cargo-fuzz smoke. Exits 77 (ctest: skipped) with
# a message when the nightly toolchain or cargo-fuzz is not installed, so a
# newcomer's machine without them still passes; CI has both (.ci/run).
# Usage: ctest_nightly.sh asan|fuzz WORK_DIR
set -euo pipefail
what=${1:?usage: ctest_nightly.sh asan|fuzz WORK_DIR}
work=${2:?usage: ctest_nightly.sh asan|fuzz WORK_DIR}
here=$(cd "$(dirname "$0")" && pwd)
if ! cargo +nightly --version >/dev/null 2>&1; then
  echo "skipped: no nightly toolchain (rustup toolchain install nightly)"
  exit 77
fi
case "$what" in
  asan)
    command -v clang >/dev/null || { echo "skipped: clang not installed"; exit 77; }
    # Every test binary runs even after one fails (--no-fail-fast), so one
    # run shows every failure. The unset-clock test is left to the plain run:
    # it starts a child under faketime, whose LD_PRELOAD library and the ASan
    # runtime both interpose malloc/dlsym (ASan reports a double free inside
    # dlerror before the child's first line).
    CARGO_TARGET_DIR="$work/target" exec "$here/asan_rust_tests.sh" --lib --tests --no-fail-fast \
      -- --skip an_unset_clock_skips_dates_until_it_is_trusted
    ;;
  fuzz)
    cargo fuzz --version >/dev/null 2>&1 || { echo "skipped: cargo-fuzz not installed (cargo install cargo-fuzz --locked)"; exit 77; }
    FUZZ_TARGET_DIR="$work/target" FUZZ_WORK_DIR="$work/runs" exec "$here/fuzz_smoke.sh" "${FUZZ_SECONDS:-10}"
    ;;
  *)
    echo "unknown check: $what" >&2
    exit 2
    ;;
esac
