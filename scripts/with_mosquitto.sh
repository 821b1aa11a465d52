#!/usr/bin/env bash
# Runs a command against a private mosquitto with mutual TLS on loopback.
# Makes a CA, a server certificate (localhost, 127.0.0.1) and a device
# certificate with an RSA-2048 PKCS#1 "RSA PRIVATE KEY" (as the platform
# issues them) with the openssl CLI, starts mosquitto with
# require_certificate, exports the IOTX_* variables the library reads, runs
# the command, and stops the broker. The command's exit status is returned.
#
# Usage: with_mosquitto.sh WORK_DIR COMMAND [ARGS...]
# The command also sees MOSQUITTO_PORT, MOSQUITTO_CONF and PKI_DIR.
set -euo pipefail
work=${1:?usage: with_mosquitto.sh WORK_DIR COMMAND [ARGS...]}
shift
rm -rf "$work"
mkdir -p "$work/pki"
pki="$work/pki"

(
  cd "$pki"
  # Every certificate is X.509 v3 with the extensions strict brokers and
  # clients check: CA flag and key usage, SAN for the server, key identifiers.
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=iotkit test CA" \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign \
    -keyout ca.key -out ca.pem 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" -keyout server.key -out server.csr 2>/dev/null
  cat >server.ext <<'EXT'
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=DNS:localhost,IP:127.0.0.1
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid,issuer
EXT
  openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -sha256 \
    -extfile server.ext -out server.pem 2>/dev/null
  openssl genrsa -traditional -out device.key 2048 2>/dev/null || openssl genrsa -out device.key 2048 2>/dev/null
  grep -q "BEGIN RSA PRIVATE KEY" device.key
  openssl req -new -key device.key -subj "/CN=device" -out device.csr 2>/dev/null
  cat >device.ext <<'EXT'
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=clientAuth
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid,issuer
EXT
  openssl x509 -req -in device.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -sha256 \
    -extfile device.ext -out device.pem 2>/dev/null
)

# mosquitto.base.conf is everything but the listener line (bench.sh starts a
# second broker from it); "user root" keeps a broker started as root able to
# read the certificates in private directories (see mosquitto_lib.sh).
cat >"$work/mosquitto.base.conf" <<CONF
allow_anonymous true
cafile $pki/ca.pem
certfile $pki/server.pem
keyfile $pki/server.key
require_certificate true
tls_version tlsv1.2
user root
CONF
# shellcheck source=mosquitto_lib.sh
. "$(dirname "$0")/mosquitto_lib.sh"
start_mosquitto "$work/mosquitto.base.conf" "$work/mosquitto.conf" "$work/mosquitto.log"
broker=$mosquitto_pid
port=$mosquitto_port
trap 'kill $broker 2>/dev/null || true; wait $broker 2>/dev/null || true' EXIT

export IOTX_X509_CERT_FILE="$pki/device.pem" IOTX_X509_KEY_FILE="$pki/device.key"
export IOTX_X509_CA_FILE="$pki/ca.pem" IOTX_MQTT_HOST=localhost IOTX_MQTT_PORT=$port
export IOTX_KV_DIR="$work/kv" MOSQUITTO_PORT=$port PKI_DIR=$pki MOSQUITTO_CONF="$work/mosquitto.conf"
set +e
"$@"
status=$?
set -e
exit $status
