#!/usr/bin/env bash
# Line coverage of iotkit-core from its own tests (unit + tests/*.rs), with
# rustc's -C instrument-coverage and the LLVM tools of rustc's LLVM major
# version (Debian: apt-get install llvm-<N>; or `rustup component add
# llvm-tools`). No cargo-llvm-cov needed.
#
# Usage: crates/core/scripts/coverage.sh [--html DIR]
# Prints the per-file table and the total; exits 1 when the tools are missing.
set -euo pipefail
root=$(cd "$(dirname "$0")/../../.." && pwd)
cd "$root"
major=$(rustc -vV | sed -n 's/^LLVM version: \([0-9]*\).*/\1/p')
sysroot=$(rustc --print sysroot)
host=$(rustc -vV | sed -n 's/^host: //p')
find_tool() {
  for candidate in "$sysroot/lib/rustlib/$host/bin/$1" "/usr/lib/llvm-$major/bin/$1" "$(command -v "$1-$major" || true)"; do
    if [ -n "$candidate" ] && [ -x "$candidate" ]; then
      echo "$candidate"
      return
    fi
  done
  echo "no $1 for LLVM $major: apt-get install llvm-$major (or rustup component add llvm-tools)" >&2
  exit 1
}
profdata=$(find_tool llvm-profdata)
cov=$(find_tool llvm-cov)

target_dir=$root/target/core-coverage
profiles=$target_dir/profiles
rm -rf "$profiles"
mkdir -p "$profiles"
export CARGO_TARGET_DIR=$target_dir
export RUSTFLAGS="-C instrument-coverage"
export LLVM_PROFILE_FILE="$profiles/%p-%m.profraw"
export CARGO_BUILD_JOBS=${CARGO_BUILD_JOBS:-1}
cargo test -p iotkit-core --quiet
"$profdata" merge -sparse "$profiles"/*.profraw -o "$target_dir/core.profdata"

objects=()
while IFS= read -r exe; do
  objects+=(--object "$exe")
done < <(cargo test -p iotkit-core --no-run --message-format=json 2>/dev/null |
  sed -n 's/.*"executable":"\([^"]*\)".*/\1/p')

filter=(--ignore-filename-regex '(/\.cargo/|/rustc/|/tests/)')
"$cov" report --instr-profile "$target_dir/core.profdata" "${objects[@]}" "${filter[@]}" \
  --sources "$root/crates/core/src"
if [ "${1:-}" = "--html" ] && [ -n "${2:-}" ]; then
  "$cov" show --format html --output-dir "$2" --instr-profile "$target_dir/core.profdata" \
    "${objects[@]}" "${filter[@]}" --sources "$root/crates/core/src"
fi
