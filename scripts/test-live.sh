#!/usr/bin/env bash
# Live-stack tests: starts the demo stack (scripts/demo.sh's driver) on the default ports,
# then runs the grpcurl walkthrough, grpc-health-probe, and the Python, Go, Java and
# TypeScript clients' live tests against it (each creates an order; Python, Java and
# TypeScript read its event from Kafka and verify it like Payments), and stops the stack again.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

KAFKA_BOOTSTRAP_SERVERS="$(scripts/kafka.sh start)"
export KAFKA_BOOTSTRAP_SERVERS
# Same target set as `cargo test --workspace --all-targets`, so after the tests this is a no-op
# (building fewer packages would unify features differently and rebuild dependencies).
cargo build --quiet --workspace --all-targets
LOG="$ROOT/.cache/live-demo.log"
mkdir -p "$ROOT/.cache"
target/debug/zte-demo --root .cache/live-demo >"$LOG" 2>&1 &
DEMO_PID=$!
stop_demo() { kill -TERM "$DEMO_PID" 2>/dev/null || true; wait "$DEMO_PID" 2>/dev/null || true; }
trap stop_demo EXIT
deadline=$((SECONDS + 180))
until grep -q "The stack keeps running" "$LOG"; do
  if ! kill -0 "$DEMO_PID" 2>/dev/null || ((SECONDS > deadline)); then
    echo "live stack did not come up:"; cat "$LOG"; exit 1
  fi
  sleep 1
done
echo "== live stack up (demo output: $LOG)"

# The clients' live tests find the stack here (Identity, Orders and Payments on their default
# ports, the broker the demo uses).
export ZTE_STACK=1 ZTE_KAFKA_BOOTSTRAP="$KAFKA_BOOTSTRAP_SERVERS"
status=0
echo "== grpcurl walkthrough"; scripts/test-grpcurl.sh || status=1
echo "== Python client, live flow"; clients/python/test.sh || status=1
echo "== Go client, live flow"; clients/go/test.sh || status=1
echo "== Java client, live event"; clients/java/test.sh || status=1
echo "== TypeScript client, live event"; clients/typescript/test.sh || status=1
exit $status
