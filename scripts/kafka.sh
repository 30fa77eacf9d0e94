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
#   scripts/kafka.sh bootstrap      print the bootstrap address (host:port); secure mode: `env`
#   scripts/kafka.sh env            secure mode: the addresses and files clients need, as
#                                   KEY=value lines (eval-able)
#   scripts/kafka.sh acl-grant --topic T --group G [--dlq D] [--retry R] [--partitions N]
#                                   secure mode: the ACLs of the event flow for these names
#                                   (--partitions: also create the topics, N partitions)
#   scripts/kafka.sh acl-list       secure mode: every ACL of the cluster
#
# KAFKA_SECURITY=oauth starts the secure broker instead (Kafka >= 4.2, PKI from scripts/pki.sh):
#   OAUTH   SASL_SSL + OAUTHBEARER on KAFKA_PORT: Kafka's own JWT validator checks each token
#           against KAFKA_OAUTH_JWKS_URL (HTTPS, PKI CA), issuer and audience; principal User:<sub>
#   ADMIN   SSL with a required client certificate on KAFKA_ADMIN_PORT: CN=admin is User:admin
#           (super user, for scripts and tests); also the inter-broker listener (CN=kafka)
#   CONTROLLER  SSL, client certificate CN=kafka only, on KAFKA_CONTROLLER_PORT
#   StandardAuthorizer, allow.everyone.if.no.acl.found=false, no topic auto-creation.
#
# Environment (all optional):
#   KAFKA_SECURITY      plaintext | oauth                         (default plaintext)
#   KAFKA_PORT          broker listener port on 127.0.0.1         (default 19092; oauth: 19094)
#   KAFKA_CONTROLLER_PORT  KRaft controller port                  (default KAFKA_PORT+1)
#   KAFKA_ADMIN_PORT    oauth: admin (mTLS) listener port         (default KAFKA_PORT+2)
#   KAFKA_OAUTH_ISSUER  oauth: expected `iss`                     (default https://127.0.0.1:18080)
#   KAFKA_OAUTH_JWKS_URL   oauth: JWKS URL (https)                (default <issuer>/jwks)
#   KAFKA_OAUTH_AUDIENCE   oauth: expected `aud`                  (default kafka)
#   KAFKA_OAUTH_JWKS_REFRESH_MS  oauth: JWKS refresh interval     (default 300000)
#   KAFKA_REAUTH_MS     oauth: connections re-authenticate after  (default 600000; never after
#                       the token's `exp`)
#   KAFKA_ORDERS_PRINCIPAL / KAFKA_PAYMENTS_PRINCIPAL  acl-grant  (default User:orders-service /
#                                                                  User:payments-service)
#   PKI_DIR             oauth: the PKI (scripts/pki.sh)           (default <repo>/.cache/pki)
#   KAFKA_VERSION       Apache Kafka version from Maven Central   (default 4.4.0)
#   KAFKA_CACHE_DIR     where jars are cached                     (default <repo>/.cache/kafka)
#   KAFKA_RUN_DIR       storage + logs of this broker             (default <cache>/run-<port>)
#   KAFKA_START_TIMEOUT seconds to wait for the broker            (default 120)
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

defaults KAFKA_VERSION=4.4.0 KAFKA_SECURITY=plaintext
case "$KAFKA_SECURITY" in
  plaintext) defaults KAFKA_PORT=19092 ;;
  oauth) defaults KAFKA_PORT=19094 ;;
  *) log "error: KAFKA_SECURITY must be plaintext or oauth, not \"$KAFKA_SECURITY\""; exit 2 ;;
esac
cache_defaults KAFKA kafka "$KAFKA_PORT" 120
defaults KAFKA_CONTROLLER_PORT=$((KAFKA_PORT + 1)) KAFKA_ADMIN_PORT=$((KAFKA_PORT + 2)) PKI_DIR="$ROOT/.cache/pki"
defaults KAFKA_OAUTH_ISSUER=https://127.0.0.1:18080 KAFKA_OAUTH_AUDIENCE=kafka \
  KAFKA_OAUTH_JWKS_REFRESH_MS=300000 KAFKA_REAUTH_MS=600000
