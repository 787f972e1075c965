#!/usr/bin/env bash
# Makes a private cluster CA and one certificate per node with the openssl CLI.
# Each node certificate carries exactly one URI SAN, phalanx://CLUSTER/ROLE/NAME, which is where
# Phalanx takes the node's identity and role from.
#
# Usage: scripts/gen-certs.sh DIR CLUSTER NAME:ROLE [NAME:ROLE ...]
#   e.g. scripts/gen-certs.sh run/certs demo coordinator:coordinator w1:worker client:client
# Files: DIR/ca.pem, DIR/ca-key.pem, DIR/NAME.pem, DIR/NAME-key.pem. An existing CA is reused;
# existing node certificates are kept (delete them to re-issue). PHALANX_CERT_DAYS sets the node
# certificates' validity in days (default 825; tests use -1 to make an expired one).
set -euo pipefail

if [ $# -lt 3 ]; then
    echo "usage: $0 DIR CLUSTER NAME:ROLE [NAME:ROLE ...]   (roles: coordinator, worker, client, admin)" >&2
    exit 2
fi
command -v openssl >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssl >/dev/null; }

dir=$1 cluster=$2
shift 2
mkdir -p "$dir"
umask 077

if [ ! -f "$dir/ca.pem" ] || [ ! -f "$dir/ca-key.pem" ]; then
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
        -subj "/CN=phalanx-$cluster-ca" -keyout "$dir/ca-key.pem" -out "$dir/ca.pem" \
        -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
fi

for spec in "$@"; do
    name=${spec%%:*} role=${spec#*:}
    case $role in coordinator|worker|client|admin) ;; *) echo "unknown role '$role' in '$spec' (coordinator, worker, client, admin)" >&2; exit 2 ;; esac
    [ -f "$dir/$name.pem" ] && [ -f "$dir/$name-key.pem" ] && continue
    ext=$(mktemp)
    cat > "$ext" <<EXT
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth,clientAuth
subjectAltName=URI:phalanx://$cluster/$role/$name,DNS:localhost,IP:127.0.0.1
EXT
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$name" \
        -keyout "$dir/$name-key.pem" -out "$dir/$name.csr" 2>/dev/null
    openssl x509 -req -in "$dir/$name.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca-key.pem" -CAcreateserial \
        -days "${PHALANX_CERT_DAYS:-825}" -extfile "$ext" -out "$dir/$name.pem" 2>/dev/null
    rm -f "$dir/$name.csr" "$ext"
done
echo "certificates in $dir: $(cd "$dir" && ls *.pem | tr '\n' ' ')"
