#!/usr/bin/env bash
# Proves the secure Kafka broker: starts a stand-in OAuth issuer (HTTPS, JWKS, ES256 at+jwt
# tokens) and a broker of its own (KAFKA_SECURITY=oauth scripts/kafka.sh start) on free
# loopback ports, grants the event flow's ACLs for random names, and runs
# scripts/kafka/security_checks.py: connections without a valid token or certificate are
# refused, each principal may do what the flow needs and nothing else, and a producer
# outlives its tokens. Last line: `kafka security: N passed, N failed`.
#
# Environment (optional): KEEP=1 keeps the broker, the issuer and their files (and prints how
# to reach them); REFRESH_LIFETIME token lifetime of the refresh check in seconds (default 10,
# 0 skips it); PKI_DIR as for scripts/pki.sh.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

WORK="$ROOT/.cache/kafka-security"
VENV="$WORK/venv"
defaults PKI_DIR="$ROOT/.cache/pki" REFRESH_LIFETIME=10
export PKI_DIR

# The venv with the pinned requirements; reinstalled only when they change.
mkdir -p "$WORK"
[[ -x "$VENV/bin/python" ]] || python3 -m venv "$VENV"
stamp="$VENV/.requirements.sha256"
want="$(sha256sum "$ROOT/scripts/kafka/requirements.txt" | cut -d' ' -f1)"
if [[ "$(cat "$stamp" 2>/dev/null)" != "$want" ]]; then
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$ROOT/scripts/kafka/requirements.txt"
  echo "$want" >"$stamp"
fi
PY="$VENV/bin/python"

bash "$ROOT/scripts/pki.sh" foreign >/dev/null

RUN="$(mktemp -d "$WORK/run.XXXXXX")"
read -r KAFKA_PORT KAFKA_CONTROLLER_PORT KAFKA_ADMIN_PORT < <("$PY" - <<'PYPORTS'
import socket
socks = [socket.socket() for _ in range(3)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in socks))
PYPORTS
)
export KAFKA_SECURITY=oauth KAFKA_PORT KAFKA_CONTROLLER_PORT KAFKA_ADMIN_PORT KAFKA_RUN_DIR="$RUN/broker"
ISSUER_PID=""

cleanup() {
  local status=$?
  if [[ "${KEEP:-0}" == 1 ]]; then
    log "kept: broker ($KAFKA_RUN_DIR), issuer pid ${ISSUER_PID:-none} (state $RUN/issuer)"
    log "use with: export KAFKA_SECURITY=oauth KAFKA_PORT=$KAFKA_PORT KAFKA_ADMIN_PORT=$KAFKA_ADMIN_PORT" \
      "KAFKA_CONTROLLER_PORT=$KAFKA_CONTROLLER_PORT KAFKA_RUN_DIR=$KAFKA_RUN_DIR"
    log "stop with: scripts/kafka.sh stop; kill $ISSUER_PID; rm -rf $RUN"
    exit "$status"
  fi
  bash "$ROOT/scripts/kafka.sh" stop >/dev/null 2>&1 || true
  if [[ -n "$ISSUER_PID" ]]; then kill "$ISSUER_PID" 2>/dev/null || true; fi
  rm -rf "$RUN"
  exit "$status"
}
trap cleanup EXIT

# The stand-in issuer on a free port with Identity's certificate; it writes its URL when up.
"$PY" "$ROOT/scripts/kafka/oauth_standin.py" serve --state "$RUN/issuer" \
  --cert "$PKI_DIR/identity/server.crt" --key "$PKI_DIR/identity/server.key" \
  >"$RUN/issuer.log" 2>&1 &
ISSUER_PID=$!
deadline=$((SECONDS + 30))
until [[ -s "$RUN/issuer/issuer" ]]; do
  kill -0 "$ISSUER_PID" 2>/dev/null || { cat "$RUN/issuer.log" >&2; die "stand-in issuer exited"; }
  ((SECONDS < deadline)) || die "stand-in issuer did not start within 30s"
  sleep 0.1
done
KAFKA_OAUTH_ISSUER="$(cat "$RUN/issuer/issuer")"
export KAFKA_OAUTH_ISSUER
log "stand-in issuer $KAFKA_OAUTH_ISSUER"

started=$SECONDS
bash "$ROOT/scripts/kafka.sh" start >/dev/null
log "secure broker up in $((SECONDS - started))s (OAUTH 127.0.0.1:$KAFKA_PORT, ADMIN 127.0.0.1:$KAFKA_ADMIN_PORT)"

suffix="$(head -c 6 /dev/urandom | od -An -tx1 | tr -d ' \n')"
topic="orders.order-created.check-$suffix"
group="payments-check-$suffix"
started_ms=$(date +%s%3N)
bash "$ROOT/scripts/kafka.sh" acl-grant --topic "$topic" --group "$group" --partitions 1 >/dev/null
log "acl-grant (3 topics + 6 ACLs) took $(($(date +%s%3N) - started_ms)) ms"

"$PY" "$ROOT/scripts/kafka/security_checks.py" \
  --bootstrap "127.0.0.1:$KAFKA_PORT" --admin-bootstrap "127.0.0.1:$KAFKA_ADMIN_PORT" \
  --controller "127.0.0.1:$KAFKA_CONTROLLER_PORT" --pki-dir "$PKI_DIR" \
  --standin-state "$RUN/issuer" --topic "$topic" --group "$group" \
  --refresh-lifetime "$REFRESH_LIFETIME"
