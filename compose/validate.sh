#!/usr/bin/env bash
# Validates compose/docker-compose.yml without a Docker engine: `docker compose config -q`
# when the compose plugin is installed, and always the Go program in compose/validate, which
# loads the file with compose-go (the compose-spec loader and JSON schema `docker compose`
# uses) and checks the project's rules. Broken copies must be rejected too, so the check can
# fail. The stack itself is not started here.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
export GOFLAGS="${GOFLAGS:--buildvcs=false}"

if docker compose version >/dev/null 2>&1; then
  docker compose -f "$HERE/docker-compose.yml" config -q
  echo "compose: docker compose config -q passed"
else
  echo "compose: no docker compose plugin here; validating with compose-go only"
fi

bin="$(mktemp -d)"
trap 'rm -rf "$bin"' EXIT
(cd "$HERE/validate" && go build -o "$bin/validate" .)
"$bin/validate" "$HERE/docker-compose.yml"

# Self-test: each broken copy (in the same directory, so relative build contexts resolve)
# must be rejected.
broken="$HERE/.broken-docker-compose.yml"
trap 'rm -rf "$bin" "$broken"' EXIT
declare -A breakages=(
  ["unknown key"]='s/^    healthcheck:$/    healthchek:/'
  ["wrong type"]='s/^      retries: 12$/      retries: twelve/'
  ["no depends_on condition"]='s/condition: service_healthy/condition: service_started/'
  ["wrong Dockerfile target"]='s/target: payments/target: orders/'
  ["guessed env name"]='s/IDENTITY_ORDERS_CLIENT_JWK:/IDENTITY_ORDERS_CLIENT_PUBLIC_KEY_FILE:/'
  ["issuer mismatch"]='s|PAYMENTS_ISSUER: http://identity:8080|PAYMENTS_ISSUER: http://127.0.0.1:18080|'
  ["orders not waiting for keygen"]='s/^      orders-keygen:$/      kafka:/'
  ["private key volume mounted into identity"]='s|- orders-client-jwk:/var/lib/zte/orders-client-jwk:ro|- orders-data:/var/lib/zte/orders-client-jwk:ro|'
  ["data dir off the volume"]='s|PAYMENTS_DATA_DIR: /var/lib/zte/payments|PAYMENTS_DATA_DIR: /srv/payments|'
  ["demo off without a clients file"]='s/IDENTITY_DEMO: "true"/IDENTITY_DEMO: "false"/'
)
for label in "${!breakages[@]}"; do
  sed "${breakages[$label]}" "$HERE/docker-compose.yml" > "$broken"
  if cmp -s "$HERE/docker-compose.yml" "$broken"; then
    echo "compose: self-test: the '$label' edit no longer matches docker-compose.yml; update it" >&2
    exit 1
  fi
  if "$bin/validate" "$broken" >/dev/null 2>&1; then
    echo "compose: self-test: a file with '$label' was NOT rejected" >&2
    exit 1
  fi
done
echo "compose: self-test: every deliberately broken copy was rejected"
