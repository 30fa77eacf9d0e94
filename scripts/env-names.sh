#!/usr/bin/env bash
# Writes the environment variables each service binary reads to OUTDIR/identity,
# OUTDIR/orders and OUTDIR/payments: the output of `<binary> --print-env` (one name per line,
# derived from the binary's own command line, so it cannot drift from the code). The
# deployment validators (k8s/validate.py, compose/validate) check the manifests against these
# lists. Builds the binaries with cargo first (a no-op when they are fresh). Prints OUTDIR.
#   scripts/env-names.sh OUTDIR
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${1:?usage: scripts/env-names.sh OUTDIR}"
mkdir -p "$out"
for service in identity orders payments; do
  if ! cargo run --quiet --manifest-path "$ROOT/Cargo.toml" -p "$service" --bin "$service" -- --print-env > "$out/$service"; then
    echo "env-names: \`$service --print-env\` failed" >&2
    exit 1
  fi
  if [[ ! -s "$out/$service" ]]; then
    echo "env-names: \`$service --print-env\` printed nothing" >&2
    exit 1
  fi
done
echo "env-names: $(cat "$out"/identity "$out"/orders "$out"/payments | wc -l) names read by identity, orders and payments" >&2
echo "$out"
