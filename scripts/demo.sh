#!/usr/bin/env bash
# The first README command: runs the whole stack locally and shows a real order becoming a
# payment. Starts Kafka (scripts/kafka.sh), builds the services, then runs the demo driver,
# which starts identity (:18080), payments (:50052) and orders (:50051), waits for every
# health check, creates an order as demouser, and prints the order, the event token's claims
# and the payment. The stack keeps running until Ctrl-C; pass --stop to stop at once.
# Logs: .cache/demo/logs/<service>.log
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

scripts/install-tools.sh
KAFKA_BOOTSTRAP_SERVERS="$(scripts/kafka.sh start)"
export KAFKA_BOOTSTRAP_SERVERS
# The same build the e2e harness runs before it starts the services (see tests/e2e/src/binaries.rs):
# its own build is then a no-op.
cargo build --quiet --workspace --bins --examples
exec target/debug/zte-demo "$@"
