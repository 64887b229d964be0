#!/bin/sh
# make-certs.sh DIR [SERVER_NAME...]: a CA, a server certificate and client certificates for an
# mTLS deployment of slicekeeper (docs/security.md walks through the same openssl commands):
#   DIR/ca.crt                    the CA clients and servers trust (its key, DIR/ca.key, signs)
#   DIR/server.crt, server.key    subjectAltName: each SERVER_NAME (default: slicekeeper1,
#                                 slicekeeper2), localhost and 127.0.0.1
#   DIR/NAME.crt, NAME.key        clients, identity = subject CN: churn (a writer), watch (a
#                                 reader), ops (health checks)
# docker-compose.yml runs it once as the `certs` service into the shared `certs` volume. It does
# nothing when DIR/ca.crt exists, so certificates survive `docker-compose up` restarts; delete
# DIR to make new ones. Keys are P-256 (fast handshakes), certificates valid for a year.
set -eu
dir="${1:?usage: make-certs.sh DIR [SERVER_NAME...]}"
shift
[ $# -gt 0 ] || set -- slicekeeper1 slicekeeper2
if [ -f "$dir/ca.crt" ]; then
  echo "make-certs: $dir/ca.crt exists; keeping the certificates there"
  exit 0
fi
mkdir -p "$dir"
cd "$dir"
umask 077
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
  -keyout ca.key -out ca.crt -days 365 -subj /CN=slicekeeper-ca \
  -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null

# leaf NAME CN [subjectAltName]
leaf() {
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$1.key" -out "$1.csr" -subj "/CN=$2" 2>/dev/null
  { echo basicConstraints=CA:FALSE; echo extendedKeyUsage=serverAuth,clientAuth
    if [ -n "${3:-}" ]; then echo "subjectAltName=$3"; fi; } > "$1.ext"
  openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 365 \
    -extfile "$1.ext" -out "$1.crt" 2>/dev/null
  rm -f "$1.csr" "$1.ext"
}

san="DNS:localhost,IP:127.0.0.1"
for name in "$@"; do san="DNS:$name,$san"; done
leaf server slicekeeper "$san"
for client in churn watch ops; do leaf "$client" "$client"; done
# Certificates are public; keys stay readable by their owner only.
chmod 644 ./*.crt
echo "make-certs: CA, server ($san) and clients churn, watch, ops in $dir"
