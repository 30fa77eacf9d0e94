#!/usr/bin/env bash
# A local PKI for the demo and the tests: one CA, a server certificate and a client
# certificate (mutual TLS) per component, an `admin` client certificate for the scripts, and,
# on request, a second, unrelated CA whose certificates every TLS port must refuse.
#
# openssl from the distribution; ECDSA P-256 keys (PKCS#8 PEM). Idempotent: what exists and is
# still valid (signed by the current CA, more than 30 days left) is kept; --force makes
# everything anew (every certificate of the old CA is then useless).
#
#   scripts/pki.sh [init] [--force]     CA + every certificate; prints where the files are
#   scripts/pki.sh foreign [--force]    also a second CA (foreign/) with a client and a server cert
#   scripts/pki.sh dir                  print the PKI directory
#
# Layout (keys 0600, directories 0700):
#   <dir>/ca.crt                        the trust anchor every client and server is given
#   <dir>/ca/ca.key                     the CA key (used only by this script)
#   <dir>/<name>/server.crt|server.key  TLS server certificate of identity, orders, payments,
#                                       gateway, kafka (kafka's is also a client certificate:
#                                       the broker presents it to its own controller)
#   <dir>/<name>/client.crt|client.key  mTLS client certificate, subject CN=<name>, O=zte;
#                                       <name> is one of the above or `admin`
#   <dir>/foreign/ca.crt, foreign/ca/ca.key, foreign/client.crt|.key (CN=admin, O=zte, the
#                                       same subject as the real admin), foreign/server.crt|.key
#
# Server certificates name 127.0.0.1, ::1, localhost, the compose service name and the
# Kubernetes Service names <svc>, <svc>.<ns>.svc, <svc>.<ns>.svc.cluster.local for each
# namespace in PKI_K8S_NAMESPACES (kafka: also the Strimzi bootstrap Service zte-kafka-kafka-bootstrap).
#
# Environment (all optional):
#   PKI_DIR             output directory                      (default <repo>/.cache/pki)
#   PKI_K8S_NAMESPACES  namespaces for the Kubernetes names   (default "zte default")
#   PKI_DAYS            validity of leaf certificates in days (default 825)
#   PKI_CA_DAYS         validity of the CA in days            (default 3650)
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

defaults PKI_DIR="$ROOT/.cache/pki" PKI_K8S_NAMESPACES="zte default" PKI_DAYS=825 PKI_CA_DAYS=3650
# Components with a server certificate, and the clients (components plus the admin).
SERVERS=(identity orders payments gateway kafka)
CLIENTS=(identity orders payments gateway kafka admin)
# A certificate is renewed when it expires within this many seconds (30 days).
RENEW_BEFORE=$((30 * 24 * 3600))
FORCE=0

# Subject Alternative Names of a component's server certificate.
server_sans() {
  local name="$1" ns
  local sans="IP:127.0.0.1,IP:::1,DNS:localhost,DNS:$name"
  for ns in $PKI_K8S_NAMESPACES; do
    sans+=",DNS:$name.$ns.svc,DNS:$name.$ns.svc.cluster.local"
  done
  if [[ "$name" == kafka ]]; then
    # Strimzi's bootstrap Service for the cluster zte-kafka (k8s/base/kafka-topics.yaml).
    local svc=zte-kafka-kafka-bootstrap
    sans+=",DNS:$svc"
    for ns in $PKI_K8S_NAMESPACES; do
      sans+=",DNS:$svc.$ns.svc,DNS:$svc.$ns.svc.cluster.local"
    done
  fi
  printf '%s' "$sans"
}

new_key() {
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null
  chmod 0600 "$1"
}

# True when $1 exists, was issued by the CA in $2 and does not expire within RENEW_BEFORE.
cert_is_current() {
  local cert="$1" ca="$2"
  [[ -s "$cert" && -s "${cert%.crt}.key" ]] || return 1
  openssl verify -CAfile "$ca" "$cert" >/dev/null 2>&1 || return 1
  openssl x509 -in "$cert" -noout -checkend "$RENEW_BEFORE" >/dev/null 2>&1
}

