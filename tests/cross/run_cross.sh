#!/usr/bin/env bash
# A cross build of iotkit-rs, tested under emulation: configures the project
# with cmake/toolchains/<GNU triple>.cmake, builds libiotkit.a (and the
# wrappers-only library), the C examples and the C tests for the target, and
# runs them with CMAKE_CROSSCOMPILING_EMULATOR (qemu-user) against the host's
# iotkit-sim and mosquitto on 127.0.0.1: the demo flow (identity response,
# echo, persisted reconnect), the X.509 flow, the C tests and the link checks.
#
# Usage: run_cross.sh GNU_TRIPLE SOURCE_DIR WORK_DIR SIM_BINARY
# Environment: IOTKIT_CROSS_CARGO (a cargo whose rustc has the target's std;
#   default: rustup's when `rustup target add` was run, else Debian's
#   /usr/bin/cargo from cargo-web + libstd-rust-web-dev:<arch>),
#   IOTKIT_CROSS_PROFILE (cargo profile, default release).
# Exits 77 (ctest: skipped) naming the missing packages when the cross
# toolchain is not installed.
set -euo pipefail
gnu=${1:?usage: run_cross.sh GNU_TRIPLE SOURCE_DIR WORK_DIR SIM_BINARY}
src=${2:?usage}
work=${3:?usage}
sim=${4:?usage}
profile=${IOTKIT_CROSS_PROFILE:-release}

case "$gnu" in
  aarch64-linux-gnu) rust=aarch64-unknown-linux-gnu deb=arm64 qemu=qemu-aarch64 ;;
  arm-linux-gnueabihf) rust=armv7-unknown-linux-gnueabihf deb=armhf qemu=qemu-arm ;;
  *) echo "run_cross.sh: no toolchain file for $gnu" >&2; exit 2 ;;
esac

missing=()
command -v "$gnu-gcc" >/dev/null || missing+=("gcc-$gnu")
command -v "$gnu-g++" >/dev/null || missing+=("g++-$gnu")
[ -e "/usr/$gnu/include/stdio.h" ] || missing+=("libc6-dev-$deb-cross")
command -v "$qemu" >/dev/null || missing+=("qemu-user")

# A cargo whose rustc has the target's standard library.
has_std() { # rustc
  local dir
  dir=$("$1" --print target-libdir --target "$rust" 2>/dev/null) || return 1
  compgen -G "$dir/libstd-*.rlib" >/dev/null
}
cargo=${IOTKIT_CROSS_CARGO:-}
if [ -z "$cargo" ]; then
  if command -v rustc >/dev/null && has_std rustc; then
    cargo=$(command -v cargo)
  elif [ -x /usr/bin/cargo ] && [ -x /usr/bin/rustc ] && has_std /usr/bin/rustc; then
    cargo=/usr/bin/cargo
  fi
fi
if [ -z "$cargo" ]; then
  if [ -x /usr/bin/rustc ]; then
    missing+=("libstd-rust-web-dev:$deb")
  else
    missing+=("rustc-web" "cargo-web" "libstd-rust-web-dev:$deb")
  fi
fi
if ((${#missing[@]})); then
  echo "SKIPPED: the $rust cross toolchain is not installed; missing: ${missing[*]}"
  echo "  (Debian: dpkg --add-architecture $deb && apt-get update && apt-get install ${missing[*]};"
  echo "   with rustup, \`rustup target add $rust\` replaces the Rust packages)"
  exit 77
fi
echo "cross build for $rust with $cargo (profile $profile), emulator $qemu"

build=$work/build
# One cargo target directory per target, kept across runs (only the CMake
# build directory is made afresh), so a rerun compiles only what changed.
rm -rf "$build"
cmake -S "$src" -B "$build" \
  -DCMAKE_TOOLCHAIN_FILE="$src/cmake/toolchains/$gnu.cmake" \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DIOTKIT_CARGO="$cargo" \
  -DIOTKIT_RUST_PROFILE="$profile" \
  -DIOTKIT_CARGO_DIR="$work/cargo" \
  -DIOTKIT_SIM="$sim" \
  -DIOTKIT_BUILD_BENCH=OFF
derived=$(sed -n 's/^IOTKIT_RUST_TARGET:STRING=//p' "$build/CMakeCache.txt")
[ "$derived" = "$rust" ] || { echo "CMake derived the Rust target '$derived' from $gnu-gcc, expected $rust" >&2; exit 1; }

CARGO_BUILD_JOBS=${CARGO_BUILD_JOBS:-2} cmake --build "$build" --parallel 2

# Every program is for the target, not the build machine.
machine=$(readelf -h "$build/c_examples/mqtt_example" | sed -n 's/^ *Machine: *//p')
case "$rust:$machine" in
  aarch64*:AArch64 | armv7*:ARM) echo "mqtt_example is an ELF for $machine" ;;
  *) echo "mqtt_example was built for '$machine', not $rust" >&2; exit 1 ;;
esac

# The device-side tests: C tests, end-to-end flows (demo included), link
# checks. The Rust, lint and package checks belong to the native build;
# valgrind cannot run an emulated program.
ctest --test-dir "$build" --output-on-failure -j 2 -L '^(c|e2e|link)$' -LE valgrind --no-tests=error
