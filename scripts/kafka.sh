#!/usr/bin/env bash
# Fetch, start and stop a real single-node Apache Kafka broker (KRaft mode) on loopback.
#
# No Docker: the broker jars (org.apache.kafka:kafka_2.13 and its runtime dependencies) come
# from Maven Central through `mvn` into a git-ignored cache. Tests, the local stack and CI all
# use this one script.
#
#   scripts/kafka.sh fetch          download the broker into the cache (idempotent)
#   scripts/kafka.sh start          fetch if needed, format storage, start, wait for metadata
#   scripts/kafka.sh stop           stop the broker started for this port
#   scripts/kafka.sh status         exit 0 when the broker answers metadata requests
#   scripts/kafka.sh bootstrap      print the bootstrap address (host:port)
#
# Environment (all optional):
#   KAFKA_PORT          broker listener port on 127.0.0.1         (default 19092)
#   KAFKA_CONTROLLER_PORT  KRaft controller port                  (default KAFKA_PORT+1)
#   KAFKA_VERSION       Apache Kafka version from Maven Central   (default 4.4.0)
#   KAFKA_CACHE_DIR     where jars are cached                     (default <repo>/.cache/kafka)
#   KAFKA_RUN_DIR       storage + logs of this broker             (default <cache>/run-<port>)
#   KAFKA_START_TIMEOUT seconds to wait for the broker            (default 120)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
KAFKA_VERSION="${KAFKA_VERSION:-4.4.0}"
KAFKA_PORT="${KAFKA_PORT:-19092}"
KAFKA_CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-$((KAFKA_PORT + 1))}"
KAFKA_CACHE_DIR="${KAFKA_CACHE_DIR:-$ROOT/.cache/kafka}"
KAFKA_RUN_DIR="${KAFKA_RUN_DIR:-$KAFKA_CACHE_DIR/run-$KAFKA_PORT}"
KAFKA_START_TIMEOUT="${KAFKA_START_TIMEOUT:-120}"
# Bump the suffix when the dependency list below changes, so caches are rebuilt.
LIB_DIR="$KAFKA_CACHE_DIR/$KAFKA_VERSION-r2/lib"
PID_FILE="$KAFKA_RUN_DIR/kafka.pid"
BOOTSTRAP="127.0.0.1:$KAFKA_PORT"