# make_ca DIR CN: a self-signed CA (DIR/ca.crt, DIR/ca/ca.key) unless a current one exists.
make_ca() {
  local dir="$1" cn="$2"
  mkdir -p "$dir/ca"
  chmod 0700 "$dir" "$dir/ca"
  if [[ $FORCE == 0 && -s "$dir/ca.crt" && -s "$dir/ca/ca.key" ]] \
    && openssl x509 -in "$dir/ca.crt" -noout -checkend "$RENEW_BEFORE" >/dev/null 2>&1; then
    return 0
  fi
  log "creating CA \"$cn\" in $dir"
  new_key "$dir/ca/ca.key"
  openssl req -x509 -new -key "$dir/ca/ca.key" -sha256 -days "$PKI_CA_DAYS" \
    -subj "/O=zte/CN=$cn" \
    -addext "basicConstraints=critical,CA:TRUE,pathlen:0" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -addext "subjectKeyIdentifier=hash" \
    -out "$dir/ca.crt" 2>/dev/null
  chmod 0644 "$dir/ca.crt"
  # What the old CA signed no longer verifies against ca.crt, so issue() renews it.
}

# issue CA_DIR OUT_BASE CN EKU [SANS]: OUT_BASE.crt + OUT_BASE.key signed by CA_DIR's CA.
issue() {
  local ca_dir="$1" out="$2" cn="$3" eku="$4" sans="${5:-}"
  if [[ $FORCE == 0 ]] && cert_is_current "$out.crt" "$ca_dir/ca.crt"; then
    return 0
  fi
  mkdir -p "$(dirname "$out")"
  chmod 0700 "$(dirname "$out")"
  local ext
  ext="$(mktemp)"
  {
    echo "basicConstraints=critical,CA:FALSE"
    echo "keyUsage=critical,digitalSignature"
    echo "extendedKeyUsage=$eku"
    echo "subjectKeyIdentifier=hash"
    echo "authorityKeyIdentifier=keyid"
    if [[ -n "$sans" ]]; then echo "subjectAltName=$sans"; fi
  } >"$ext"
  new_key "$out.key"
  openssl req -new -key "$out.key" -subj "/O=zte/CN=$cn" 2>/dev/null \
    | openssl x509 -req -CA "$ca_dir/ca.crt" -CAkey "$ca_dir/ca/ca.key" \
      -set_serial "0x$(openssl rand -hex 16)" -days "$PKI_DAYS" -sha256 \
      -extfile "$ext" -out "$out.crt" 2>/dev/null \
    || { rm -f "$ext"; die "signing $out.crt failed"; }
  rm -f "$ext"
  chmod 0644 "$out.crt"
  log "issued $out.crt (CN=$cn, $eku)"
}

init() {
  make_ca "$PKI_DIR" "zte local CA"
  local name eku
  for name in "${SERVERS[@]}"; do
    eku=serverAuth
    # The broker presents its listener certificate as a client too (to its controller).
    [[ "$name" == kafka ]] && eku=serverAuth,clientAuth
    issue "$PKI_DIR" "$PKI_DIR/$name/server" "$name" "$eku" "$(server_sans "$name")"
  done
  for name in "${CLIENTS[@]}"; do
    issue "$PKI_DIR" "$PKI_DIR/$name/client" "$name" clientAuth "DNS:$name"
  done
}

foreign() {
  local dir="$PKI_DIR/foreign"
  make_ca "$dir" "unrelated CA"
  issue "$dir" "$dir/client" admin clientAuth "DNS:admin"
  issue "$dir" "$dir/server" localhost serverAuth "IP:127.0.0.1,IP:::1,DNS:localhost"
}

show() {
  local rel="${PKI_DIR#"$ROOT"/}" name
  printf 'PKI in %s\n' "$PKI_DIR"
  printf '  %-38s %s\n' "$rel/ca.crt" "CA certificate (trust anchor)"
  for name in "${SERVERS[@]}"; do
    printf '  %-38s %s\n' "$rel/$name/server.{crt,key}" "server certificate of $name"
  done
  for name in "${CLIENTS[@]}"; do
    printf '  %-38s %s\n' "$rel/$name/client.{crt,key}" "client certificate CN=$name"
  done
  if [[ -s "$PKI_DIR/foreign/ca.crt" ]]; then
    printf '  %-38s %s\n' "$rel/foreign/" "unrelated CA with client.{crt,key} (CN=admin) and server.{crt,key}"
  fi
}

command="init"
for arg in "$@"; do
  case "$arg" in
    --force) FORCE=1 ;;
    init | foreign | dir) command="$arg" ;;
    *) usage ;;
  esac
done
if [[ "$command" == dir ]]; then
  echo "$PKI_DIR"
  exit 0
fi

command -v openssl >/dev/null || die "openssl not found (apt-get install -y openssl)"
umask 077
mkdir -p "$PKI_DIR"
chmod 0700 "$PKI_DIR"
# Tests may call this concurrently: one writer at a time.
exec 9>"$PKI_DIR/.lock"
flock 9
init
if [[ "$command" == foreign ]]; then
  foreign
fi
show
