#!/usr/bin/env bash
# The X.509 flow against iotkit-sim, case by case (what the demo shows, plus
# the failure paths): persisted identity reused; a damaged or truncated KV
# file ignored with a state event; another certificate never reusing the
# identity; persistence switched off; malformed identity responses.
#
# Usage: x509_flow_tests.sh SIM_BINARY EXAMPLES_DIR IDENTITY_TEST WORK_DIR
set -euo pipefail
sim=${1:?usage}
examples=${2:?usage}
identity_test=${3:?usage}
work=${4:?usage}
rm -rf "$work"
mkdir -p "$work"
data="$work/sim"
pass=0
fail=0
ok() { pass=$((pass + 1)); echo "ok   - $*"; }
bad() { fail=$((fail + 1)); echo "FAIL - $*"; }
check() { local what=$1; shift; if "$@"; then ok "$what"; else bad "$what"; fi; }

sim_pid=""
trap '[ -n "$sim_pid" ] && kill "$sim_pid" 2>/dev/null; wait 2>/dev/null || true' EXIT
"$sim" --data-dir "$data" init >/dev/null
pk=$("$sim" --data-dir "$data" product create --name flow --auth-type x509 2>/dev/null)
# The examples echo on /user/get (subscribe-only by default): give it both rights.
"$sim" --data-dir "$data" product topic add --product "$pk" --topic user/get --access ALL >/dev/null
field() { python3 -c 'import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$1" "$2"; }
dev1=$("$sim" --data-dir "$data" device create --product "$pk" --name flow-device-1 --json 2>/dev/null)
dev2=$("$sim" --data-dir "$data" device create --product "$pk" --name flow-device-2 --key-type ec-p256 --json 2>/dev/null)
"$sim" --data-dir "$data" serve --mqtt 127.0.0.1:0 --http 127.0.0.1:0 >"$work/sim.log" 2>&1 &
sim_pid=$!
for _ in $(seq 1 100); do [ -s "$data/serve.json" ] && break; sleep 0.1; done
port() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$data/serve.json" "$1"; }
export IOTX_MQTT_HOST=127.0.0.1 IOTX_MQTT_PORT=$(port mqtt_port) IOTX_X509_CA_FILE="$data/ca.pem"
http_port=$(port http_port)

as_device() { # as_device JSON KV_DIR LOG
  IOTX_X509_CERT_FILE=$(field "$1" certFile) IOTX_X509_KEY_FILE=$(field "$1" keyFile) IOTX_KV_DIR="$2" \
    "$examples/x509_reconnect" >"$3" 2>&1
}

# 1. First run: empty user name, identity learned; 2. second run reuses it.
as_device "$dev1" "$work/kv1" "$work/1.log" || true
check "first run connects with an empty user name" grep -q "username=(empty)" "$work/1.log"
check "first run learns the identity" grep -q "after Construct: ProductKey=$pk DeviceName=flow-device-1" "$work/1.log"
check "first run receives its own message" grep -q "echo received" "$work/1.log"
as_device "$dev1" "$work/kv1" "$work/2.log" || true
check "second run's first CONNECT carries DN&PK" grep -q "username=flow-device-1&$pk" "$work/2.log"
check "the sim saw the persisted-identity CONNECT" grep -q "username=\"flow-device-1&$pk\"" "$work/sim.log"

# 3. A damaged KV file: state event, ignored, learned again, repaired.
kvfile=$(ls "$work"/kv1/iotkit-identity-*.kv)
printf 'garbage' >"$kvfile"
as_device "$dev1" "$work/kv1" "$work/3.log" || true
check "damaged identity file: state event" grep -q "persisted identity cannot be used" "$work/3.log"
check "damaged identity file: learned again" grep -q "after Construct: ProductKey=$pk" "$work/3.log"
as_device "$dev1" "$work/kv1" "$work/3b.log" || true
check "damaged identity file: repaired by the next write" grep -q "username=flow-device-1&$pk" "$work/3b.log"

# 4. A truncated KV file.
head -c 10 "$kvfile" >"$kvfile.cut" && mv "$kvfile.cut" "$kvfile"
as_device "$dev1" "$work/kv1" "$work/4.log" || true
check "truncated identity file: state event and empty user name" \
  bash -c "grep -q 'persisted identity cannot be used' '$work/4.log' && grep -q 'username=(empty)' '$work/4.log'"

# 5. Another certificate with the same KV directory never reuses device 1's identity.
as_device "$dev2" "$work/kv1" "$work/5.log" || true
check "another certificate starts with an empty user name" grep -q "username=(empty)" "$work/5.log"
check "another certificate learns its own identity" grep -q "after Construct: ProductKey=$pk DeviceName=flow-device-2" "$work/5.log"

# 6. Persistence off.
IOTX_PERSIST_IDENTITY=0 as_device "$dev2" "$work/kv-off" "$work/6.log" || true
IOTX_PERSIST_IDENTITY=0 as_device "$dev2" "$work/kv-off" "$work/6b.log" || true
check "persistence off: nothing written" bash -c "! ls '$work'/kv-off/iotkit-identity-* >/dev/null 2>&1"
check "persistence off: second run connects with an empty user name" grep -q "username=(empty)" "$work/6b.log"

# 7. Malformed identity responses (published through the sim's HTTP API).
payloads=('not json' '[]' '{"productKey":"a1x"}' '{"productKey":"a1x","deviceName":7}'
  '{"productKey":"","deviceName":"dddd"}' '{"productKey":"aaaaaaaaaaaaaaaaaaaaaaaa","deviceName":"dddd"}'
  '{"productKey":"a1x","deviceName":"has space"}')
rm -f "$work/ready"
IOTX_X509_CERT_FILE=$(field "$dev1" certFile) IOTX_X509_KEY_FILE=$(field "$dev1" keyFile) IOTX_KV_DIR="$work/kv7" \
  "$identity_test" "$work/ready" "${#payloads[@]}" 20 >"$work/7.log" 2>&1 &
tester=$!
for _ in $(seq 1 100); do [ -f "$work/ready" ] && break; sleep 0.1; done
for payload in "${payloads[@]}"; do
  python3 - "$http_port" "$payload" <<'PY'
import sys, urllib.request
req = urllib.request.Request(
    f"http://127.0.0.1:{sys.argv[1]}/api/pub?topic=/ext/auth/identity/response&qos=0",
    data=sys.argv[2].encode(), method="POST")
urllib.request.urlopen(req, timeout=5).read()
PY
done
if wait "$tester"; then ok "malformed identity responses: events, identity unchanged, still connected"; else
  bad "malformed identity responses"; cat "$work/7.log"; fi

# 8. Several devices in one process, each with its own certificate and identity.
if [ -n "${MULTI_DEVICE_TEST:-}" ]; then
  dev3=$("$sim" --data-dir "$data" device create --product "$pk" --name flow-device-3 --json 2>/dev/null)
  if "$MULTI_DEVICE_TEST" 127.0.0.1 "$IOTX_MQTT_PORT" "$data/ca.pem" \
      "$(field "$dev1" certFile)" "$(field "$dev1" keyFile)" \
      "$(field "$dev2" certFile)" "$(field "$dev2" keyFile)" \
      "$(field "$dev3" certFile)" "$(field "$dev3" keyFile)" >"$work/8.log" 2>&1; then
    ok "three devices in one process, each with its own identity"
  else
    bad "three devices in one process"; cat "$work/8.log"
  fi
fi

# 9. One process, two certificates: Destroy, assign another certificate to
# g_cli_crt/g_cli_key, Construct again. The second CONNECT must not present
# the first certificate's identity; the second certificate learns its own.
if env -u IOTX_X509_CERT_FILE -u IOTX_X509_KEY_FILE IOTX_KV_DIR="$work/kv9" "$identity_test" --switch \
    "$(field "$dev1" certFile)" "$(field "$dev1" keyFile)" flow-device-1 \
    "$(field "$dev2" certFile)" "$(field "$dev2" keyFile)" flow-device-2 >"$work/9.log" 2>&1; then
  ok "a second certificate in one process learns its own identity"
else
  bad "a second certificate in one process"; cat "$work/9.log"
fi
check "the second certificate never signed in as the first" \
  bash -c "[ \$(grep -c 'username=flow-device-1&$pk' '$work/9.log') -eq 0 ]"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
