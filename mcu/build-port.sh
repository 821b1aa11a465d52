#!/usr/bin/env bash
# Builds crates/port (iotkit-port) as a no_std static library for
# thumbv7em-none-eabihf, with mbedTLS compiled by arm-none-eabi-gcc under
# mcu/mbedtls-config/mbedtls/target_config.h.
#
# Usage: build-port.sh REPO_DIR TARGET_DIR
# Uses rustup's thumbv7em-none-eabihf target when it is installed, else
# Debian's rustc-web/cargo-web with rust-web-src (-Zbuild-std=core,alloc).
set -euo pipefail
repo=${1:?usage: build-port.sh REPO_DIR TARGET_DIR}
target_dir=${2:?usage: build-port.sh REPO_DIR TARGET_DIR}
target=thumbv7em-none-eabihf
gcc=${ARM_GCC:-arm-none-eabi-gcc}

sysroot=$("$gcc" -print-sysroot)
newlib_include="$sysroot/include"
[ -d "$newlib_include" ] || newlib_include=/usr/lib/arm-none-eabi/include
config_dir="$repo/mcu/mbedtls-config"
# The hash of the configuration and of this script is part of the C flags:
# mbedtls-sys-auto reruns (C build and bindgen) when CFLAGS change, not when
# an included header or the bindgen arguments do.
config_hash=$(cat "$config_dir/mbedtls/target_config.h" "$0" | cksum | cut -d' ' -f1)
defines="-DTARGET_LIKE_MBED -DIOTKIT_MCU_CONFIG_HASH=$config_hash"
# IOTKIT_MCU_MAX_FRAGMENT (512..4096): mbedTLS's inbound record buffer for a
# Max Fragment Length build; unset or 0: 16 KiB.
if [ -n "${IOTKIT_MCU_MAX_FRAGMENT:-}" ] && [ "$IOTKIT_MCU_MAX_FRAGMENT" != 0 ]; then
  defines="$defines -DIOTKIT_MCU_MAX_FRAGMENT=$IOTKIT_MCU_MAX_FRAGMENT"
fi
flags="-mcpu=cortex-m4 -mthumb -mfloat-abi=hard -mfpu=fpv4-sp-d16 -Os -ffunction-sections -fdata-sections $defines -I$config_dir"

export CC_thumbv7em_none_eabihf="$gcc"
export AR_thumbv7em_none_eabihf="${ARM_AR:-arm-none-eabi-ar}"
export CFLAGS_thumbv7em_none_eabihf="$flags"
# -fshort-enums: arm-none-eabi-gcc sizes a C enum by its values (AAPCS for
# bare metal), clang does not by default; without it the bindings would see
# 4-byte enums where mbedTLS stores 1-byte ones (struct layouts, the curve
# list).
export BINDGEN_EXTRA_CLANG_ARGS_thumbv7em_none_eabihf="--target=$target -mfloat-abi=hard -fshort-enums $defines -I$config_dir -I$newlib_include"
export CARGO_BUILD_JOBS=${CARGO_BUILD_JOBS:-1}

profile=(--config 'profile.mcu.inherits="release"' --config 'profile.mcu.panic="abort"'
  --config 'profile.mcu.opt-level="z"' --config 'profile.mcu.lto=true'
  --config 'profile.mcu.codegen-units=1' --config 'profile.mcu.debug=false')

cd "$repo"
if command -v rustup >/dev/null 2>&1 && rustup target list --installed 2>/dev/null | grep -qx "$target"; then
  exec cargo build -p iotkit-port --lib --target "$target" --target-dir "$target_dir" --profile mcu "${profile[@]}"
elif [ -x /usr/bin/cargo ] && [ -x /usr/bin/rustc ] && [ -d /usr/lib/rustlib/src/rust/library ]; then
  export RUSTC=/usr/bin/rustc RUSTC_BOOTSTRAP=1
  # With the unstable flags this route allows anyway: no file/line strings
  # in panic locations and no Debug formatting code (the library reports
  # with Display sentences only); about 10 KB less flash.
  profile+=(--config 'target.thumbv7em-none-eabihf.rustflags=["-Zlocation-detail=none", "-Zfmt-debug=none"]')
  exec /usr/bin/cargo build -p iotkit-port --lib --target "$target" --target-dir "$target_dir" --profile mcu "${profile[@]}" -Zbuild-std=core,alloc
else
  echo "build-port.sh: no Rust toolchain for $target: run 'rustup target add $target', or install Debian's rustc-web cargo-web rust-web-src" >&2
  exit 77
fi
