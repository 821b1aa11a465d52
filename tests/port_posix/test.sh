#!/usr/bin/env bash
# The `port_posix` ctest: libiotkit_port.a (crates/port, the flavour over the
# firmware's own HAL port) built for this Linux host, linked with the POSIX
# HAL port of this directory (hal_posix.c) and the MCU image's example
# (mcu/example/mqtt_example.c, unchanged; posix_main.c is the board around
# it), run against iotkit-sim on 127.0.0.1 with real mutual TLS (mbedTLS
# inside libiotkit_port.a, the server's certificate verified against the
# sim's CA and the host name).
#
# First kv_test.c checks the port's HAL_Kv_* alone. Then, for each cargo
# profile in PORT_POSIX_PROFILES (default: "release
# min-size-abort": std with panic unwind, and no_std with panic abort) and
# for an RSA-2048 and a P-256 device: boot 1 connects, learns its identity
# from the identity response, persists it through HAL_Kv_Set (a file in
# IOTKIT_PORT_KV_DIR), subscribes and receives its own message; boot 2
# reuses the persisted identity (CONNECT user name deviceName&productKey).
# Then a boot with another CA must fail the handshake.
#
# Usage: test.sh SIM_BINARY WORK_DIR
# PORT_POSIX_CARGO_DIR=DIR: cargo target directory to reuse (default
# WORK_DIR/cargo, kept between runs). Exit 77 (skipped) naming what is
# missing when a tool is absent.
set -euo pipefail
sim=${1:?usage: test.sh SIM_BINARY WORK_DIR}
work=${2:?usage: test.sh SIM_BINARY WORK_DIR}
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
cc=${CC:-cc}
profiles=${PORT_POSIX_PROFILES:-release min-size-abort}

