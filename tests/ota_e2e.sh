#!/usr/bin/env bash
# OTA end to end: tests/c/ota_test.c (written like the vendor's OTA example)
# against iotkit-sim, one device per case: a full update and the version
# report after the "reboot" that completes the job; a download cut in the
# middle and resumed with a Range; a wrong digest refused; the firmware's own
# storage failing mid-write; an expired URL; a server that ignores Range
# after a cut; bad input for every IOT_OTA_* function; an update whose
# server CA the firmware gave only in mqtt_params.pub_key.
#
# Usage: ota_e2e.sh SIM OTA_TEST OTA_TEST_OWN_STORAGE WORK_DIR
set -euo pipefail
sim=${1:?usage}
ota_test=${2:?usage}
ota_own=${3:?usage}
work=${4:?usage}
rm -rf "$work"
mkdir -p "$work"
data="$work/sim"
pass=0
fail=0
ok() { pass=$((pass + 1)); echo "ok   - $*"; }
bad() { fail=$((fail + 1)); echo "FAIL - $*"; }
check() { local what=$1; shift; if "$@"; then ok "$what"; else bad "$what"; fi; }
# The sim records reports asynchronously: wait (bounded) for a condition.
eventually() { for _ in $(seq 1 100); do "$@" && return 0; sleep 0.1; done; return 1; }

