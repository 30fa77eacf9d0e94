#!/usr/bin/env bash
# Runs every test: proto lint, then the whole Rust workspace against a real Kafka broker
# (started by scripts/kafka.sh, reused if already running, stopped again if this script
# started it).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

echo "== buf lint (proto/)"
(cd proto && buf lint)

started_kafka=""
if [[ -z "${KAFKA_BOOTSTRAP_SERVERS:-}" ]]; then
  if ! scripts/kafka.sh status 2>/dev/null; then
    started_kafka=1
  fi
  KAFKA_BOOTSTRAP_SERVERS="$(scripts/kafka.sh start)"
  export KAFKA_BOOTSTRAP_SERVERS
fi
cleanup() { if [[ -n "$started_kafka" ]]; then scripts/kafka.sh stop || true; fi; }
trap cleanup EXIT

echo "== cargo test (Kafka at $KAFKA_BOOTSTRAP_SERVERS)"
cargo test --workspace --all-targets --no-fail-fast

echo "== ecosystem: Python and Go clients (hash vectors), Kubernetes and compose validation"
scripts/test-ecosystem.sh

echo "== live stack: grpcurl walkthrough, health probes, Python and Go full flows"
scripts/test-live.sh
