#!/usr/bin/env bash
# The second README command: runs every test.
#   1. buf lint of proto/
#   2. the Rust workspace (unit, property, integration and end-to-end tests) against a real
#      Kafka broker (scripts/kafka.sh) and a real PostgreSQL server (scripts/postgres.sh; the
#      store suites run on SQLite and on PostgreSQL), each started if needed and stopped
#      again if started here
#   3. the ecosystem: Python, Go, Java and TypeScript clients check the hash vectors and the
#      shared adversarial cases; k8s and compose validate
#   4. the live stack: grpcurl walkthrough, grpc-health-probe, the four clients' live tests
#   5. the secure Kafka broker (TLS, OAUTHBEARER, ACLs) against a stand-in issuer
# Every suite runs even if an earlier one failed; the last line sums them up.
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

scripts/install-tools.sh || { echo "cannot install the tools the tests need"; exit 1; }


started_kafka=""
started_postgres=""
cleanup() {
  if [[ -n "$started_kafka" ]]; then scripts/kafka.sh stop || true; fi
  if [[ -n "$started_postgres" ]]; then scripts/postgres.sh stop || true; fi
}
trap cleanup EXIT
if [[ -z "${KAFKA_BOOTSTRAP_SERVERS:-}" ]]; then
  scripts/kafka.sh status 2>/dev/null || started_kafka=1
  KAFKA_BOOTSTRAP_SERVERS="$(scripts/kafka.sh start)" || { echo "cannot start Kafka"; exit 1; }
  export KAFKA_BOOTSTRAP_SERVERS
fi
if [[ -z "${POSTGRES_ADMIN_URL:-}" ]]; then
  scripts/postgres.sh status 2>/dev/null || started_postgres=1
  POSTGRES_ADMIN_URL="$(scripts/postgres.sh start)" || { echo "cannot start PostgreSQL"; exit 1; }
  export POSTGRES_ADMIN_URL
fi

passed=0
failed=0
failures=()
suite() { # name, command...
  local name="$1"; shift
  echo
  echo "== $name"
  local start=$SECONDS
  if "$@"; then
    passed=$((passed + 1)); echo "== $name: ok ($((SECONDS - start))s)"
  else
    failed=$((failed + 1)); failures+=("$name"); echo "== $name: FAILED ($((SECONDS - start))s)"
  fi
}

suite "buf lint (proto/)" bash -c "cd proto && buf lint"
suite "cargo test (Kafka at $KAFKA_BOOTSTRAP_SERVERS, PostgreSQL at ${POSTGRES_ADMIN_URL##*@})" cargo test --workspace --all-targets --no-fail-fast
suite "ecosystem: Python/Go/Java/TypeScript vectors and adversarial cases, k8s and compose validation" scripts/test-ecosystem.sh
suite "live stack: grpcurl walkthrough, health probes, Python/Go/Java/TypeScript live tests" scripts/test-live.sh
suite "secure Kafka broker: TLS, OAUTHBEARER, ACLs" scripts/test-kafka-security.sh

echo
((failed == 0)) || printf 'failed suite: %s\n' "${failures[@]}"
echo "suites: $passed passed, $failed failed"
((failed == 0))
