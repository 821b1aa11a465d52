#!/usr/bin/env bash
# The x86-64 (host) footprint of the port flavour (#17): the MCU image's
# example (mcu/example/mqtt_example.c) + the POSIX HAL port linked against
# libiotkit_port.a with -Os, function/data sections and --gc-sections, then
# stripped; `size` of each, and the split by origin (footprint.py, from the
# unstripped link's map).
#
# Usage: footprint.sh REPO_DIR OUT_DIR [PROFILE...]   (default: min-size min-size-abort)
# Each PROFILE is built twice (FOOTPRINT_VARIANTS, default "plain lto"):
# `cargo build` (crate-type staticlib + rlib, for which cargo does no LTO)
# and `cargo rustc --crate-type staticlib` (the staticlib alone: the
# profile's LTO applies). FOOTPRINT_NO_UNWIND=1: everything (example, port,
# mbedTLS, Rust) without unwind tables; only sound with panic = "abort".
set -euo pipefail
repo=$(cd "${1:?usage: footprint.sh REPO_DIR OUT_DIR [PROFILE...]}" && pwd)
out=${2:?usage: footprint.sh REPO_DIR OUT_DIR [PROFILE...]}
shift 2
profiles=("$@")
[ ${#profiles[@]} -gt 0 ] || profiles=(min-size min-size-abort)
here="$repo/tests/port_posix"
cc=${CC:-cc}
mkdir -p "$out"
out=$(cd "$out" && pwd)

flags=(-Os -ffunction-sections -fdata-sections -Wall -Wextra -Werror -I"$repo/mcu/include" -I"$here")
suffix=""
if [ "${FOOTPRINT_NO_UNWIND:-}" = 1 ]; then
  flags+=(-fno-asynchronous-unwind-tables -fno-unwind-tables)
  export PORT_POSIX_NO_UNWIND=1
  suffix=-nounwind
fi
variants=${FOOTPRINT_VARIANTS:-plain lto}
"$cc" "${flags[@]}" -Dmain=iotkit_example_main -c "$repo/mcu/example/mqtt_example.c" -o "$out/mqtt_example.o"
"$cc" "${flags[@]}" -c "$here/hal_posix.c" -o "$out/hal_posix.o"
"$cc" "${flags[@]}" -c "$here/posix_main.c" -o "$out/posix_main.o"

link() {  # link NAME ARCHIVE
  local name=$1 lib=$2
  "$cc" -Os -Wl,--gc-sections -Wl,-Map="$out/$name.map" -o "$out/$name" \
    "$out/mqtt_example.o" "$out/hal_posix.o" "$out/posix_main.o" "$lib" -lpthread -ldl -lm -lgcc_s
  strip -o "$out/$name.stripped" "$out/$name"
  python3 "$here/footprint.py" "$out/$name.map" >"$out/$name.split.md"
}

for profile in "${profiles[@]}"; do
  for variant in $variants; do
    if [ "$variant" = lto ]; then
      # Only the staticlib, in its own directory: the profile's LTO applies.
      PORT_POSIX_CRATE_TYPE=staticlib "$here/build-port.sh" "$repo" "$out/cargo-lto$suffix" "$profile"
      link "example-$profile-lto$suffix" "$out/cargo-lto$suffix/$profile/libiotkit_port.a"
    else
      "$here/build-port.sh" "$repo" "$out/cargo$suffix" "$profile"
      link "example-$profile$suffix" "$out/cargo$suffix/$profile/libiotkit_port.a"
    fi
  done
done
cd "$out"
size ./*.stripped
for f in ./*.split.md; do echo "== $f"; cat "$f"; done
