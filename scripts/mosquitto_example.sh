#!/usr/bin/env bash
# mqtt_example against mosquitto with mutual TLS on loopback: a broker that
# sends no identity response, so ProductKey/DeviceName are given up front.
# Certificates are made here with the openssl CLI (an RSA-2048 device key in
# PKCS#1 "RSA PRIVATE KEY" form, as the platform issues them).
#
# Usage: mosquitto_example.sh EXAMPLES_DIR WORK_DIR
set -euo pipefail
examples=${1:?usage: mosquitto_example.sh EXAMPLES_DIR WORK_DIR}
work=${2:?usage: mosquitto_example.sh EXAMPLES_DIR WORK_DIR}
rm -rf "$work"
mkdir -p "$work"
cd "$work"

openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=iotkit test CA" \
  -keyout ca.key -out ca.pem 2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" -keyout server.key -out server.csr 2>/dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >server.ext
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
  -extfile server.ext -out server.pem 2>/dev/null
openssl genrsa -traditional -out device.key 2048 2>/dev/null || openssl genrsa -out device.key 2048 2>/dev/null
grep -q "BEGIN RSA PRIVATE KEY" device.key
openssl req -new -key device.key -subj "/CN=device" -out device.csr 2>/dev/null
openssl x509 -req -in device.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -out device.pem 2>/dev/null

# mosquitto started as root drops to its own user, which must read these.
chmod 0644 server.key server.pem ca.pem
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >mosquitto.conf <<CONF
listener $port 127.0.0.1
allow_anonymous true
cafile $work/ca.pem
certfile $work/server.pem
keyfile $work/server.key
require_certificate true
tls_version tlsv1.2
CONF
mosquitto -c mosquitto.conf >mosquitto.log 2>&1 &
broker=$!
trap 'kill $broker 2>/dev/null || true; wait $broker 2>/dev/null || true' EXIT
for _ in $(seq 1 50); do
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  sleep 0.1
done

export IOTX_X509_CERT_FILE="$work/device.pem" IOTX_X509_KEY_FILE="$work/device.key"
export IOTX_X509_CA_FILE="$work/ca.pem" IOTX_MQTT_HOST=localhost IOTX_MQTT_PORT=$port
export IOTX_KV_DIR="$work/kv"
"$examples/mqtt_example" 30 a1TestProd1 test-device-1 2>&1 | tee example.log
grep -q "ProductKey: a1TestProd1, DeviceName: test-device-1" example.log
grep -q "subscribed to /a1TestProd1/test-device-1/user/get" example.log
grep -q 'Payload: {"message":"hello!"}' example.log
echo "mqtt_example against mosquitto (mutual TLS): passed"
