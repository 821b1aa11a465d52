#!/usr/bin/env bash
# Runs a command against a private mosquitto with mutual TLS on loopback.
# Makes a CA, a server certificate (localhost, 127.0.0.1) and a device
# certificate with an RSA-2048 PKCS#1 "RSA PRIVATE KEY" (as the platform
# issues them) with the openssl CLI, starts mosquitto with
# require_certificate, exports the IOTX_* variables the library reads, runs
# the command, and stops the broker. The command's exit status is returned.
#
# Usage: with_mosquitto.sh WORK_DIR COMMAND [ARGS...]
# The command also sees MOSQUITTO_PORT and PKI_DIR.
set -euo pipefail
work=${1:?usage: with_mosquitto.sh WORK_DIR COMMAND [ARGS...]}
shift
rm -rf "$work"
mkdir -p "$work/pki"
pki="$work/pki"

(
  cd "$pki"
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
)

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$work/mosquitto.conf" <<CONF
listener $port 127.0.0.1
allow_anonymous true
cafile $pki/ca.pem
certfile $pki/server.pem
keyfile $pki/server.key
require_certificate true
tls_version tlsv1.2
CONF
mosquitto -c "$work/mosquitto.conf" >"$work/mosquitto.log" 2>&1 &
broker=$!
trap 'kill $broker 2>/dev/null || true; wait $broker 2>/dev/null || true' EXIT
for _ in $(seq 1 50); do
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  kill -0 "$broker" 2>/dev/null || { cat "$work/mosquitto.log"; exit 1; }
  sleep 0.1
done

export IOTX_X509_CERT_FILE="$pki/device.pem" IOTX_X509_KEY_FILE="$pki/device.key"
export IOTX_X509_CA_FILE="$pki/ca.pem" IOTX_MQTT_HOST=localhost IOTX_MQTT_PORT=$port
export IOTX_KV_DIR="$work/kv" MOSQUITTO_PORT=$port PKI_DIR=$pki
set +e
"$@"
status=$?
set -e
exit $status
