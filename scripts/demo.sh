#!/usr/bin/env bash
# The end-to-end demo: a C device authenticates with X.509 against iotkit-sim
# on loopback, learns its identity, subscribes, receives its own message,
# then a second process reconnects with the persisted identity.
#
# Usage: demo.sh SIM_BINARY EXAMPLES_DIR [WORK_DIR]
# Exits non-zero when any step fails.
set -euo pipefail

sim=${1:?usage: demo.sh SIM_BINARY EXAMPLES_DIR [WORK_DIR]}
examples=${2:?usage: demo.sh SIM_BINARY EXAMPLES_DIR [WORK_DIR]}
work=${3:-$(mktemp -d)}
rm -rf "$work"
mkdir -p "$work"
data="$work/sim"

bold() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
fail() { printf '\n\033[1;31mDEMO FAILED: %s\033[0m\n' "$*"; exit 1; }

sim_pid=""
stop_sim() {
  if [ -n "$sim_pid" ] && kill -0 "$sim_pid" 2>/dev/null; then
    kill "$sim_pid" 2>/dev/null || true
    wait "$sim_pid" 2>/dev/null || true
  fi
}
trap stop_sim EXIT

bold "1. iotkit-sim: a platform CA, an x509 product and a device certificate"
"$sim" --data-dir "$data" init
pk=$("$sim" --data-dir "$data" product create --name demo --auth-type x509)
# The example echoes on /user/get, which is subscribe-only by default: give it both rights.
"$sim" --data-dir "$data" product topic add --product "$pk" --topic user/get --access ALL >/dev/null
echo "productKey: $pk"
device_json=$("$sim" --data-dir "$data" device create --product "$pk" --name demo-device-1 --json)
json_field() { python3 -c 'import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$device_json" "$1"; }
cert=$(json_field certFile)
key=$(json_field keyFile)
ca=$(json_field caFile)
dn=$(json_field deviceName)
[ -s "$cert" ] && [ -s "$key" ] && [ -s "$ca" ] || fail "the sim did not write the certificate files"
echo "deviceName: $dn"
echo "certificate: $cert"
echo "private key: $key (RSA-2048, PKCS#1)"

bold "2. iotkit-sim serve: the x509 MQTT endpoint (mutual TLS) on a free loopback port"
"$sim" --data-dir "$data" serve --mqtt 127.0.0.1:0 --http 127.0.0.1:0 >"$work/sim.log" 2>&1 &
sim_pid=$!
for _ in $(seq 1 100); do
  [ -s "$data/serve.json" ] && break
  kill -0 "$sim_pid" 2>/dev/null || { cat "$work/sim.log"; fail "iotkit-sim serve exited"; }
  sleep 0.1
done
[ -s "$data/serve.json" ] || fail "iotkit-sim serve did not start within 10 s"
mqtt_port=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["mqtt_port"])' "$data/serve.json")
echo "endpoint: localhost:$mqtt_port (sim pid $sim_pid)"

export IOTX_X509_CERT_FILE="$cert" IOTX_X509_KEY_FILE="$key" IOTX_X509_CA_FILE="$ca"
export IOTX_MQTT_HOST=localhost IOTX_MQTT_PORT="$mqtt_port" IOTX_KV_DIR="$work/device-kv"

bold "3. mqtt_example: empty ProductKey/DeviceName; TLS handshake, identity response, subscribe, echo"
set +e
"$examples/mqtt_example" 30 2>&1 | tee "$work/run1.log"
status=${PIPESTATUS[0]}
set -e
[ "$status" -eq 0 ] || fail "mqtt_example exited with $status"
grep -q "identity: {\"productKey\":\"$pk\",\"deviceName\":\"$dn\"}" "$work/run1.log" || fail "no identity response in the example's output"
grep -q "ProductKey: $pk, DeviceName: $dn" "$work/run1.log" || fail "IOT_Ioctl GET did not return the identity"
grep -q "subscribed to /$pk/$dn/user/get" "$work/run1.log" || fail "no subscription"
grep -q 'Payload: {"message":"hello!"}' "$work/run1.log" || fail "the device did not receive its own message"

bold "4. x509_reconnect: a new process reuses the persisted identity in its first CONNECT"
set +e
"$examples/x509_reconnect" 2>&1 | tee "$work/run2.log"
status=${PIPESTATUS[0]}
set -e
[ "$status" -eq 0 ] || fail "x509_reconnect exited with $status"
grep -q "username=$dn&$pk" "$work/run2.log" || fail "the second CONNECT did not carry $dn&$pk"
grep -q "after Construct: ProductKey=$pk DeviceName=$dn" "$work/run2.log" || fail "identity not known after Construct"

bold "5. What the endpoint saw"
grep -E "CONNECT|identity|REFUSED|disconnect" "$work/sim.log" || true
grep -q "$dn&$pk" "$work/sim.log" || fail "the sim did not log the persisted-identity CONNECT"

stop_sim
sim_pid=""
bold "Demo passed: X.509 handshake, identity response, subscribe, echo, persisted reconnect"
