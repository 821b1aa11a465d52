#!/usr/bin/env bash
# Many X.509 devices in one process against iotkit-sim: creates an x509
# product and N device certificates (`device batch`), starts `serve` on free
# loopback ports, downloads each device's certificate and key from its CertUrl,
# and runs load_gen with one certificate, key and learned identity per device.
#
# Usage: load_gen.sh LOAD_GEN_BINARY DEVICES [WORK_DIR] [-- extra load_gen args]
# Environment: IOTKIT_SIM (else cargo build -p iotkit-sim), LOAD_SECONDS (10).
set -euo pipefail
load_gen=${1:?usage: load_gen.sh LOAD_GEN_BINARY DEVICES [WORK_DIR]}
devices=${2:?usage: load_gen.sh LOAD_GEN_BINARY DEVICES [WORK_DIR]}
work=${3:-$(mktemp -d)}
shift $(( $# >= 3 ? 3 : 2 ))
[ "${1:-}" = "--" ] && shift
root=$(cd "$(dirname "$0")/.." && pwd)
sim=${IOTKIT_SIM:-}
if [ -z "$sim" ]; then
  (cd "$root" && cargo build -p iotkit-sim --locked) >&2
  sim=${CARGO_TARGET_DIR:-$root/target}/debug/iotkit-sim
fi
rm -rf "$work"
mkdir -p "$work"
data=$work/sim

sim_pid=""
stop_sim() {
  if [ -n "$sim_pid" ] && kill -0 "$sim_pid" 2>/dev/null; then
    kill "$sim_pid" 2>/dev/null || true
    wait "$sim_pid" 2>/dev/null || true
  fi
}
trap stop_sim EXIT

"$sim" --data-dir "$data" init >/dev/null
pk=$("$sim" --data-dir "$data" product create --name load --auth-type x509 2>/dev/null)
# load_gen echoes on /user/get (subscribe-only by default): give it both rights.
"$sim" --data-dir "$data" product topic add --product "$pk" --topic user/get --access ALL >/dev/null
"$sim" --data-dir "$data" serve --mqtt 127.0.0.1:0 --http 127.0.0.1:0 >"$work/sim.log" 2>&1 &
sim_pid=$!
for _ in $(seq 1 100); do
  [ -s "$data/serve.json" ] && break
  kill -0 "$sim_pid" 2>/dev/null || { cat "$work/sim.log"; exit 1; }
  sleep 0.1
done
[ -s "$data/serve.json" ] || { echo "iotkit-sim serve did not start" >&2; exit 1; }
t0=$(date +%s.%N)
"$sim" --data-dir "$data" device batch --product "$pk" --count "$devices" --out "$work/batch.csv" >/dev/null 2>&1
t1=$(date +%s.%N)
echo "iotkit-sim: $devices device certificates issued in $(python3 -c "print(round($t1-$t0,1))") s"

# CertUrl answers certificate then key (PEM): split them into two files.
python3 - "$work/batch.csv" "$work/certs" "$work/manifest.csv" <<'PY'
import os, re, sys, urllib.request
csv_path, out_dir, manifest = sys.argv[1:]
os.makedirs(out_dir, exist_ok=True)
rows = []
for line in open(csv_path):
    parts = line.strip().split(",")
    if len(parts) != 3 or parts[0] == "ProductKey":
        continue
    pk, dn, url = parts
    pem = urllib.request.urlopen(url, timeout=10).read().decode()
    cert = re.search(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----\n?", pem, re.S).group(0)
    key = re.search(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----\n?", pem, re.S).group(0)
    c, k = os.path.join(out_dir, dn + ".pem"), os.path.join(out_dir, dn + ".key")
    open(c, "w").write(cert)
    open(k, "w").write(key)
    rows.append(f"{pk},{dn},{c},{k}\n")
open(manifest, "w").writelines(rows)
print(f"manifest: {len(rows)} devices")
PY

mqtt_port=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["mqtt_port"])' "$data/serve.json")
IOTX_MQTT_HOST=localhost IOTX_MQTT_PORT=$mqtt_port IOTX_X509_CA_FILE=$data/ca.pem \
  LD_PRELOAD=${LOAD_GEN_PRELOAD:-$(dirname "$load_gen")/libmalloc_count.so} \
  "$load_gen" --manifest "$work/manifest.csv" --devices "$devices" --learn-identity \
  --seconds "${LOAD_SECONDS:-10}" "$@"
