#!/usr/bin/env bash
# Runs every cargo-fuzz target for N seconds each (default 20) and prints
# libFuzzer's final statistics line per target. Not part of CI by default
# (time budget); see docs/RELIABILITY.md.
#
# Usage: scripts/fuzz_smoke.sh [SECONDS] [TARGET...]
# Needs the nightly toolchain and cargo-fuzz (cargo install cargo-fuzz --locked).
# New inputs go to a scratch corpus (FUZZ_WORK_DIR, default target/fuzz-work)
# so the committed seeds in fuzz/corpus/ stay small; crashes land in
# fuzz/artifacts/<target>/ and make the script fail.
set -euo pipefail
seconds=${1:-20}
shift || true
root=$(cd "$(dirname "$0")/.." && pwd)
targets=("$@")
cd "$root/fuzz"
if [ ${#targets[@]} -eq 0 ]; then
  # Every [[bin]] of fuzz/Cargo.toml, so a new target is smoked without
  # editing this script.
  mapfile -t targets < <(cargo +nightly fuzz list)
fi
# A fuzz_targets/*.rs file with no [[bin]] entry would never be built or run.
listed=" $(cargo +nightly fuzz list | tr '\n' ' ') "
for f in fuzz_targets/*.rs; do
  name=$(basename "$f" .rs)
  case "$listed" in
    *" $name "*) ;;
    *) echo "fuzz/$f has no [[bin]] entry in fuzz/Cargo.toml; add one so it is fuzzed" >&2; exit 1 ;;
  esac
done
work=${FUZZ_WORK_DIR:-$root/target/fuzz-work}
target_dir=${FUZZ_TARGET_DIR:-$root/fuzz/target}
# -s none: mbedtls-sys (bindgen) does not build under the ASan flags cargo-fuzz
# would add; the targets look for panics, hangs and (in debug-assertion
# builds) overflows in safe Rust.
cargo +nightly fuzz build -s none --target-dir "$target_dir"
status=0
for t in "${targets[@]}"; do
  mkdir -p "$work/$t"
  log="$work/$t.log"
  if cargo +nightly fuzz run -s none --target-dir "$target_dir" "$t" "$work/$t" "corpus/$t" -- \
      -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 >"$log" 2>&1; then
    result=ok
  else
    result=FAILED
    status=1
  fi
  runs=$(grep -E '^stat::number_of_executed_units' "$log" | awk '{print $2}' | tail -n 1)
  final=$(grep -E '^#[0-9]+' "$log" | tail -n 1)
  printf '%-18s %-6s %ss  execs=%s  %s\n' "$t" "$result" "$seconds" "${runs:-?}" "${final:-see $log}"
done
exit $status
