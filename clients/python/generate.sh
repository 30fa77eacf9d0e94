#!/usr/bin/env bash
# Generates the Python protobuf and gRPC code from proto/ into zte_client/gen/ with the
# protoc bundled in grpcio-tools (no system protoc). Generated code is never edited by hand
# and never committed (see .gitignore); run this after changing proto/.
#
# `-Izte_client/gen=<proto dir>` maps the proto tree under the package, so the generated
# imports read `from zte_client.gen.orders.v1 import orders_pb2` and the stubs live inside
# `zte_client` instead of as top-level `orders`/`payments`/`events` packages. Message and
# service names (`orders.v1.OrdersService`, ...) are unchanged.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PROTO_DIR="$(cd "$HERE/../../proto" && pwd)"
PYTHON="${PYTHON:-python3}"
cd "$HERE"

rm -rf zte_client/gen
mkdir -p zte_client/gen
mapfile -t protos < <(cd "$PROTO_DIR" && find . -name '*.proto' -not -path './testdata/*' | sed 's|^\./||' | sort)
"$PYTHON" -m grpc_tools.protoc \
  "-Izte_client/gen=$PROTO_DIR" \
  --python_out=. --pyi_out=. --grpc_python_out=. \
  "${protos[@]/#/zte_client/gen/}"
# Regular packages (not namespace packages) so setuptools and type checkers find them.
find zte_client/gen -type d -exec touch {}/__init__.py \;
echo "generated: $(find zte_client/gen -name '*_pb2*.py' | sort | tr '\n' ' ')"
