#!/usr/bin/env bash
# mqtt_example against mosquitto with mutual TLS: a broker that sends no
# identity response, so ProductKey/DeviceName are given up front.
# Usage: mosquitto_example.sh EXAMPLES_DIR WORK_DIR
set -euo pipefail
examples=${1:?usage: mosquitto_example.sh EXAMPLES_DIR WORK_DIR}
work=${2:?usage: mosquitto_example.sh EXAMPLES_DIR WORK_DIR}
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$(dirname "$work")"
log="$work.log"
"$here/with_mosquitto.sh" "$work" "$examples/mqtt_example" 30 a1TestProd1 test-device-1 2>&1 | tee "$log"
[ "${PIPESTATUS[0]}" -eq 0 ]
grep -q "ProductKey: a1TestProd1, DeviceName: test-device-1" "$log"
grep -q "subscribed to /a1TestProd1/test-device-1/user/get" "$log"
grep -q 'Payload: {"message":"hello!"}' "$log"
echo "mqtt_example against mosquitto (mutual TLS): passed"
