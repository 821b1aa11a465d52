#!/usr/bin/env bash
# Builds crates/port (iotkit-port) for the host (x86_64-unknown-linux-gnu or
# whatever the host is) as libiotkit_port.a, with the same client-only
# mbedTLS configuration as the MCU (mcu/mbedtls-config/mbedtls/target_config.h:
# mbedTLS's calloc/free go through HAL_Malloc/HAL_Free of the port).
#
# Usage: build-port.sh REPO_DIR TARGET_DIR PROFILE
# PROFILE: a cargo profile of the workspace, e.g. release (std, panic
# unwind: a panic goes to iotkit_panic_hook through std's hook, then abort)
# or min-size-abort (opt-level z, no_std + alloc, its own panic handler).
# The archive ends up in TARGET_DIR/PROFILE/libiotkit_port.a.
# PORT_POSIX_CRATE_TYPE=staticlib, PORT_POSIX_NO_UNWIND=1: see below.
set -euo pipefail
repo=${1:?usage: build-port.sh REPO_DIR TARGET_DIR PROFILE}
target_dir=${2:?usage: build-port.sh REPO_DIR TARGET_DIR PROFILE}
profile=${3:?usage: build-port.sh REPO_DIR TARGET_DIR PROFILE}
cargo=${CARGO:-cargo}

host=$("$cargo" -vV | sed -n 's/^host: //p')
var=${host//-/_}
config_dir="$repo/mcu/mbedtls-config"
# As in mcu/build-port.sh: the configuration's hash is part of the C flags,
# since mbedtls-sys-auto reruns when CFLAGS change, not when a header does.
config_hash=$(cat "$config_dir/mbedtls/target_config.h" "$0" | cksum | cut -d' ' -f1)
defines="-DTARGET_LIKE_MBED -DIOTKIT_MCU_CONFIG_HASH=$config_hash"
cflags="-Os -ffunction-sections -fdata-sections"
# PORT_POSIX_NO_UNWIND=1 (footprint experiments with a panic = "abort"
# profile): no unwind tables in mbedTLS or the Rust code.
if [ "${PORT_POSIX_NO_UNWIND:-}" = 1 ]; then
  cflags="$cflags -fno-asynchronous-unwind-tables -fno-unwind-tables"
  export RUSTFLAGS="${RUSTFLAGS:-} -C force-unwind-tables=no"
fi
export "CFLAGS_$var=$cflags $defines -I$config_dir"
export "BINDGEN_EXTRA_CLANG_ARGS_$var=$defines -I$config_dir"
export CARGO_BUILD_JOBS=${CARGO_BUILD_JOBS:-2}

cd "$repo"
# PORT_POSIX_CRATE_TYPE=staticlib: `cargo rustc --crate-type staticlib`, the
# archive alone. With the manifest's two crate types (staticlib + rlib)
# cargo does not run the profile's LTO; with one it does.
if [ "${PORT_POSIX_CRATE_TYPE:-}" = staticlib ]; then
  exec "$cargo" rustc -p iotkit-port --lib --locked --profile "$profile" --target-dir "$target_dir" --crate-type staticlib
fi
exec "$cargo" build -p iotkit-port --lib --locked --profile "$profile" --target-dir "$target_dir"
