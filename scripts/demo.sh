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
cargo build --quiet -p identity -p orders -p payments -p zte-e2e --bins
exec target/debug/zte-demo "$@"
