#!/usr/bin/env bash
# Benchmarks (issue: speed is measured here, never in timed tests).
#   scripts/bench.sh            the flow benchmark against its ceilings (release build)
#   scripts/bench.sh micro      criterion micro-benchmarks of the hot paths
# Extra arguments go to the benchmark (e.g. --clients 16 --seconds 20).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if [[ "${1:-}" == "micro" ]]; then
  shift
  exec cargo bench -p zte-bench --bench hot_paths -- "$@"
fi
KAFKA_BOOTSTRAP_SERVERS="$(scripts/kafka.sh start)"
export KAFKA_BOOTSTRAP_SERVERS
cargo build --release --quiet -p identity -p orders -p payments -p zte-bench --bins
exec target/release/zte-bench "$@"