defaults KAFKA_OAUTH_JWKS_URL="${KAFKA_OAUTH_ISSUER%/}/jwks"
defaults KAFKA_ORDERS_PRINCIPAL=User:orders-service KAFKA_PAYMENTS_PRINCIPAL=User:payments-service
# Bump the suffix when the dependency list below changes, so caches are rebuilt.
LIB_DIR="$KAFKA_CACHE_DIR/$KAFKA_VERSION-r2/lib"
BOOTSTRAP="127.0.0.1:$KAFKA_PORT"
ADMIN_BOOTSTRAP="127.0.0.1:$KAFKA_ADMIN_PORT"
# Secure mode: TLS material assembled from the PKI, and the admin's client configuration.
TLS_DIR="$KAFKA_RUN_DIR/tls"
ADMIN_CONFIG="$KAFKA_RUN_DIR/admin.properties"
TRUSTSTORE_PASSWORD=public-ca-only

secure() { [[ "$KAFKA_SECURITY" == oauth ]]; }

classpath() { printf '%s/*' "$LIB_DIR"; }
# Short-lived tools (status probes, admin calls): the client compiler and serial GC start
# about twice as fast and leave the cores to the broker.
TOOL_JVM=(-XX:TieredStopAtLevel=1 -XX:+UseSerialGC)

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

# True when a broker answers an ApiVersions/metadata round trip (secure mode: on the admin
# listener, with the admin's client certificate).
answers_metadata() {
  local target=(--bootstrap-server "$BOOTSTRAP") port="$KAFKA_PORT"
  if secure; then
    [[ -f "$ADMIN_CONFIG" ]] || return 1
    target=(--bootstrap-server "$ADMIN_BOOTSTRAP" --command-config "$ADMIN_CONFIG")
    port="$KAFKA_ADMIN_PORT"
  fi
  # Nothing listening yet: answer without starting a JVM (which would slow the broker's start).
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || return 1
  java "${TOOL_JVM[@]}" -cp "$(classpath)" -Dlog4j2.configurationFile="$KAFKA_RUN_DIR/log4j2.properties" \
    org.apache.kafka.tools.BrokerApiVersionsCommand "${target[@]}" >/dev/null 2>&1
}

