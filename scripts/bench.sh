#!/usr/bin/env bash
# Benchmarks (issue: speed is measured here, never in timed tests). See BENCHMARKS.md.
#   scripts/bench.sh            the flow benchmark against its ceilings (release build, ~2 min)
#   scripts/bench.sh micro      criterion micro-benchmarks of the hot paths
#   scripts/bench.sh storm      storms of forged records vs the next genuine order (~3 min)
# Extra arguments go to the benchmark (e.g. `scripts/bench.sh --clients 8 --seconds 10`,
# `scripts/bench.sh --help`). Loopback only; the flow benchmark stops by itself.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if [[ "${1:-}" == "micro" ]]; then
  shift
  exec cargo bench -p zte-bench --bench hot_paths -- "$@"
fi
KAFKA_BOOTSTRAP_SERVERS="$(scripts/kafka.sh start | tail -n 1)"
export KAFKA_BOOTSTRAP_SERVERS
# The e2e harness (zte_e2e::binaries) runs this same build from inside zte-bench, with the
# profile zte-bench was built with, and starts the binaries Cargo reports: after this line its
# build is a no-op, and it can never start a stale service binary.
cargo build --release --quiet --workspace --bins --examples
echo "load average before the run: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
exec target/release/zte-bench "$@"
