#!/bin/sh
# Runs a transport C test against a real mutual-TLS peer on 127.0.0.1:
# makes a CA, a server certificate and an RSA-2048 (PKCS#1) client
# certificate with the openssl CLI, starts `openssl s_server -Verify 1 -rev`
# (it answers each line with the line reversed) on a free port, then runs
#   <command...> 127.0.0.1 <port> <ca.crt> <client.crt> <client.key>
# and stops the server. Usage: run_with_peer.sh <openssl> <command...>
set -eu
openssl_bin=$1
shift

work=$(mktemp -d "${TMPDIR:-/tmp}/iotkit-transport-XXXXXX")
server_pid=
cleanup() {
    if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT INT TERM

ossl() { "$openssl_bin" "$@" >>"$work/openssl.log" 2>&1 || { cat "$work/openssl.log" >&2; exit 1; }; }

cd "$work"
ossl ecparam -name prime256v1 -genkey -noout -out ca.key
ossl req -x509 -new -key ca.key -out ca.crt -days 2 -subj "/CN=iotkit C test CA" \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
ossl ecparam -name prime256v1 -genkey -noout -out server.key
ossl req -new -key server.key -out server.csr -subj "/CN=iotkit C test server"
# v3 certificates with the extensions strict peers check (CA flag, key usage,
# SAN for the server, key identifiers).
cat >server.ext <<'EXT'
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth
subjectAltName=DNS:localhost,IP:127.0.0.1
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid,issuer
EXT
ossl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out server.crt -days 2 -extfile server.ext
ossl genrsa -traditional -out client.key 2048
ossl req -new -key client.key -out client.csr -subj "/CN=iotkit-c-device"
cat >client.ext <<'EXT'
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=clientAuth
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid,issuer
EXT
ossl x509 -req -in client.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out client.crt -days 2 -extfile client.ext

# A port chosen at random can be taken; try a few.
attempt=0
port=
while [ $attempt -lt 5 ]; do
    attempt=$((attempt + 1))
    candidate=$(( $(od -An -N2 -tu2 /dev/urandom | tr -d ' ') % 20000 + 30000 ))
    : >server.log
    "$openssl_bin" s_server -accept "127.0.0.1:$candidate" -cert server.crt -key server.key \
        -CAfile ca.crt -Verify 1 -verify_return_error -rev </dev/null >server.log 2>&1 &
    server_pid=$!
    waited=0
    while [ $waited -lt 100 ]; do
        if grep -q '^ACCEPT' server.log; then port=$candidate; break; fi
        if ! kill -0 "$server_pid" 2>/dev/null; then break; fi
        sleep 0.1
        waited=$((waited + 1))
    done
    [ -n "$port" ] && break
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    server_pid=
done
if [ -z "$port" ]; then
    echo "openssl s_server did not start:" >&2
    cat server.log >&2
    exit 1
fi

status=0
"$@" 127.0.0.1 "$port" "$work/ca.crt" "$work/client.crt" "$work/client.key" || status=$?
if [ $status -ne 0 ]; then
    echo "--- s_server log ---" >&2
    tail -n 40 server.log >&2
fi
exit $status
