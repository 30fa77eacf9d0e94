#!/usr/bin/env bash
# Fetch, start and stop a real Jaeger (v2) on loopback, with in-memory trace storage.
#
# No Docker: `github.com/jaegertracing/jaeger/cmd/jaeger` is built from the Go module proxy
# into a git-ignored cache (with `go build` in a throw-away module: `go install ...@v1.76.0`
# refuses it because jaeger's go.mod has a replace directive). Module version v1.76.0 is the
# same commit as Jaeger v2.13.0: `cmd/jaeger` is the v2 backend (an OpenTelemetry Collector
# distribution configured by YAML), so this script writes that YAML into the run directory.
# A binary built from source has no UI assets: / serves Jaeger's placeholder page; the HTTP
# API is complete. The first build takes about 12 CPU-minutes and ~3 GB of Go caches.
#
#   scripts/jaeger.sh fetch      build the binary into the cache (idempotent)
#   scripts/jaeger.sh start      fetch if needed, write the config, start, wait for the query API
#   scripts/jaeger.sh stop       stop the Jaeger started from this checkout for this query port
#   scripts/jaeger.sh status     exit 0 when the query API answers
#   scripts/jaeger.sh endpoint   print the OTLP gRPC endpoint (http://127.0.0.1:<port>)
#   scripts/jaeger.sh selftest   send spans over OTLP/HTTP (curl) and OTLP/gRPC (Python SDK)
#                                to the running Jaeger and read them back from the query API
#
# Environment (all optional):
#   JAEGER_OTLP_GRPC_PORT   OTLP gRPC receiver on 127.0.0.1        (default 14317)
#   JAEGER_OTLP_HTTP_PORT   OTLP HTTP receiver on 127.0.0.1        (default 14318)
#   JAEGER_QUERY_PORT       query UI + HTTP API (/api/...)         (default 16686)
#   JAEGER_QUERY_GRPC_PORT  query gRPC API                         (default 16685)
#   JAEGER_VERSION          Go module version of jaeger            (default v1.76.0)
#   JAEGER_CACHE_DIR        binary, venv                           (default <repo>/.cache/jaeger)
#   JAEGER_RUN_DIR          config + log of this instance          (default <cache>/run-<query port>)
#   JAEGER_MAX_TRACES       traces kept in memory                  (default 100000)
#   JAEGER_START_TIMEOUT    seconds to wait for the query API      (default 60)
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

defaults JAEGER_OTLP_GRPC_PORT=14317 JAEGER_OTLP_HTTP_PORT=14318 \
  JAEGER_QUERY_PORT=16686 JAEGER_QUERY_GRPC_PORT=16685
defaults JAEGER_VERSION=v1.76.0 JAEGER_MAX_TRACES=100000
cache_defaults JAEGER jaeger "$JAEGER_QUERY_PORT" 60
BIN_DIR="$JAEGER_CACHE_DIR/$JAEGER_VERSION/bin"
JAEGER_BIN="$BIN_DIR/jaeger"
QUERY_URL="http://127.0.0.1:$JAEGER_QUERY_PORT"
# Pinned for the selftest's gRPC half (a venv under the cache, never the system Python).
OTEL_PY_VERSION=1.45.2

