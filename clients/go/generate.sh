#!/usr/bin/env bash
# Generates the Go protobuf/gRPC code from proto/ into gen/ (never edited by hand, never
# committed): `buf generate` with the local plugins protoc-gen-go and protoc-gen-go-grpc,
# installed with `go install` at pinned versions into the repository's .cache/go-tools/bin.
# buf itself comes from PyPI (buf-bin, the version scripts/install-tools.sh pins).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"

PROTOC_GEN_GO_VERSION=v1.36.11
PROTOC_GEN_GO_GRPC_VERSION=v1.6.1
BUF_VERSION=1.75.0

export GOBIN="$ROOT/.cache/go-tools/bin"
export PATH="$GOBIN:$PATH"
export GOFLAGS="${GOFLAGS:--buildvcs=false}"
mkdir -p "$GOBIN"
stamp="$GOBIN/.versions"
want="$PROTOC_GEN_GO_VERSION $PROTOC_GEN_GO_GRPC_VERSION"
if [[ "$(cat "$stamp" 2>/dev/null)" != "$want" || ! -x "$GOBIN/protoc-gen-go" || ! -x "$GOBIN/protoc-gen-go-grpc" ]]; then
  go install "google.golang.org/protobuf/cmd/protoc-gen-go@$PROTOC_GEN_GO_VERSION"
  go install "google.golang.org/grpc/cmd/protoc-gen-go-grpc@$PROTOC_GEN_GO_GRPC_VERSION"
  echo "$want" > "$stamp"
fi
if ! command -v buf >/dev/null || [[ "$(buf --version 2>/dev/null)" != "$BUF_VERSION" ]]; then
  python3 -m pip install --quiet --disable-pip-version-check "buf-bin==$BUF_VERSION"
fi

cd "$HERE"
rm -rf gen
buf generate "$ROOT/proto" --template buf.gen.yaml
echo "generated: $(find gen -name '*.go' | sort | tr '\n' ' ')"