sim_pid=""
trap '[ -n "$sim_pid" ] && kill "$sim_pid" 2>/dev/null; wait 2>/dev/null || true' EXIT
S() { "$sim" --data-dir "$data" "$@"; }
S init >/dev/null
pk=$(S product create --name ota --auth-type x509 2>/dev/null)
field() { python3 -c 'import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$1" "$2"; }
declare -A certs keys
for d in full cut digest storage expired norange input pubkey; do
  json=$(S device create --product "$pk" --name "ota-$d" --json 2>/dev/null)
  certs[$d]=$(field "$json" certFile)
  keys[$d]=$(field "$json" keyFile)
done
# The image names its version in its first line (the "boot" run reads it).
{ echo "VERSION=2.0.0"; head -c 200000 /dev/urandom; } >"$work/fw-2.0.0.bin"
S ota upload --product "$pk" --version 2.0.0 --file "$work/fw-2.0.0.bin" >/dev/null

S serve --mqtt 127.0.0.1:0 --http 127.0.0.1:0 >"$work/sim.log" 2>&1 &
sim_pid=$!
for _ in $(seq 1 100); do [ -s "$data/serve.json" ] && break; sleep 0.1; done
port() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$data/serve.json" "$1"; }
export IOTX_MQTT_HOST=127.0.0.1 IOTX_MQTT_PORT=$(port mqtt_port) IOTX_X509_CA_FILE="$data/ca.pem"

run() { # run CASE PROGRAM MODE VERSION
  IOTX_X509_CERT_FILE=${certs[$1]} IOTX_X509_KEY_FILE=${keys[$1]} IOTX_KV_DIR="$work/$1/kv" \
    IOTX_OTA_DIR="$work/$1/ota" timeout 60 "$2" "$3" "$4" >>"$work/$1.log" 2>&1 || true
}
target() { # target CASE FIELD: the field of the device's row in its latest job
  S --json ota status | python3 -c '
import json,sys
dn, key = sys.argv[1], sys.argv[2]
rows = [t for j in json.load(sys.stdin)["jobs"] for t in j["targets"] if t["deviceName"] == dn]
print(rows[-1][key] if rows else "")' "ota-$1" "$2"
}
field_is() { [ "$(target "$1" "$2")" = "$3" ]; }
job_is() { [ "$(job_status "$1")" = "$2" ]; }
job_status() { S --json ota status | python3 -c 'import json,sys; print([j["status"] for j in json.load(sys.stdin)["jobs"] if j["deviceName"]==sys.argv[1]][-1])' "ota-$1"; }

# 1. A full update, then the "reboot": the new version completes the job.
S ota job --product "$pk" --device ota-full --version 2.0.0 >/dev/null
run full "$ota_test" update 1.0.0
check "full: the image is reported good" grep -q "RESULT good" "$work/full.log"
check "full: the stored image is the uploaded one" cmp -s "$work/fw-2.0.0.bin" "$work/full/ota/firmware.bin"
check "full: no partial file is left" test ! -e "$work/full/ota/firmware.bin.part"
check "full: the sim recorded progress 100" eventually field_is full step 100
check "full: the job is not done before the new version is reported" test "$(job_status full)" = running
run full "$ota_test" boot 0
check "full: after the reboot the device reports 2.0.0" grep -q "running version 2.0.0" "$work/full.log"
check "full: the sim marks the job done" eventually job_is full done
check "full: the sim shows the reported version" eventually field_is full reportedVersion 2.0.0

# 2. A download cut in the middle is resumed with a Range request.
S ota job --product "$pk" --device ota-cut --version 2.0.0 --cut-at 77777 >/dev/null
run cut "$ota_test" update 1.0.0
check "cut: the image is reported good" grep -q "RESULT good" "$work/cut.log"
check "cut: the stored image is the uploaded one" cmp -s "$work/fw-2.0.0.bin" "$work/cut/ota/firmware.bin"
check "cut: the sim cut the first download" grep -q "cut after byte 77777" "$work/sim.log"
check "cut: the device resumed with a Range from byte 77777" grep -q "bytes 77777-" "$work/sim.log"
check "cut: two downloads in all" eventually field_is cut downloads 2

# 3. A wrong digest is refused and reported.
S ota job --product "$pk" --device ota-digest --version 2.0.0 --corrupt-digest >/dev/null
run digest "$ota_test" update 1.0.0
check "digest: the image is reported bad" grep -q "RESULT bad" "$work/digest.log"
check "digest: the state event says why" grep -q "is corrupt: its MD5 is" "$work/digest.log"
check "digest: nothing is installed" test ! -e "$work/digest/ota/firmware.bin"
check "digest: no partial file is left" test ! -e "$work/digest/ota/firmware.bin.part"
check "digest: the sim recorded the check failure (-3)" eventually field_is digest step -3
desc_has() { [[ "$(target "$1" desc)" == *"$2"* ]]; }
check "digest: the sim shows the reason" eventually desc_has digest corrupt

# 4. The firmware's own storage fails mid-write (its strong symbols replace the library's weak ones).
S ota job --product "$pk" --device ota-storage --version 2.0.0 >/dev/null
OTA_FAIL_AT=30000 run storage "$ota_own" update 1.0.0
check "storage: the firmware's own HAL_Firmware_Persistence_* were used" grep -q "own storage: write failed" "$work/storage.log"
check "storage: the failure is reported" grep -q "RESULT storage-failed" "$work/storage.log"
check "storage: the sim recorded the burn failure (-4)" eventually field_is storage step -4

# 5. An expired signed URL.
S ota job --product "$pk" --device ota-expired --version 2.0.0 --url-ttl 0 >/dev/null
run expired "$ota_test" update 1.0.0
check "expired: the download is refused" grep -q "RESULT bad" "$work/expired.log"
check "expired: the state event says the URL expired" grep -q "signed download URL has expired" "$work/expired.log"
check "expired: the sim shows the reason" eventually desc_has expired expired

# 6. A server that answers 200 to the Range request after a cut.
S ota job --product "$pk" --device ota-norange --version 2.0.0 --cut-at 50000 --no-range >/dev/null
run norange "$ota_test" update 1.0.0
check "norange: the download fails clearly" grep -q "ignored the Range request" "$work/norange.log"
check "norange: nothing is installed" test ! -e "$work/norange/ota/firmware.bin"
check "norange: the sim recorded the fetch failure (-2)" eventually field_is norange step -2

# 7. Bad input for every function.
run input "$ota_test" badinput 0
check "badinput: every check passed" grep -q " 0 failed" "$work/input.log"

# 8. The CA given only in mqtt_params.pub_key (no IOTX_X509_CA_FILE,
# iotx_ca_crt NULL): the download trusts the CA the MQTT connection used.
S ota job --product "$pk" --device ota-pubkey --version 2.0.0 >/dev/null
(unset IOTX_X509_CA_FILE; OTA_CA_IN_PUB_KEY="$data/ca.pem" run pubkey "$ota_test" update 1.0.0)
check "pubkey: the CA went only through pub_key" grep -q "given only in mqtt_params.pub_key" "$work/pubkey.log"
check "pubkey: the image is reported good" grep -q "RESULT good" "$work/pubkey.log"
check "pubkey: the stored image is the uploaded one" cmp -s "$work/fw-2.0.0.bin" "$work/pubkey/ota/firmware.bin"
check "pubkey: the sim recorded progress 100" eventually field_is pubkey step 100

echo "$pass passed, $fail failed"
if [ "$fail" -ne 0 ]; then
  for f in "$work"/*.log; do echo "== $f"; tail -n 40 "$f"; done
  exit 1
fi
