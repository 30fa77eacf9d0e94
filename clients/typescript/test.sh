#!/usr/bin/env bash
# Tests the TypeScript client: `npm ci` (exact versions from package-lock.json, once per
# lockfile change), code generation from proto/ (buf + protoc-gen-es from node_modules), tsc,
# then node's test runner: the hash vectors and the shared adversarial cases always; the live
# test (CreateOrder over gRPC, the event consumed with kafkajs and verified) only with
# ZTE_STACK=1 against the local stack.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$HERE"
if ! command -v npm >/dev/null || [[ "$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)" -lt 20 ]]; then
  echo "typescript client: needs Node.js 20+ with npm" >&2
  exit 1
fi
stamp=node_modules/.package-lock.sha256
want="$(sha256sum package-lock.json | cut -d' ' -f1)"
if [[ "$(cat "$stamp" 2>/dev/null)" != "$want" ]]; then
  npm ci --no-audit --no-fund --loglevel=error
  echo "$want" > "$stamp"
fi
npm test --silent
