#!/usr/bin/env bash
# Footprint of firmware linking iotkit-rs: builds libiotkit.a with each
# size-relevant cargo profile, links c_examples/mqtt_example.c against it,
# and prints `size` (text/data/bss) and the file size of each executable,
# from the plain release link ("before") to the smallest variant.
#
# Usage: scripts/footprint.sh [WORK_DIR]
# Environment: CARGO_TARGET_DIR (default ROOT/target), CC (default cc),
# FOOTPRINT_PROFILES (default "release min-size min-size-abort").
#
# Per target instead: FOOTPRINT_TARGETS="LABEL=GNU_TRIPLE=LIBIOTKIT_A ..."
# (GNU_TRIPLE "native" for the build machine's cc) links the example against
# each given libiotkit.a (e.g. the CMake builds' build/*/lib/iotkit_full/,
# cross builds with cmake/toolchains/) with <triple>-gcc, stripped and
# --gc-sections, and prints one table row per target.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=${1:-$(mktemp -d)}
mkdir -p "$work"

if [ -n "${FOOTPRINT_TARGETS:-}" ]; then
  echo "| target | compiler | text | data | bss | text+data+bss | file bytes |"
  echo "|---|---|---:|---:|---:|---:|---:|"
  for spec in $FOOTPRINT_TARGETS; do
    IFS== read -r label triple lib <<<"$spec"
    if [ "$triple" = native ]; then tc=${CC:-cc} tstrip=strip tsize=size; else tc=$triple-gcc tstrip=$triple-strip tsize=$triple-size; fi
    exe=$work/mqtt_example-$label
    "$tc" -Os -I"$root/include" -ffunction-sections -fdata-sections -Wl,--gc-sections -o "$exe" \
      "$root/c_examples/mqtt_example.c" "$lib" -lgcc_s -lutil -lrt -lpthread -lm -ldl -lc
    "$tstrip" "$exe"
    read -r text data bss _ < <("$tsize" "$exe" | tail -1)
    printf '| %s | %s | %d | %d | %d | %d | %d |\n' "$label" "$("$tc" -dumpversion) ($("$tc" -dumpmachine))" \
      "$text" "$data" "$bss" $((text + data + bss)) "$(stat -c %s "$exe")"
  done
  exit 0
fi
target=${CARGO_TARGET_DIR:-$root/target}
cc=${CC:-cc}
native_libs=(-lgcc_s -lutil -lrt -lpthread -lm -ldl -lc)
profiles=${FOOTPRINT_PROFILES:-release min-size min-size-abort}

for p in $profiles; do
  (cd "$root" && cargo build --lib --locked --profile "$p") >&2
done

# link NAME PROFILE STRIP(0/1) GC(0/1): links the example, prints one table row.
link() {
  local name=$1 profile=$2 strip=$3 gc=$4
  local exe=$work/$name
  local flags=(-Os -I"$root/include")
  [ "$gc" = 1 ] && flags+=(-ffunction-sections -fdata-sections -Wl,--gc-sections)
  "$cc" "${flags[@]}" -o "$exe" "$root/c_examples/mqtt_example.c" "$target/$profile/libiotkit.a" "${native_libs[@]}"
  [ "$strip" = 1 ] && strip "$exe"
  read -r text data bss _ < <(size "$exe" | tail -1)
  printf '| %s | %s | %d | %d | %d | %d | %d |\n' "$name" "$profile" "$text" "$data" "$bss" \
    $((text + data + bss)) "$(stat -c %s "$exe")"
}

echo "== c_examples/mqtt_example.c linked against libiotkit.a ($(uname -m), $($cc --version | head -1))"
echo
echo "| variant | cargo profile | text | data | bss | text+data+bss | file bytes |"
echo "|---|---|---:|---:|---:|---:|---:|"
link before-release-unstripped release 0 0
link release-stripped release 1 0
link release-stripped-gc release 1 1
for p in $profiles; do
  [ "$p" = release ] && continue
  link "$p-stripped-gc" "$p" 1 1
done
echo
echo "libiotkit.a sizes (archive, before the linker drops what is unused):"
for p in $profiles; do
  printf '  %-16s %10d bytes\n' "$p" "$(stat -c %s "$target/$p/libiotkit.a")"
done

# Where the bytes go in the smallest variant: the largest symbols, grouped by origin.
last=$(echo "$profiles" | awk '{print $NF}')
"$cc" -Os -I"$root/include" -ffunction-sections -fdata-sections -Wl,--gc-sections -o "$work/symbols" \
  "$root/c_examples/mqtt_example.c" "$target/$last/libiotkit.a" "${native_libs[@]}"
echo
echo "text+data by origin in the $last link (nm -S, unstripped):"
nm -S --size-sort -t d -C "$work/symbols" | awk '
  NF >= 4 && $3 ~ /^[TtDdRrBb]$/ { size = $2 + 0; name = $4; sub(/^</, "", name);
    if (name ~ /^(mbedtls|ssl_|ecp_|x509_|mpi_|rsa_|pk_|gcm_|aes|sha|ecdh|ecdsa|ciphersuite_|cipher_|md_|oid_|asn1|pem_|ctr_drbg|entropy|chacha|poly|ccm_|des_|camellia|aria|base64)/)
      o = "mbedTLS (C library and its Rust bindings)";
    else if (name ~ /^(iotkit::|IOT_|HAL_|iotkit_|iotx_|g_cli|iotx)/) o = "iotkit";
    else if (name ~ /^(serde_json::|serde::|zmij|itoa|ryu)/) o = "serde_json";
    else if (name ~ /^(gimli|addr2line|miniz_oxide|rustc_demangle|object::)/)
      o = "Rust std backtrace symbolizer (gimli, miniz_oxide, rustc_demangle)";
    else if (name ~ /^(std|core|alloc|hashbrown|std_detect|rust_|__rust|_ZN)/) o = "Rust std/core/alloc";
    else o = "other (libc glue, the example, generics of other crates)";
    sum[o] += size }
  END { for (o in sum) printf "%9d bytes  %s\n", sum[o], o }' | sort -rn
echo
echo "sections of the stripped $last variant (size -A):"
size -A "$work/$last-stripped-gc" | awk '$1 ~ /^\./ && $2 > 4096 { printf "  %-20s %9d bytes\n", $1, $2 }'
