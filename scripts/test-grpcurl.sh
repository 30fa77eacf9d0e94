#!/usr/bin/env bash
# Runs the README's grpcurl walkthrough verbatim against a running local stack and asserts on
# the output; then grpc-health-probe against each gRPC service. Every walkthrough command run
# here must appear verbatim in README.md, so the two cannot drift apart.
#
# Needs the stack from `scripts/demo.sh` on the default ports (scripts/test-live.sh starts it).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

GRPCURL_VERSION=v1.9.3
HEALTH_PROBE_VERSION=v0.4.61
GOBIN="${GOBIN:-$(go env GOPATH)/bin}"
export PATH="$GOBIN:$PATH"
command -v grpcurl >/dev/null || go install "github.com/fullstorydev/grpcurl/cmd/grpcurl@$GRPCURL_VERSION"
command -v grpc-health-probe >/dev/null || go install "github.com/grpc-ecosystem/grpc-health-probe@$HEALTH_PROBE_VERSION"

passed=0
failed=0
check() { # name, command (a README line), expected regex
  local name="$1" cmd="$2" expect="$3" out
  if ! grep -qF -- "$cmd" README.md; then
    echo "FAIL $name: command is not in README.md verbatim: $cmd"; failed=$((failed + 1)); return
  fi
  out="$(eval "$cmd" 2>&1 || true)"
  if grep -qE -- "$expect" <<<"$out"; then
    echo "ok   $name"; passed=$((passed + 1))
  else
    echo "FAIL $name: expected /$expect/ in:"; sed 's/^/     /' <<<"$out"; failed=$((failed + 1))
  fi
}

# 1. A user token from the identity service (password grant, demo client).
TOKEN_CMD='TOKEN=$(curl -s http://127.0.0.1:18080/token -d grant_type=password -d client_id=demo-cli -d username=demouser -d password=Password1 -d "scope=orders payments" | python3 -c "import json,sys; print(json.load(sys.stdin)[\"access_token\"])")'
grep -qF -- "$TOKEN_CMD" README.md || { echo "FAIL token command not in README.md"; exit 1; }
eval "$TOKEN_CMD"
[[ "$TOKEN" == *.*.* ]] && { echo "ok   user token"; passed=$((passed + 1)); } || { echo "FAIL user token"; failed=$((failed + 1)); }

check "list services (reflection)" 'grpcurl -plaintext 127.0.0.1:50051 list' 'orders\.v1\.OrdersService'
check "describe CreateOrder" 'grpcurl -plaintext 127.0.0.1:50051 describe orders.v1.OrdersService.CreateOrder' 'rpc CreateOrder'
check "health check orders" "grpcurl -plaintext -d '{\"service\":\"orders.v1.OrdersService\"}' 127.0.0.1:50051 grpc.health.v1.Health/Check" '"SERVING"'
check "CreateOrder without token is refused" "grpcurl -plaintext -d '{\"request_id\":\"walkthrough-1\",\"currency\":\"EUR\",\"items\":[{\"sku\":\"BOOK-1\",\"quantity\":2,\"unit_price_minor\":1999}]}' 127.0.0.1:50051 orders.v1.OrdersService/CreateOrder" 'Unauthenticated'

REQUEST_ID="walkthrough-$(date +%s%N)"
CREATE="grpcurl -plaintext -H \"authorization: Bearer \$TOKEN\" -d '{\"request_id\":\"walkthrough-1\",\"currency\":\"EUR\",\"items\":[{\"sku\":\"BOOK-1\",\"quantity\":2,\"unit_price_minor\":1999}]}' 127.0.0.1:50051 orders.v1.OrdersService/CreateOrder"
grep -qF -- "$CREATE" README.md || { echo "FAIL CreateOrder command not in README.md"; failed=$((failed + 1)); }
# A unique request id per run (the README's fixed one would return the earlier order).
out="$(eval "${CREATE/walkthrough-1/$REQUEST_ID}")"
ORDER_ID="$(python3 -c 'import json,sys; print(json.load(sys.stdin)["order"]["orderTransactionId"])' <<<"$out" 2>/dev/null || true)"
if [[ "$ORDER_ID" =~ ^[0-9a-f-]{36}$ ]] && grep -q '"totalMinor": "3998"' <<<"$out"; then
  echo "ok   CreateOrder ($ORDER_ID)"; passed=$((passed + 1))
else
  echo "FAIL CreateOrder:"; sed 's/^/     /' <<<"$out"; failed=$((failed + 1))
fi
export ORDER_ID
check "GetOrder" "grpcurl -plaintext -H \"authorization: Bearer \$TOKEN\" -d \"{\\\"order_transaction_id\\\":\\\"\$ORDER_ID\\\"}\" 127.0.0.1:50051 orders.v1.OrdersService/GetOrder" "$ORDER_ID"

# The payment appears asynchronously: poll with a deadline.
PAY="grpcurl -plaintext -H \"authorization: Bearer \$TOKEN\" -d \"{\\\"order_transaction_id\\\":\\\"\$ORDER_ID\\\"}\" 127.0.0.1:50052 payments.v1.PaymentsService/GetPayment"
deadline=$((SECONDS + 60))
until out="$(eval "$PAY" 2>&1)" && grep -q '"amountMinor": "3998"' <<<"$out"; do
  ((SECONDS < deadline)) || break
  sleep 0.5
done
check "GetPayment" "$PAY" '"amountMinor": "3998"'
check "health check payments" "grpcurl -plaintext -d '{\"service\":\"payments.v1.PaymentsService\"}' 127.0.0.1:50052 grpc.health.v1.Health/Check" '"SERVING"'

check "grpc-health-probe orders" 'grpc-health-probe -addr=127.0.0.1:50051 -service=orders.v1.OrdersService' 'SERVING'
check "grpc-health-probe payments" 'grpc-health-probe -addr=127.0.0.1:50052 -service=payments.v1.PaymentsService' 'SERVING'
check "identity health" 'curl -s http://127.0.0.1:18080/healthz' 'ok'
check "identity metadata" 'curl -s http://127.0.0.1:18080/.well-known/oauth-authorization-server' 'token_endpoint'

echo "grpcurl walkthrough: $passed passed, $failed failed"
((failed == 0))