fetch() {
  if [[ -x "$JAEGER_BIN" ]]; then
    return 0
  fi
  command -v go >/dev/null || die "go not found (install Go 1.24+)"
  local module=github.com/jaegertracing/jaeger started=$SECONDS
  log "building $module/cmd/jaeger@$JAEGER_VERSION into $BIN_DIR (first time: minutes)"
  # `go install $module/cmd/jaeger@$JAEGER_VERSION` refuses a module whose go.mod has replace
  # directives (jaeger's does), so build it from a throw-away module that requires it and
  # copies its replace directives.
  local work gomod
  work="$(mktemp -d)"
  gomod="$(cd "$work" && go mod download -json "$module@$JAEGER_VERSION" \
    | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')"
  [[ -f "$gomod" ]] || die "could not download $module@$JAEGER_VERSION from the Go module proxy"
  printf 'module zte.local/jaeger-build\n\ngo %s\n' "$(sed -n 's/^go //p' "$gomod")" >"$work/go.mod"
  local old arrow new
  while read -r old arrow new; do
    [[ -n "$old" ]] || continue
    if [[ "$arrow" != "=>" ]]; then # versioned left side: "old v1 => new v2"
      old="$old@$arrow"
      read -r arrow new <<<"$new"
    fi
    [[ "$new" == [./]* ]] && die "$module's go.mod replaces $old by a local path: cannot build"
    (cd "$work" && go mod edit -replace="$old=${new/ /@}")
  done < <(awk '/^replace \(/ { block = 1; next } block && /^\)/ { block = 0; next }
                block { print; next } /^replace / { sub(/^replace /, ""); print }' "$gomod")
  mkdir -p "$BIN_DIR"
  local build_log="$JAEGER_CACHE_DIR/build.log"
  (
    cd "$work"
    export GOFLAGS="${GOFLAGS:-} -buildvcs=false -mod=mod"
    go get "$module/cmd/jaeger@$JAEGER_VERSION" \
      && go build -trimpath -ldflags "-X $module/internal/version.latestVersion=$JAEGER_VERSION" \
        -o "$JAEGER_BIN.tmp" "$module/cmd/jaeger"
  ) >"$build_log" 2>&1 || {
    tail -n 40 "$build_log" >&2
    rm -rf "$work"
    die "building jaeger $JAEGER_VERSION failed (log: $build_log)"
  }
  mv "$JAEGER_BIN.tmp" "$JAEGER_BIN"
  rm -rf "$work"
  log "built $JAEGER_BIN in $((SECONDS - started))s"
}

# True when the query API answers a services listing.
answers_query() {
  curl -fsS --max-time 2 "$QUERY_URL/api/services" >/dev/null 2>&1
}

# Only what the tests need: the OTLP receivers, memory storage and the query service, all
# bound to 127.0.0.1. The collector's own metrics endpoint (8888 by default) is switched off.
write_config() {
  mkdir -p "$JAEGER_RUN_DIR"
  cat >"$JAEGER_RUN_DIR/config.yaml" <<YAML
service:
  extensions: [jaeger_storage, jaeger_query]
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [jaeger_storage_exporter]
  telemetry:
    resource:
      service.name: jaeger
    metrics:
      level: none
    logs:
      level: info

extensions:
  jaeger_storage:
    backends:
      memstore:
        memory:
          max_traces: $JAEGER_MAX_TRACES
  jaeger_query:
    storage:
      traces: memstore
    # On by default in v2: the query service would trace itself to localhost:4317, i.e. into
    # whatever collector listens on the default port.
    enable_tracing: false
    http:
      endpoint: 127.0.0.1:$JAEGER_QUERY_PORT
    grpc:
      endpoint: 127.0.0.1:$JAEGER_QUERY_GRPC_PORT

receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:$JAEGER_OTLP_GRPC_PORT
      http:
        endpoint: 127.0.0.1:$JAEGER_OTLP_HTTP_PORT

processors:
  batch:
    timeout: 200ms

exporters:
  jaeger_storage_exporter:
    trace_storage: memstore
YAML
}

print_endpoints() {
  log "OTLP gRPC http://127.0.0.1:$JAEGER_OTLP_GRPC_PORT, OTLP HTTP http://127.0.0.1:$JAEGER_OTLP_HTTP_PORT, query $QUERY_URL"
  echo "http://127.0.0.1:$JAEGER_OTLP_GRPC_PORT"
}

start() {
  fetch
  # Ours (pid file) or another one on this port: either way a query API is there to use.
  if already_running jaeger "$QUERY_URL" answers_query; then
    print_endpoints
    return 0
  fi
  write_config
  log "starting jaeger (config: $JAEGER_RUN_DIR/config.yaml, log: $JAEGER_RUN_DIR/jaeger.log)"
  start_detached "$JAEGER_RUN_DIR/jaeger.log" "$JAEGER_BIN" --config "$JAEGER_RUN_DIR/config.yaml"
  await_ready jaeger "$JAEGER_RUN_DIR/jaeger.log" "$JAEGER_START_TIMEOUT" 0.2 answers_query
  log "jaeger ready"
  print_endpoints
}

# Polls the query API until the service has a trace with the given id (deadline wait).
await_trace() {
  local service="$1" trace_id="$2" deadline=$((SECONDS + 20)) body
  while ((SECONDS < deadline)); do
    body="$(curl -fsS --max-time 2 "$QUERY_URL/api/traces?service=$service&lookback=1h&limit=20" || true)"
    if [[ "$body" == *"\"traceID\":\"$trace_id\""* ]]; then
      return 0
    fi
    sleep 0.2
  done
  log "last answer for service $service: ${body:-<none>}"
  return 1
}

random_hex() { od -An -N"$1" -tx1 /dev/urandom | tr -d ' \n'; }

# OTLP/HTTP with a JSON body: no dependency beyond curl.
selftest_http() {
  local service trace_id span_id now
  service="jaeger-selftest-http-$(random_hex 4)"
  trace_id="$(random_hex 16)"
  span_id="$(random_hex 8)"
  now="$(date +%s%N)"
  curl -fsS --max-time 5 -H 'Content-Type: application/json' \
    "http://127.0.0.1:$JAEGER_OTLP_HTTP_PORT/v1/traces" -d @- >/dev/null <<JSON \
    || { log "OTLP/HTTP export refused"; return 1; }
{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"$service"}}]},
 "scopeSpans":[{"scope":{"name":"jaeger.sh"},"spans":[{"traceId":"$trace_id","spanId":"$span_id",
 "name":"selftest-http","kind":1,"startTimeUnixNano":"$((now - 1000000))","endTimeUnixNano":"$now"}]}]}]}