missing=()
for tool in "${CARGO:-cargo}" "$cc" python3 timeout; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
[ -x "$sim" ] || missing+=("the iotkit-sim binary ($sim)")
if [ ${#missing[@]} -gt 0 ]; then
  echo "SKIPPED: the port_posix test needs: ${missing[*]}"
  exit 77
fi

cargo_dir=${PORT_POSIX_CARGO_DIR:-$work/cargo}
mkdir -p "$work" "$cargo_dir"
find "$work" -mindepth 1 -maxdepth 1 ! -name cargo -exec rm -rf {} +
fail() { echo "PORT_POSIX TEST FAILED: $*"; exit 1; }

pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT

# build PROFILE: libiotkit_port.a of PROFILE + the POSIX port + the example.
build() {
  local profile=$1 out="$work/bin-$1"
  mkdir -p "$out"
  echo "== build libiotkit_port.a ($profile) and the example"
  "$here/build-port.sh" "$repo" "$cargo_dir" "$profile"
  local lib="$cargo_dir/$profile/libiotkit_port.a"
  [ -f "$lib" ] || fail "no $lib"
  local flags=(-Os -Wall -Wextra -Werror -ffunction-sections -fdata-sections -I"$repo/mcu/include" -I"$here")
  "$cc" "${flags[@]}" -Dmain=iotkit_example_main -c "$repo/mcu/example/mqtt_example.c" -o "$out/mqtt_example.o"
  "$cc" "${flags[@]}" -c "$here/hal_posix.c" -o "$out/hal_posix.o"
  "$cc" "${flags[@]}" -c "$here/posix_main.c" -o "$out/posix_main.o"
  "$cc" -Os -Wl,--gc-sections -o "$out/mqtt_example_posix" "$out/mqtt_example.o" "$out/hal_posix.o" \
    "$out/posix_main.o" "$lib" -lpthread -ldl -lm -lgcc_s
}

echo "== the POSIX port's key-value store (kv_test.c)"
"$cc" -Os -Wall -Wextra -Werror -I"$repo/mcu/include" -o "$work/kv_test" "$here/kv_test.c" "$here/hal_posix.c" -lpthread
mkdir -p "$work/kv-test"
"$work/kv_test" "$work/kv-test" || fail "kv_test"

echo "== iotkit-sim: CA, an x509 product, an RSA-2048 and a P-256 device"
data="$work/sim"
"$sim" --data-dir "$data" init >/dev/null
pk=$("$sim" --data-dir "$data" product create --name port-posix --auth-type x509)
# The example echoes on /user/get, subscribe-only by default: both rights.
"$sim" --data-dir "$data" product topic add --product "$pk" --topic user/get --access ALL >/dev/null
"$sim" --data-dir "$data" device create --product "$pk" --name posix-rsa --key-type rsa-2048 >/dev/null
"$sim" --data-dir "$data" device create --product "$pk" --name posix-p256 --key-type ec-p256 >/dev/null
# A second CA that did not issue the sim's server certificate.
"$sim" --data-dir "$work/other-ca" init >/dev/null
timeout 600 "$sim" --data-dir "$data" serve --mqtt 127.0.0.1:0 --http 127.0.0.1:0 >"$work/sim.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do [ -s "$data/serve.json" ] && break; sleep 0.1; done
[ -s "$data/serve.json" ] || { cat "$work/sim.log"; fail "iotkit-sim serve did not start"; }
mqtt_port=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["mqtt_port"])' "$data/serve.json")

# boot DIR BINARY LOG: one run of the example in DIR, the KV store in DIR/kv.
# Sets $status to its exit code.
boot() {
  local dir=$1 image=$2 log=$3
  status=0
  (cd "$dir" && IOTKIT_PORT_KV_DIR="$dir/kv" timeout 120 "$image") >"$log" 2>&1 || status=$?
  cat "$log"
}

device() {  # device NAME DIR
  local name=$1 dir=$2
  mkdir -p "$dir/kv"
  cp "$data/ca.pem" "$dir/ca.pem"
  cp "$data/devices/$pk/$name.pem" "$dir/device.pem"
  cp "$data/devices/$pk/$name.key" "$dir/device.key"
  echo "localhost $mqtt_port" >"$dir/endpoint.txt"
}

summary=()
for profile in $profiles; do
  build "$profile"
  image="$work/bin-$profile/mqtt_example_posix"
  for name in posix-rsa posix-p256; do
    dir="$work/$profile-$name"
    device "$name" "$dir"
    tag="$profile/$name"
    echo "== $tag, boot 1: identity response, persisted, subscribe, echo"
    boot "$dir" "$image" "$dir/boot1.log"
    [ "$status" -eq 0 ] || fail "$tag boot 1: the example exited with $status"
    grep -q "identity: {\"productKey\":\"$pk\",\"deviceName\":\"$name\"} (from the identity response" "$dir/boot1.log" ||
      fail "$tag boot 1: no identity response"
    grep -q "subscribed to /$pk/$name/user/get" "$dir/boot1.log" || fail "$tag boot 1: no subscription"
    grep -q "Topic: /$pk/$name/user/get Payload: {\"message\":\"hello!\"}" "$dir/boot1.log" || fail "$tag boot 1: no echo"
    grep -q "mqtt_example: OK" "$dir/boot1.log" || fail "$tag boot 1: the example did not finish"
    grep -q "^heap after destroy: in use 0 B" "$dir/boot1.log" || fail "$tag boot 1: HAL_Malloc memory left after iotkit_mcu_destroy"
    kv="$dir/kv/kv-iotkit.x509.identity.bin"
    [ -s "$kv" ] || fail "$tag boot 1: the identity was not persisted through HAL_Kv_Set ($kv)"
    grep -q "$pk" "$kv" && grep -q "$name" "$kv" || fail "$tag boot 1: the persisted identity does not name $pk/$name"
    leftovers=$(find "$dir/kv" -name '.kv-*' | wc -l)
    [ "$leftovers" -eq 0 ] || fail "$tag boot 1: HAL_Kv_Set left temporary files behind"
    connects=$(grep -c "CONNECT ok pk=$pk dn=$name client=\"x509-[0-9a-f]\{24\}|.*username=\"\"" "$work/sim.log" || true)
    [ "$connects" -ge 1 ] || fail "$tag boot 1: the sim saw no anonymous CONNECT with the certificate's client id"

    echo "== $tag, boot 2: the persisted identity"
    before=$(grep -c "CONNECT ok pk=$pk dn=$name .*username=\"$name&$pk\"" "$work/sim.log" || true)
    boot "$dir" "$image" "$dir/boot2.log"
    [ "$status" -eq 0 ] || fail "$tag boot 2: the example exited with $status"
    grep -q "identity: {\"productKey\":\"$pk\",\"deviceName\":\"$name\"} (persisted by an earlier boot" "$dir/boot2.log" ||
      fail "$tag boot 2: the persisted identity was not reused"
    grep -q "Topic: /$pk/$name/user/get Payload: {\"message\":\"hello!\"}" "$dir/boot2.log" || fail "$tag boot 2: no echo"
    after=$(grep -c "CONNECT ok pk=$pk dn=$name .*username=\"$name&$pk\"" "$work/sim.log" || true)
    [ "$after" -gt "$before" ] || fail "$tag boot 2: the sim did not see the user name $name&$pk"

    peak=$(sed -n 's/.*connection 1: connected in \([0-9]*\) ms, cipher suite \(0x[0-9A-F]*\).*heap peak during connect \([0-9]*\) B/\2 peak \3 B (\1 ms)/p' "$dir/boot1.log")
    steady=$(sed -n 's/^heap steady.*in use \([0-9]*\) B.*/\1/p' "$dir/boot1.log")
    stack=$(sed -n 's/^stack: \([0-9]*\) of.*/\1/p' "$dir/boot1.log")
    summary+=("$tag: suite $peak, steady $steady B, stack $stack B")
  done

  echo "== $profile: a CA that did not issue the server's certificate"
  dir="$work/$profile-wrong-ca"
  device posix-rsa "$dir"
  cp "$work/other-ca/ca.pem" "$dir/ca.pem"
  boot "$dir" "$image" "$dir/boot.log"
  [ "$status" -eq 4 ] || fail "$profile wrong CA: the example exited with $status, not 4 (connect failed)"
  grep -q "does not verify against the CA" "$dir/boot.log" || fail "$profile wrong CA: no certificate verification failure"
  [ ! -e "$dir/kv/kv-iotkit.x509.identity.bin" ] || fail "$profile wrong CA: an identity was persisted"
done

echo "== summary (HAL_Malloc counters of the POSIX port; stack of the example's thread)"
printf '%s\n' "${summary[@]}"
echo "PORT_POSIX TEST PASSED"