# Secure mode: refuse settings that cannot be secure, before anything is fetched or started.
check_secure_settings() {
  # 4.1.0 and 4.1.1 shipped an OAUTHBEARER validator that accepted forged tokens.
  if [[ "$(printf '%s\n' 4.2.0 "$KAFKA_VERSION" | sort -V | head -n1)" != 4.2.0 ]]; then
    die "KAFKA_SECURITY=oauth needs Kafka >= 4.2 (KAFKA_VERSION=$KAFKA_VERSION)"
  fi
  [[ "$KAFKA_OAUTH_JWKS_URL" == https://* ]] || die "KAFKA_OAUTH_JWKS_URL must be https:// (got $KAFKA_OAUTH_JWKS_URL)"
}

# The broker fetches the JWKS while it starts and exits if it cannot (ConnectException in
# BrokerJwtValidator.configure): wait for it here, so Identity and Kafka may start together.
wait_for_jwks() {
  command -v curl >/dev/null || return 0
  local deadline=$((SECONDS + KAFKA_START_TIMEOUT)) error
  until error="$(curl -fsS -o /dev/null --max-time 5 --cacert "$PKI_DIR/ca.crt" "$KAFKA_OAUTH_JWKS_URL" 2>&1)"; do
    ((SECONDS < deadline)) || die "JWKS $KAFKA_OAUTH_JWKS_URL not reachable with the PKI CA within ${KAFKA_START_TIMEOUT}s (start Identity first): $error"
    sleep 1
  done
}

# TLS settings the broker's listeners and the admin client share: TLS 1.3 only, a PEM key store
# (key + certificate, $1), the PKI CA as the only trust anchor.
tls_properties() {
  cat <<TLS
ssl.protocol=TLSv1.3
ssl.enabled.protocols=TLSv1.3
ssl.keystore.type=PEM
ssl.keystore.location=$1
ssl.truststore.type=PEM
ssl.truststore.location=$PKI_DIR/ca.crt
TLS
}

# Secure mode: make the PKI if needed and assemble the broker's
# and the admin's PEM key stores (key + certificate in one file, owner-only) in the run dir.
prepare_tls() {
  PKI_DIR="$PKI_DIR" bash "$ROOT/scripts/pki.sh" >/dev/null
  (
    umask 077
    mkdir -p "$TLS_DIR"
    cat "$PKI_DIR/kafka/server.key" "$PKI_DIR/kafka/server.crt" >"$TLS_DIR/broker.pem"
    cat "$PKI_DIR/admin/client.key" "$PKI_DIR/admin/client.crt" >"$TLS_DIR/admin.pem"
    # The JVM's default trust, used for the JWKS fetch, is the PKI CA alone. (JAAS options
    # cannot carry it: any option turns on the broker's unsecured-token login.) The store
    # holds a public certificate only; its password guards nothing secret.
    if [[ ! -s "$TLS_DIR/jvm-truststore.p12" || "$PKI_DIR/ca.crt" -nt "$TLS_DIR/jvm-truststore.p12" ]]; then
      rm -f "$TLS_DIR/jvm-truststore.p12"
      local out
      out="$(keytool -importcert -noprompt -alias zte-local-ca -file "$PKI_DIR/ca.crt" \
        -keystore "$TLS_DIR/jvm-truststore.p12" -storetype PKCS12 -storepass "$TRUSTSTORE_PASSWORD" 2>&1)" \
        || die "keytool could not import $PKI_DIR/ca.crt: $out"
    fi
    { echo "security.protocol=SSL"; tls_properties "$TLS_DIR/admin.pem"; } >"$ADMIN_CONFIG"
  )
}

write_config() {
  mkdir -p "$KAFKA_RUN_DIR/data"
  cat >"$KAFKA_RUN_DIR/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$KAFKA_CONTROLLER_PORT
controller.listener.names=CONTROLLER
log.dirs=$KAFKA_RUN_DIR/data
num.partitions=3
offsets.topic.replication.factor=1
offsets.topic.num.partitions=3
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
message.max.bytes=1048588
PROPS
  if secure; then
    write_secure_config
  else
    cat >>"$KAFKA_RUN_DIR/server.properties" <<PROPS
listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
auto.create.topics.enable=true
PROPS
  fi
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

# The secure broker (properties from Kafka 4.4's SaslConfigs/BrokerSecurityConfigs):
# every listener is TLS 1.3 with the PKI's kafka certificate; principals come from the token's
# `sub` (OAUTH) or from the client certificate's subject (ADMIN, CONTROLLER).
write_secure_config() {
  {
    cat <<PROPS
listeners=OAUTH://127.0.0.1:$KAFKA_PORT,ADMIN://127.0.0.1:$KAFKA_ADMIN_PORT,CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT
advertised.listeners=OAUTH://127.0.0.1:$KAFKA_PORT,ADMIN://127.0.0.1:$KAFKA_ADMIN_PORT
listener.security.protocol.map=OAUTH:SASL_SSL,ADMIN:SSL,CONTROLLER:SSL
inter.broker.listener.name=ADMIN
auto.create.topics.enable=false
PROPS
    tls_properties "$TLS_DIR/broker.pem"
    cat <<PROPS

# ADMIN: a client certificate from the PKI is required; only CN=admin (scripts, tests) and
# CN=kafka (this broker, inter-broker) have a principal, any other subject is refused.
listener.name.admin.ssl.client.auth=required
listener.name.admin.ssl.principal.mapping.rules=RULE:^CN=(admin|kafka),O=zte\$/\$1/
# CONTROLLER: only the broker itself (CN=kafka).
listener.name.controller.ssl.client.auth=required
listener.name.controller.ssl.principal.mapping.rules=RULE:^CN=kafka,O=zte\$/kafka/

# OAUTH: SASL/OAUTHBEARER checked by Kafka's own JWT validator (jose4j) against the JWKS.
listener.name.oauth.ssl.client.auth=none
listener.name.oauth.sasl.enabled.mechanisms=OAUTHBEARER
listener.name.oauth.oauthbearer.sasl.server.callback.handler.class=org.apache.kafka.common.security.oauthbearer.OAuthBearerValidatorCallbackHandler
# No JAAS options: with none, the broker's own login makes no token (it never connects as a
# client through this listener).
listener.name.oauth.oauthbearer.sasl.jaas.config=org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required;
# Named explicitly: the default validator falls back to one that checks no signature when it
# does not find a JWKS URL; this one fails to start instead.
sasl.oauthbearer.jwt.validator.class=org.apache.kafka.common.security.oauthbearer.BrokerJwtValidator
sasl.oauthbearer.jwks.endpoint.url=$KAFKA_OAUTH_JWKS_URL
sasl.oauthbearer.jwks.endpoint.refresh.ms=$KAFKA_OAUTH_JWKS_REFRESH_MS
sasl.oauthbearer.expected.issuer=$KAFKA_OAUTH_ISSUER
sasl.oauthbearer.expected.audience=$KAFKA_OAUTH_AUDIENCE
sasl.oauthbearer.sub.claim.name=sub
# A SASL session ends at the token's exp (or after this long): the client must re-authenticate.
connections.max.reauth.ms=$KAFKA_REAUTH_MS

authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
allow.everyone.if.no.acl.found=false
super.users=User:admin;User:kafka
PROPS
  } >>"$KAFKA_RUN_DIR/server.properties"
}

# KEY=value lines: what a client of the secure broker needs (eval-able).
print_env() {
  cat <<ENV
KAFKA_BOOTSTRAP_SERVERS=$BOOTSTRAP
KAFKA_ADMIN_BOOTSTRAP_SERVERS=$ADMIN_BOOTSTRAP
KAFKA_CA_LOCATION=$PKI_DIR/ca.crt
KAFKA_ADMIN_CERT_LOCATION=$PKI_DIR/admin/client.crt
KAFKA_ADMIN_KEY_LOCATION=$PKI_DIR/admin/client.key
KAFKA_ADMIN_CONFIG=$ADMIN_CONFIG
ENV
}

# Prints how to reach the broker: the bootstrap address, or in secure mode the env block.
print_ready() {
  if secure; then
    log "OAUTH (SASL_SSL, OAUTHBEARER) on $BOOTSTRAP: iss $KAFKA_OAUTH_ISSUER, aud $KAFKA_OAUTH_AUDIENCE, JWKS $KAFKA_OAUTH_JWKS_URL"
    log "ADMIN (SSL, client certificate CN=admin) on $ADMIN_BOOTSTRAP"
    print_env
  else
    echo "$BOOTSTRAP"
  fi
}

start() {
  if secure; then
    check_secure_settings
  fi
  fetch
  if secure; then
    prepare_tls
  fi
  # Ours (pid file) or another one on this port: either way a broker is there to use.
  if already_running broker "$BOOTSTRAP" answers_metadata; then
    print_ready
    return 0
  fi
  if secure; then
    wait_for_jwks
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
  local jvm_opts=()
  if secure; then
    # Kafka fetches no OAuth URL that is not listed here (KIP-1139 allow-list).
    jvm_opts+=("-Dorg.apache.kafka.sasl.oauthbearer.allowed.urls=$KAFKA_OAUTH_JWKS_URL"
      "-Djavax.net.ssl.trustStore=$TLS_DIR/jvm-truststore.p12" -Djavax.net.ssl.trustStoreType=PKCS12
      "-Djavax.net.ssl.trustStorePassword=$TRUSTSTORE_PASSWORD")
  fi
  log "starting $KAFKA_SECURITY broker on $BOOTSTRAP (logs: $KAFKA_RUN_DIR/server.log)"
  local started=$SECONDS
  start_detached "$KAFKA_RUN_DIR/server.log" java -Xms256m -Xmx1g -XX:+UseG1GC "${jvm_opts[@]}" \
    -Dlog4j2.configurationFile="$KAFKA_RUN_DIR/log4j2.properties" \
    -cp "$(classpath)" kafka.Kafka "$KAFKA_RUN_DIR/server.properties"
  # Each probe past the port check starts a JVM: poll once a second, leaving the cores to
  # the starting broker.
  await_ready broker "$KAFKA_RUN_DIR/server.log" "$KAFKA_START_TIMEOUT" 1 answers_metadata
  log "broker ready on $BOOTSTRAP after $((SECONDS - started))s"
  print_ready
}

# The admin helper (scripts/kafka/SecureAdmin.java), compiled once per Kafka version.
admin_tool() {
  local src="$ROOT/scripts/kafka/SecureAdmin.java" out="$KAFKA_CACHE_DIR/$KAFKA_VERSION-r2/tools"
  mkdir -p "$out"
  (
    flock 9
    if [[ ! -f "$out/SecureAdmin.class" || "$src" -nt "$out/SecureAdmin.class" ]]; then
      command -v javac >/dev/null || die "javac not found (a JDK is needed: apt-get install -y openjdk-17-jdk-headless)"
      local tmp
      tmp="$(mktemp -d "$out/.build.XXXXXX")"
      javac -nowarn -d "$tmp" -cp "$(classpath)" "$src" || die "javac $src failed"
      mv -f "$tmp"/*.class "$out/"
      rmdir "$tmp"
    fi
  ) 9>"$out/.lock"
  java "${TOOL_JVM[@]}" -cp "$(classpath):$out" -Dlog4j2.configurationFile="$KAFKA_RUN_DIR/log4j2.properties" \
    SecureAdmin "$ADMIN_BOOTSTRAP" "$ADMIN_CONFIG" "$@"
}

# The event flow's ACLs for the given names, nothing more: the producer writes the event
# topic; the consumer reads it with its group, writes the DLQ and the retry topic and reads
# the retry topic. WRITE and READ imply DESCRIBE, and WRITE on a topic lets a producer be
# idempotent (InitProducerId, KIP-679): no cluster-wide permission is granted.
acl_grant() {
  local topic="" group="" dlq="" retry="" partitions=""
  while (($#)); do
    [[ $# -ge 2 ]] || die "acl-grant: $1 needs a value"
    case "$1" in
      --topic) topic="${2:-}"; shift 2 ;;
      --group) group="${2:-}"; shift 2 ;;
      --dlq) dlq="${2:-}"; shift 2 ;;
      --retry) retry="${2:-}"; shift 2 ;;
      --partitions) partitions="${2:-}"; shift 2 ;;
      *) die "acl-grant: unknown argument $1" ;;
    esac
  done
  [[ -n "$topic" && -n "$group" ]] || die "usage: kafka.sh acl-grant --topic T --group G [--dlq D] [--retry R] [--partitions N]"
  dlq="${dlq:-$topic.dlq}"
  retry="${retry:-$topic.retry}"
  local args=() t
  if [[ -n "$partitions" ]]; then
    for t in "$topic" "$dlq" "$retry"; do args+=(--topic "$t" "$partitions"); done
  fi
  local orders="$KAFKA_ORDERS_PRINCIPAL" payments="$KAFKA_PAYMENTS_PRINCIPAL"
  args+=(
    --allow "$orders" topic "$topic" write
    --allow "$payments" topic "$topic" read
    --allow "$payments" group "$group" read
    --allow "$payments" topic "$dlq" write
    --allow "$payments" topic "$retry" write
    --allow "$payments" topic "$retry" read
  )
  admin_tool grant "${args[@]}"
}

require_secure() {
  secure || die "$1 needs KAFKA_SECURITY=oauth"
  [[ -f "$ADMIN_CONFIG" ]] || die "no secure broker set up in $KAFKA_RUN_DIR (start it first)"
}

case "${1:-}" in
  fetch) fetch ;;
  start) start ;;
  stop) stop_server broker "port $KAFKA_PORT" ;;
  status) answers_metadata ;;
  bootstrap) if secure; then print_env; else echo "$BOOTSTRAP"; fi ;;
  env) require_secure env; print_env ;;
  acl-grant) require_secure acl-grant; shift; acl_grant "$@" ;;
  acl-list) require_secure acl-list; admin_tool list ;;
  *) usage ;;
esac