JSON
  await_trace "$service" "$trace_id" || { log "span sent over OTLP/HTTP not found"; return 1; }
  log "selftest: OTLP/HTTP span $trace_id read back from /api/traces?service=$service"
}

venv_python() {
  local venv="$JAEGER_CACHE_DIR/venv" want="otel-$OTEL_PY_VERSION"
  if [[ ! -x "$venv/bin/python" ]]; then
    python3 -m venv "$venv" >&2 || die "python3 -m venv failed (Debian: apt-get install python3-venv)"
  fi
  if [[ "$(cat "$venv/.stamp" 2>/dev/null)" != "$want" ]]; then
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
      "opentelemetry-sdk==$OTEL_PY_VERSION" \
      "opentelemetry-exporter-otlp-proto-grpc==$OTEL_PY_VERSION" >&2 \
      || die "pip install of the OpenTelemetry SDK failed"
    echo "$want" >"$venv/.stamp"
  fi
  printf '%s' "$venv/bin/python"
}

# OTLP/gRPC through the OpenTelemetry Python SDK's exporter (what the services speak).
selftest_grpc() {
  local python service trace_id
  service="jaeger-selftest-grpc-$(random_hex 4)"
  python="$(venv_python)"
  trace_id="$(
    "$python" - "$service" "http://127.0.0.1:$JAEGER_OTLP_GRPC_PORT" <<'PY'
import sys
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

service, endpoint = sys.argv[1], sys.argv[2]

class Checked(OTLPSpanExporter):
    # SimpleSpanProcessor drops the result: make a refused export fail the test.
    def export(self, spans):
        result = super().export(spans)
        if result is not SpanExportResult.SUCCESS:
            sys.exit(f"OTLP/gRPC export to {endpoint} failed: {result}")
        return result

provider = TracerProvider(resource=Resource.create({"service.name": service}))
provider.add_span_processor(SimpleSpanProcessor(Checked(endpoint=endpoint, insecure=True, timeout=5)))
with provider.get_tracer("jaeger.sh").start_as_current_span("selftest-grpc") as span:
    trace_id = format(span.get_span_context().trace_id, "032x")
provider.shutdown()
print(trace_id)
PY
  )" || { log "OTLP/gRPC export failed"; return 1; }
  await_trace "$service" "$trace_id" || { log "span sent over OTLP/gRPC not found"; return 1; }
  log "selftest: OTLP/gRPC span $trace_id read back from /api/traces?service=$service"
}

selftest() {
  answers_query || die "no jaeger answers on $QUERY_URL (run: scripts/jaeger.sh start)"
  local passed=0 failed=0 part
  for part in selftest_http selftest_grpc; do
    if "$part"; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
  done
  echo "jaeger selftest: $passed passed, $failed failed"
  ((failed == 0))
}

case "${1:-}" in
  fetch) fetch ;;
  start) start ;;
  stop) stop_server jaeger "query port $JAEGER_QUERY_PORT" ;;
  status) answers_query ;;
  endpoint) echo "http://127.0.0.1:$JAEGER_OTLP_GRPC_PORT" ;;
  selftest) selftest ;;
  *) usage ;;
esac
