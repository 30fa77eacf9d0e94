#!/usr/bin/env bash
# Live-stack tests: starts the demo stack (scripts/demo.sh's driver) on the default ports,
# then runs the grpcurl walkthrough, grpc-health-probe, and the Python and Go clients'
# full-flow tests against it, and stops the stack again.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

KAFKA_BOOTSTRAP_SERVERS="$(scripts/kafka.sh start)"
export KAFKA_BOOTSTRAP_SERVERS
cargo build --quiet -p identity -p orders -p payments -p zte-e2e --bins
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

status=0
echo "== grpcurl walkthrough"; scripts/test-grpcurl.sh || status=1
if [[ -x clients/python/test.sh ]]; then
  echo "== Python client, live flow"; ZTE_STACK=1 clients/python/test.sh || status=1
fi
if [[ -x clients/go/test.sh ]]; then
  echo "== Go client, live flow"; ZTE_STACK=1 clients/go/test.sh || status=1
fi
exit $status
