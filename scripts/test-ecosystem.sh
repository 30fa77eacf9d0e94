#!/usr/bin/env bash
# Tests the ways people use the project besides the Rust workspace, each part idempotent and
# installing what it needs (pinned, from PyPI / the Go module proxy / Maven Central / npm):
#   python      clients/python/test.sh      - hash vectors, adversarial cases (+ live flow if ZTE_STACK=1)
#   go          clients/go/test.sh          - hash vectors, adversarial cases (+ create-order if ZTE_STACK=1)
#   java        clients/java/test.sh        - hash vectors, adversarial cases (+ live event if ZTE_STACK=1)
#   typescript  clients/typescript/test.sh  - hash vectors, adversarial cases (+ live event if ZTE_STACK=1)
#   k8s      k8s/validate.sh         - kustomize render, strict schema + rule checks, offline
#   compose  compose/validate.sh     - compose-spec load + rule checks (no Docker engine here)
# k8s and compose check environment variable names against what the binaries say they read
# (`<binary> --print-env`); scripts/env-names.sh builds them and writes the lists once here,
# shared through ZTE_ENV_NAMES.
# Runs every part even when one fails; prints one summary line per part and exits non-zero
# if any failed. `scripts/test-ecosystem.sh python go` runs only the named parts.
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

declare -A commands=(
  [python]="clients/python/test.sh"
  [go]="clients/go/test.sh"
  [java]="clients/java/test.sh"
  [typescript]="clients/typescript/test.sh"
  [k8s]="k8s/validate.sh"
  [compose]="compose/validate.sh"
)
parts=("$@")
((${#parts[@]})) || parts=(python go java typescript k8s compose)

if [[ " ${parts[*]} " == *" k8s "* || " ${parts[*]} " == *" compose "* ]] && [[ -z "${ZTE_ENV_NAMES:-}" ]]; then
  env_names="$(mktemp -d)"
  trap 'rm -rf "$env_names"' EXIT
  # On failure ZTE_ENV_NAMES stays unset: each validator then tries again and fails loudly.
  if scripts/env-names.sh "$env_names" >/dev/null; then
    export ZTE_ENV_NAMES="$env_names"
  fi
fi

summary=()
passed=0
failed=0
for part in "${parts[@]}"; do
  command="${commands[$part]:-}"
  if [[ -z "$command" ]]; then
    echo "test-ecosystem: unknown part '$part' (known: ${!commands[*]})" >&2
    exit 2
  fi
  echo "== ecosystem: $part ($command)"
  start=$SECONDS
  if "$ROOT/$command"; then
    summary+=("ecosystem: $part PASS ($((SECONDS - start))s)")
    passed=$((passed + 1))
  else
    summary+=("ecosystem: $part FAIL ($((SECONDS - start))s) - rerun: $command")
    failed=$((failed + 1))
  fi
done

echo
printf '%s\n' "${summary[@]}"
echo "ecosystem: $passed passed, $failed failed"
((failed == 0))