log() { printf 'kafka.sh: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

classpath() { printf '%s/*' "$LIB_DIR"; }

fetch() {
  if [[ -f "$LIB_DIR/.complete" ]]; then
    return 0
  fi
  command -v mvn >/dev/null || die "mvn not found (install Maven: apt-get install -y maven)"
  command -v java >/dev/null || die "java not found (install a JDK 17+)"
  log "fetching Apache Kafka $KAFKA_VERSION from Maven Central into $LIB_DIR"
  local work
  work="$(mktemp -d)"
  # A throw-away POM whose only purpose is to resolve the broker's runtime classpath.
  cat >"$work/pom.xml" <<POM
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.kafka</groupId>
  <artifactId>kafka-runtime</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>$KAFKA_VERSION</version></dependency>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka-tools</artifactId><version>$KAFKA_VERSION</version></dependency>
    <dependency><groupId>org.slf4j</groupId><artifactId>slf4j-api</artifactId><version>2.0.16</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-core</artifactId><version>2.24.3</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j2-impl</artifactId><version>2.24.3</version></dependency>
  </dependencies>
</project>
POM
  mkdir -p "$LIB_DIR"
  mvn -q -B -f "$work/pom.xml" dependency:copy-dependencies \
    -DincludeScope=runtime -DoutputDirectory="$LIB_DIR" \
    || die "mvn could not fetch kafka_2.13:$KAFKA_VERSION"
  rm -rf "$work"
  touch "$LIB_DIR/.complete"
  log "fetched $(find "$LIB_DIR" -name '*.jar' | wc -l) jars"
}

# True when a broker answers an ApiVersions/metadata round trip on the bootstrap address.
answers_metadata() {
  java -cp "$(classpath)" -Dlog4j2.configurationFile="$KAFKA_RUN_DIR/log4j2.properties" \
    org.apache.kafka.tools.BrokerApiVersionsCommand --bootstrap-server "$BOOTSTRAP" \
    >/dev/null 2>&1
}

running_pid() {
  [[ -f "$PID_FILE" ]] || return 1
  local pid
  pid="$(cat "$PID_FILE")"
  kill -0 "$pid" 2>/dev/null || return 1
  printf '%s' "$pid"
}

write_config() {
  mkdir -p "$KAFKA_RUN_DIR/data"
  cat >"$KAFKA_RUN_DIR/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$KAFKA_RUN_DIR/data
num.partitions=3
auto.create.topics.enable=true
offsets.topic.replication.factor=1
offsets.topic.num.partitions=3
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
message.max.bytes=1048588
PROPS
  cat >"$KAFKA_RUN_DIR/log4j2.properties" <<'L4J'
status = error
appender.console.type = Console
appender.console.name = STDOUT
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRef.stdout.ref = STDOUT
logger.kafka.name = kafka
logger.kafka.level = INFO
logger.server.name = org.apache.kafka.server
logger.server.level = INFO
L4J
}

start() {
  fetch
  local pid
  pid="$(running_pid || true)"
  if answers_metadata; then
    # Ours (pid file) or another one on this port: either way a broker is there to use.
    log "broker already running on $BOOTSTRAP${pid:+ (pid $pid)}"
    echo "$BOOTSTRAP"
    return 0
  fi
  write_config
  if [[ ! -f "$KAFKA_RUN_DIR/data/meta.properties" ]]; then
    log "formatting KRaft storage in $KAFKA_RUN_DIR/data"
    java -cp "$(classpath)" -Dlog4j2.configurationFile="$KAFKA_RUN_DIR/log4j2.properties" \
      kafka.tools.StorageTool format --ignore-formatted \
      -t "$(java -cp "$(classpath)" kafka.tools.StorageTool random-uuid 2>/dev/null)" \
      -c "$KAFKA_RUN_DIR/server.properties" >"$KAFKA_RUN_DIR/format.log" 2>&1 \
      || { cat "$KAFKA_RUN_DIR/format.log" >&2; die "storage format failed"; }
  fi
  log "starting broker on $BOOTSTRAP (logs: $KAFKA_RUN_DIR/server.log)"
  # setsid: the broker must outlive this script and must not get the caller's Ctrl-C.
  setsid java -Xms256m -Xmx1g -XX:+UseG1GC \
    -Dlog4j2.configurationFile="$KAFKA_RUN_DIR/log4j2.properties" \
    -cp "$(classpath)" kafka.Kafka "$KAFKA_RUN_DIR/server.properties" \
    >"$KAFKA_RUN_DIR/server.log" 2>&1 </dev/null &
  echo $! >"$PID_FILE"
  local deadline=$((SECONDS + KAFKA_START_TIMEOUT))
  until answers_metadata; do
    if ! running_pid >/dev/null; then
      tail -n 40 "$KAFKA_RUN_DIR/server.log" >&2 || true
      die "broker exited during start-up"
    fi
    if ((SECONDS >= deadline)); then
      tail -n 40 "$KAFKA_RUN_DIR/server.log" >&2 || true
      die "broker did not answer metadata within ${KAFKA_START_TIMEOUT}s"
    fi
    sleep 1
  done
  log "broker ready on $BOOTSTRAP"
  echo "$BOOTSTRAP"
}

stop() {
  local pid
  if ! pid="$(running_pid)"; then
    log "no broker running for port $KAFKA_PORT"
    rm -f "$PID_FILE"
    return 0
  fi
  log "stopping broker (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  local deadline=$((SECONDS + 30))
  while kill -0 "$pid" 2>/dev/null; do
    if ((SECONDS >= deadline)); then
      log "broker did not stop within 30s; killing"
      kill -KILL "$pid" 2>/dev/null || true
      break
    fi
    sleep 0.2
  done
  rm -f "$PID_FILE"
}

case "${1:-}" in
  fetch) fetch ;;
  start) start ;;
  stop) stop ;;
  status) answers_metadata ;;
  bootstrap) echo "$BOOTSTRAP" ;;
  *) sed -n '2,20p' "$0" >&2; exit 2 ;;
esac
