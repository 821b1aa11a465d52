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
if [ ${#targets[@]} -eq 0 ]; then
  targets=(decode_packet topic_match client_stream identity_payload credentials kv_reader)
fi
work=${FUZZ_WORK_DIR:-$root/target/fuzz-work}
target_dir=${FUZZ_TARGET_DIR:-$root/fuzz/target}
cd "$root/fuzz"
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
