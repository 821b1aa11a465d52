#!/usr/bin/env bash
# The `mcu` ctest: builds the Cortex-M4 images and runs them in QEMU
# (mps2-an386) against iotkit-sim, through the UART-over-TCP modem bridge.
#
# For an RSA-2048 and a P-256 device: boot 1 connects with mutual TLS,
# learns its identity from the identity response, persists it (HAL_Kv_Set,
# a semihosting file), subscribes and receives its own message; boot 2
# reuses the persisted identity (CONNECT user name deviceName&productKey).
# Then the Max Fragment Length image connects and reconnects (TLS session
# resumption when the server agrees).
#
# Usage: test.sh SIM_BINARY WORK_DIR
# MCU_BUILD_DIR=DIR reuses (and updates) that build tree of mcu/ instead of
# building from scratch under WORK_DIR.
# Exit 77 (skipped) when a tool is missing, naming it.
set -euo pipefail
sim=${1:?usage: test.sh SIM_BINARY WORK_DIR}
work=${2:?usage: test.sh SIM_BINARY WORK_DIR}
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)

missing=()
for tool in arm-none-eabi-gcc qemu-system-arm python3 cmake; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if ! { command -v rustup >/dev/null 2>&1 && rustup target list --installed 2>/dev/null | grep -qx thumbv7em-none-eabihf; } &&
   ! { [ -x /usr/bin/cargo ] && [ -x /usr/bin/rustc ] && [ -d /usr/lib/rustlib/src/rust/library ]; }; then
  missing+=("a Rust toolchain for thumbv7em-none-eabihf (rustup target add thumbv7em-none-eabihf, or Debian's rustc-web cargo-web rust-web-src)")
fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "SKIPPED: the mcu test needs: ${missing[*]}"
  echo "(Debian: apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm rustc-web cargo-web rust-web-src)"
  exit 77
fi

rm -rf "$work"
mkdir -p "$work"
fail() { echo "MCU TEST FAILED: $*"; exit 1; }

echo "== build the images"
build=${MCU_BUILD_DIR:-$work/build}
cmake -S "$here" -B "$build" -DCMAKE_TOOLCHAIN_FILE="$here/arm-none-eabi.cmake" >/dev/null
cmake --build "$build"
elf="$build/mqtt_example.elf"
elf_mfl="$build/mqtt_example_mfl.elf"

pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT

echo "== iotkit-sim: CA, an x509 product, an RSA-2048 and a P-256 device"
data="$work/sim"
"$sim" --data-dir "$data" init >/dev/null
pk=$("$sim" --data-dir "$data" product create --name mcu --auth-type x509)
# The example echoes on /user/get, which the platform makes subscribe-only by
# default: give the class both rights, as a console user would.
"$sim" --data-dir "$data" product topic add --product "$pk" --topic user/get --access ALL >/dev/null
"$sim" --data-dir "$data" device create --product "$pk" --name mcu-rsa --key-type rsa-2048 >/dev/null
"$sim" --data-dir "$data" device create --product "$pk" --name mcu-p256 --key-type ec-p256 >/dev/null
"$sim" --data-dir "$data" serve --mqtt 127.0.0.1:0 --http 127.0.0.1:0 >"$work/sim.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do [ -s "$data/serve.json" ] && break; sleep 0.1; done
[ -s "$data/serve.json" ] || { cat "$work/sim.log"; fail "iotkit-sim serve did not start"; }
mqtt_port=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["mqtt_port"])' "$data/serve.json")

python3 "$here/uart_bridge.py" "$work/bridge.port" >"$work/bridge.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do [ -s "$work/bridge.port" ] && break; sleep 0.1; done
[ -s "$work/bridge.port" ] || fail "the UART bridge did not start"
bridge_port=$(cat "$work/bridge.port")

# boot DIR ELF LOG: one boot of the image with DIR as semihosting directory.
boot() {
  local dir=$1 image=$2 log=$3 status=0
  (cd "$dir" && timeout 120 qemu-system-arm -M mps2-an386 -display none -monitor none \
      -chardev socket,id=uart0,host=127.0.0.1,port="$bridge_port" -serial chardev:uart0 \
      -semihosting-config enable=on,target=native -kernel "$image") >"$log" 2>&1 || status=$?
  cat "$log"
  [ "$status" -eq 0 ] || fail "$(basename "$log" .log): QEMU exited with $status"
}

device() {  # device NAME DIR [ENDPOINT_EXTRA]
  local name=$1 dir=$2
  mkdir -p "$dir"
  cp "$data/ca.pem" "$dir/ca.pem"
  cp "$data/devices/$pk/$name.pem" "$dir/device.pem"
  cp "$data/devices/$pk/$name.key" "$dir/device.key"
  head -c 32 /dev/urandom >"$dir/seed.bin"
  echo "localhost $mqtt_port ${3:-}" >"$dir/endpoint.txt"
}

for name in mcu-rsa mcu-p256; do
  dir="$work/$name"
  device "$name" "$dir"
  echo "== $name, boot 1: identity response, subscribe, echo"
  boot "$dir" "$elf" "$work/$name-boot1.log"
  grep -q "identity: {\"productKey\":\"$pk\",\"deviceName\":\"$name\"} (from the identity response" "$work/$name-boot1.log" ||
    fail "$name boot 1: no identity response"
  grep -q "subscribed to /$pk/$name/user/get" "$work/$name-boot1.log" || fail "$name boot 1: no subscription"
  grep -q "Topic: /$pk/$name/user/get Payload: {\"message\":\"hello!\"}" "$work/$name-boot1.log" || fail "$name boot 1: no echo"
  [ -s "$dir/kv-iotkit.x509.identity.bin" ] || fail "$name boot 1: the identity was not persisted"
  grep -q "CONNECT ok pk=$pk dn=$name client=\"x509-[0-9a-f]\{24\}|.*username=\"\"" "$work/sim.log" ||
    fail "$name boot 1: the sim saw no anonymous CONNECT with the certificate's client id"

  echo "== $name, boot 2: the persisted identity"
  boot "$dir" "$elf" "$work/$name-boot2.log"
  grep -q "identity: {\"productKey\":\"$pk\",\"deviceName\":\"$name\"} (persisted by an earlier boot" "$work/$name-boot2.log" ||
    fail "$name boot 2: the persisted identity was not reused"
  grep -q "Topic: /$pk/$name/user/get Payload: {\"message\":\"hello!\"}" "$work/$name-boot2.log" || fail "$name boot 2: no echo"
  grep -q "CONNECT ok pk=$pk dn=$name .*username=\"$name&$pk\"" "$work/sim.log" ||
    fail "$name boot 2: the sim did not see the user name $name&$pk"
done

echo "== mcu-rsa with Max Fragment Length 2048, connect and reconnect"
dir="$work/mcu-rsa-mfl"
device mcu-rsa "$dir" reconnect
boot "$dir" "$elf_mfl" "$work/mfl.log"
grep -q "inbound records up to 2048 B" "$work/mfl.log" || fail "MFL image: Max Fragment Length was not used"
grep -q "connection 2: connected" "$work/mfl.log" || fail "MFL image: no reconnect"
grep -q "Topic: /$pk/mcu-rsa/user/get Payload: {\"message\":\"hello!\"}" "$work/mfl.log" || fail "MFL image: no echo"

echo "== footprint"
arm-none-eabi-size "$elf" "$elf_mfl"
echo "MCU TEST PASSED"
