#!/usr/bin/env bash
# Tests the Go client: generate from proto/, vet, then `go test` (the hash vectors and the
# shared adversarial cases always; the create-order flow against the local stack only with
# ZTE_STACK=1).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
"$HERE/generate.sh"
cd "$HERE"
export GOFLAGS="${GOFLAGS:--buildvcs=false}"
go vet ./...
go test -count=1 -v ./... "$@"
