#!/usr/bin/env bash
# Validates compose/docker-compose.yml without a Docker engine: `docker compose config -q`
# when the compose plugin is installed, and always the Go program in compose/validate, which
# loads the file with compose-go (the compose-spec loader and JSON schema `docker compose`
# uses) and checks the project's rules. Broken copies must be rejected too, so the check can
# fail. The stack itself is not started here. The environment variables the services read
# come from the binaries themselves (`<binary> --print-env`): the directory in ZTE_ENV_NAMES,
# or one written here by scripts/env-names.sh (which builds the binaries with cargo).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
export GOFLAGS="${GOFLAGS:--buildvcs=false}"

if docker compose version >/dev/null 2>&1; then
  docker compose -f "$HERE/docker-compose.yml" config -q
  echo "compose: docker compose config -q passed"
else
  echo "compose: no docker compose plugin here; validating with compose-go only"
fi

bin="$(mktemp -d)"
broken="$HERE/.broken-docker-compose.yml"
trap 'rm -rf "$bin" "$broken"' EXIT
env_names="${ZTE_ENV_NAMES:-$("$ROOT/scripts/env-names.sh" "$bin/env-names")}"
# go test: a missing, empty or malformed env-name list must fail the validation.
(cd "$HERE/validate" && go test ./... >/dev/null && go build -o "$bin/validate" .)
validate() { "$bin/validate" -env-names "$env_names" "$@"; }
validate "$HERE/docker-compose.yml"

# Self-test: each broken copy (in the same directory, so relative build contexts resolve)
# must be rejected.
declare -A breakages=(
  ["unknown key"]='s/^    healthcheck:$/    healthchek:/'
  ["wrong type"]='s/^      retries: 12$/      retries: twelve/'
  ["no depends_on condition"]='s/condition: service_healthy/condition: service_started/'
  ["wrong Dockerfile target"]='s/target: payments/target: orders/'
  ["issuer mismatch"]='s|PAYMENTS_ISSUER: http://identity:8080|PAYMENTS_ISSUER: http://127.0.0.1:18080|'
  ["orders not waiting for keygen"]='s/^      orders-keygen:$/      kafka:/'
  ["private key volume mounted into identity"]='s|- orders-client-jwk:/var/lib/zte/orders-client-jwk:ro|- orders-data:/var/lib/zte/orders-client-jwk:ro|'
  ["data dir off the volume"]='s|PAYMENTS_DATA_DIR: /var/lib/zte/payments|PAYMENTS_DATA_DIR: /srv/payments|'
  ["demo off without a clients file"]='s/IDENTITY_DEMO: "true"/IDENTITY_DEMO: "false"/'
)
# Variable names only the env-name check can catch (edit -> what the rejection must say, so
# a failure for another reason does not count): guessed, misspelled, misspelled RUST_LOG.
declare -A env_breakages=(
  ['s/IDENTITY_ORDERS_CLIENT_JWK:/IDENTITY_ORDERS_CLIENT_PUBLIC_KEY_FILE:/']='IDENTITY_ORDERS_CLIENT_PUBLIC_KEY_FILE is not read by identity'
  ['s/ORDERS_TOKEN_ENDPOINT:/ORDERS_TOKEN_ENDPIONT:/']='ORDERS_TOKEN_ENDPIONT is not read by orders'
  ['s/^      RUST_LOG: info$/      RUST_LGO: info/']='RUST_LGO is not read by payments'
)
rejected() { # label, sed edit[, text the rejection must contain]
  sed "$2" "$HERE/docker-compose.yml" > "$broken"
  if cmp -s "$HERE/docker-compose.yml" "$broken"; then
    echo "compose: self-test: the '$1' edit no longer matches docker-compose.yml; update it" >&2
    return 1
  fi
  if validate "$broken" >/dev/null 2> "$bin/stderr"; then
    echo "compose: self-test: a file with '$1' was NOT rejected" >&2
    return 1
  fi
  if ! grep -qF -- "${3:-INVALID}" "$bin/stderr"; then
    echo "compose: self-test: a file with '$1' was rejected, but not for that:" >&2
    cat "$bin/stderr" >&2
    return 1
  fi
}
for label in "${!breakages[@]}"; do
  rejected "$label" "${breakages[$label]}" || exit 1
done
for edit in "${!env_breakages[@]}"; do
  rejected "${env_breakages[$edit]}" "$edit" "${env_breakages[$edit]}" || exit 1
done
echo "compose: self-test: every deliberately broken copy was rejected"
