#!/usr/bin/env bash
# Install, start and stop a real PostgreSQL server on loopback for tests and the local stack.
#
# No Docker: the server comes from Debian's `postgresql` package (installed when missing; the
# package's own cluster is never used). This script runs its own cluster with `initdb` and
# `pg_ctl`, listening on 127.0.0.1 only, its unix socket in the run directory.
#
#   scripts/postgres.sh start          install if needed, initdb (once), start, wait, print the URL
#   scripts/postgres.sh stop           stop the cluster this checkout started on this port
#   scripts/postgres.sh status         exit 0 when the server accepts connections
#   scripts/postgres.sh url            print the admin URL (postgres://zte:zte@127.0.0.1:<port>/postgres)
#   scripts/postgres.sh createdb NAME  create database NAME owned by the project role (idempotent),
#                                      print its URL
#   scripts/postgres.sh destroy        stop, then delete this cluster's directory (all its data)
#
# The project role (default `zte`, password `zte`: a fixed local-only credential, loopback
# only) may log in and create databases, nothing more; tests connect with the admin URL and
# create a database per test. Durability settings stay at PostgreSQL's defaults (fsync,
# synchronous_commit and full_page_writes on): tests rely on crash safety.
#
# PostgreSQL refuses to run as root. Run as root (CI), the server runs as the system user
# `zte-postgres` (created on first use) and the cluster lives in
# /var/lib/zte-postgres/<checkout name>-<hash of its path>/run-<port> (the checkout may sit
# under a directory that user cannot enter); .cache/postgres/run-<port> links to it. Run as
# any other user, the server runs as that user and the cluster lives in
# .cache/postgres/run-<port>; that user needs sudo only if the package must be installed.
#
# Environment (all optional):
#   PG_PORT             TCP port on 127.0.0.1                      (default 15432)
#   PG_USER             project role                               (default zte)
#   PG_PASSWORD         its password                               (default zte)
#   PG_MAX_CONNECTIONS  max_connections                            (default 300)
#   PG_RUN_DIR          data, socket and log of this cluster       (default: see above)
#   PG_OS_USER          system user that runs the server as root   (default zte-postgres)
#   PG_BIN              directory of pg_ctl/initdb/psql            (default newest /usr/lib/postgresql/*/bin)
#   PG_START_TIMEOUT    seconds to wait for the server             (default 60)
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

defaults PG_PORT=15432 PG_USER=zte PG_PASSWORD=zte PG_MAX_CONNECTIONS=300 PG_OS_USER=zte-postgres \
  PG_START_TIMEOUT=60
PG_SYSTEM_HOME=/var/lib/zte-postgres
CACHE_LINK="$ROOT/.cache/postgres/run-$PG_PORT"
if [[ $(id -u) -eq 0 ]]; then
  AS_ROOT=1
  checkout_id="$(basename "$ROOT")-$(printf '%s' "$ROOT" | sha256sum | cut -c1-12)"
  PG_RUN_DIR="${PG_RUN_DIR:-$PG_SYSTEM_HOME/$checkout_id/run-$PG_PORT}"
else
  AS_ROOT=0
  PG_OS_USER="$(id -un)"
  PG_RUN_DIR="${PG_RUN_DIR:-$CACHE_LINK}"
fi
DATA_DIR="$PG_RUN_DIR/data"
SOCKET_DIR="$PG_RUN_DIR/socket"
LOG_FILE="$PG_RUN_DIR/postgres.log"
# The bootstrap superuser is named after the OS user that runs the server, so the script
# reaches it through the unix socket with peer authentication and no password.
SUPERUSER="$PG_OS_USER"
ADMIN_URL="postgres://$PG_USER:$PG_PASSWORD@127.0.0.1:$PG_PORT/postgres"

[[ "$PG_USER$PG_PASSWORD" =~ ^[A-Za-z0-9._~-]+$ ]] \
  || die "PG_USER and PG_PASSWORD may use only A-Z a-z 0-9 . _ ~ - (they go into a URL as is)"

# Runs a command as the OS user that owns the cluster, from / (the caller's directory may
# be closed to that user).
as_pg() {
  if ((AS_ROOT)); then
    (cd / && runuser -u "$PG_OS_USER" -- "$@")
  else
    (cd / && "$@")
  fi
}

# The bin directory of the newest installed server, or of the version the cluster was made by.
bin_dir() {
  if [[ -n "${PG_BIN:-}" ]]; then
    printf '%s' "$PG_BIN"
    return 0
  fi
  local version dir
  if version="$(cat "$DATA_DIR/PG_VERSION" 2>/dev/null)" \
    && [[ -x "/usr/lib/postgresql/$version/bin/pg_ctl" ]]; then
    printf '%s' "/usr/lib/postgresql/$version/bin"
    return 0
  fi
  dir="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
  [[ -n "$dir" && -x "$dir/pg_ctl" ]] || return 1
  printf '%s' "$dir"
}

online_clusters() {
  command -v pg_lsclusters >/dev/null || return 0
  pg_lsclusters -h 2>/dev/null | awk '$4 == "online" { print $1 "/" $2 }'
}

install_server() {
  if bin_dir >/dev/null; then
    return 0
  fi
  local sudo=()
  if ((!AS_ROOT)); then
    command -v sudo >/dev/null || die "PostgreSQL is not installed and sudo is missing (as root: apt-get install -y postgresql)"
    sudo=(sudo)
  fi
  log "installing PostgreSQL from Debian's packages (apt-get install -y postgresql)"
  local before
  before="$(online_clusters)"
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
  bin_dir >/dev/null || die "apt-get installed postgresql but no /usr/lib/postgresql/*/bin/pg_ctl"
  # Where services may start (systemd), the package creates and starts its own cluster on
  # 5432. This script never uses it: stop what the install just started and keep it from
  # starting at boot. A cluster that was running before is left alone.
  local cluster
  for cluster in $(online_clusters); do
    grep -qxF "$cluster" <<<"$before" && continue
    log "stopping the package's own cluster $cluster (start.conf set to manual)"
    "${sudo[@]}" pg_ctlcluster "${cluster%/*}" "${cluster#*/}" stop || true
    echo manual | "${sudo[@]}" tee "/etc/postgresql/$cluster/start.conf" >/dev/null || true
  done
}

ensure_os_user() {
  ((AS_ROOT)) || return 0
  if ! id -u "$PG_OS_USER" >/dev/null 2>&1; then
    log "creating system user $PG_OS_USER"
    useradd --system --user-group --home-dir "$PG_SYSTEM_HOME" --no-create-home \
      --shell /usr/sbin/nologin --comment "PostgreSQL for local tests" "$PG_OS_USER"
  fi
  mkdir -p "$PG_RUN_DIR"
  chown "$PG_OS_USER:" "$PG_RUN_DIR"
  if [[ "$PG_RUN_DIR" == "$PG_SYSTEM_HOME"/* ]]; then
    chown "$PG_OS_USER:" "$PG_SYSTEM_HOME"
    chmod 0750 "$PG_SYSTEM_HOME"
  fi
  as_pg test -w "$PG_RUN_DIR" \
    || die "$PG_OS_USER cannot write $PG_RUN_DIR (a parent directory is closed to it); choose another PG_RUN_DIR"
}

accepts_connections() {
  local bin
  bin="$(bin_dir)" || return 1
  "$bin/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" -t 2
}

# True when the project role can log in with its password.
can_log_in() {
  PGCONNECT_TIMEOUT=5 "$(bin_dir)/psql" -X -q -t -A -c 'select 1' "$ADMIN_URL" >/dev/null 2>&1
}

# Our cluster is running when its postmaster.pid names a live server for this data dir.
ours_running() {
  [[ -f "$DATA_DIR/postmaster.pid" ]] && as_pg "$(bin_dir)/pg_ctl" status -D "$DATA_DIR" >/dev/null 2>&1
}

superuser_psql() {
  as_pg "$(bin_dir)/psql" -X -q -v ON_ERROR_STOP=1 -h "$SOCKET_DIR" -p "$PG_PORT" \
    -U "$SUPERUSER" -d postgres "$@"
}

# The project role: may log in and create databases (each test makes its own), nothing more.
ensure_role() {
  superuser_psql -v role="$PG_USER" -v password="$PG_PASSWORD" >/dev/null <<'SQL'
SELECT format('CREATE ROLE %I', :'role')
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'role') \gexec
ALTER ROLE :"role" WITH LOGIN CREATEDB NOSUPERUSER NOCREATEROLE PASSWORD :'password';
SQL
}

init_cluster() {
  [[ -f "$DATA_DIR/PG_VERSION" ]] && return 0
  local bin
  bin="$(bin_dir)"
  log "initialising a PostgreSQL $("$bin/pg_ctl" --version | awk '{print $3}') cluster in $DATA_DIR"
  as_pg rm -rf "$DATA_DIR"
  as_pg "$bin/initdb" -D "$DATA_DIR" -U "$SUPERUSER" --encoding=UTF8 --no-locale \
    --auth-local=peer --auth-host=scram-sha-256 >"$PG_RUN_DIR/initdb.log" 2>&1 \
    || { cat "$PG_RUN_DIR/initdb.log" >&2; die "initdb failed"; }
  printf "include_if_exists = 'zte.conf'\n" | as_pg tee -a "$DATA_DIR/postgresql.conf" >/dev/null
}

write_config() {
  as_pg mkdir -p "$SOCKET_DIR"
  as_pg chmod 0700 "$SOCKET_DIR"
  as_pg tee "$DATA_DIR/zte.conf" >/dev/null <<CONF
# Written by scripts/postgres.sh on every start.
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$SOCKET_DIR'
max_connections = $PG_MAX_CONNECTIONS
password_encryption = scram-sha-256
# Durability stays on: tests kill servers and rely on committed data surviving.
fsync = on
synchronous_commit = on
full_page_writes = on
CONF
}

# Starts the server and waits, with a deadline, until it accepts connections. A postmaster
# that is still starting (crash recovery) or still exiting (killed a moment ago: its pid
# stays alive until it is reaped) is waited for; a start refused because the old server's
# processes have not all gone yet is retried.
run_server() {
  local deadline=$((SECONDS + PG_START_TIMEOUT)) started=0
  until accepts_connections; do
    if ((SECONDS >= deadline)); then
      tail -n 40 "$LOG_FILE" >&2 || true
      die "PostgreSQL did not accept connections within ${PG_START_TIMEOUT}s"
    fi
    if ! ours_running; then
      ((started)) || log "starting PostgreSQL on 127.0.0.1:$PG_PORT (log: $LOG_FILE)"
      started=1
      # 9>&-: the server must not inherit (and hold for ever) the lock taken in with_lock.
      as_pg "$(bin_dir)/pg_ctl" start -D "$DATA_DIR" -l "$LOG_FILE" -w \
        -t $((deadline - SECONDS > 0 ? deadline - SECONDS : 1)) -s 9>&- >/dev/null 2>&1 \
        || log "pg_ctl start did not succeed yet; retrying until the deadline"
    fi
    sleep 0.2
  done
}

start() {
  install_server
  local url_link=""
  if accepts_connections; then
    if can_log_in; then
      log "server already running on 127.0.0.1:$PG_PORT$(ours_running && echo " ($DATA_DIR)")"
      echo "$ADMIN_URL"
      return 0
    fi
    ours_running || die "a server on 127.0.0.1:$PG_PORT refuses $PG_USER's password; it is not this checkout's cluster (choose another PG_PORT)"
  fi
  ensure_os_user
  mkdir -p "$PG_RUN_DIR"
  # A socket path longer than the kernel's limit (107 bytes) cannot be created.
  ((${#SOCKET_DIR} <= 90)) || die "socket directory path too long: $SOCKET_DIR (set PG_RUN_DIR to a shorter path)"
  init_cluster
  write_config
  run_server
  ensure_role
  if [[ "$PG_RUN_DIR" != "$CACHE_LINK" ]]; then
    mkdir -p "$(dirname "$CACHE_LINK")"
    ln -sfn "$PG_RUN_DIR" "$CACHE_LINK"
    url_link=" (linked from .cache/postgres/run-$PG_PORT)"
  fi
  can_log_in || die "server started but $PG_USER cannot log in (see $LOG_FILE)"
  log "PostgreSQL ready on 127.0.0.1:$PG_PORT, cluster in $PG_RUN_DIR$url_link"
  echo "$ADMIN_URL"
}

stop() {
  if ! bin_dir >/dev/null || ! ours_running; then
    log "no cluster of this checkout running for port $PG_PORT"
    return 0
  fi
  log "stopping PostgreSQL ($DATA_DIR)"
  as_pg "$(bin_dir)/pg_ctl" stop -D "$DATA_DIR" -m fast -w -t 60 -s
}

destroy() {
  stop
  log "deleting $PG_RUN_DIR"
  rm -rf "$PG_RUN_DIR"
  if [[ -L "$CACHE_LINK" ]]; then
    rm -f "$CACHE_LINK"
  fi
}

createdb() {
  local name="${1:-}"
  [[ "$name" =~ ^[A-Za-z_][A-Za-z0-9_]{0,62}$ ]] \
    || die "createdb NAME: NAME must match [A-Za-z_][A-Za-z0-9_]* (at most 63 characters)"
  can_log_in || die "no server accepting $PG_USER on 127.0.0.1:$PG_PORT (run: scripts/postgres.sh start)"
  PGCONNECT_TIMEOUT=5 "$(bin_dir)/psql" -X -q -v ON_ERROR_STOP=1 -v db="$name" "$ADMIN_URL" >/dev/null <<'SQL'
SELECT format('CREATE DATABASE %I', :'db')
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'db') \gexec
SQL
  echo "postgres://$PG_USER:$PG_PASSWORD@127.0.0.1:$PG_PORT/$name"
}

# Serialise start/stop/destroy of one cluster (parallel test binaries may all call start).
with_lock() {
  local lock="$PG_RUN_DIR.lock"
  mkdir -p "$(dirname "$lock")"
  exec 9>"$lock"
  flock -w "$PG_START_TIMEOUT" 9 || die "another postgres.sh holds $lock"
  "$@"
}

case "${1:-}" in
  start) with_lock start ;;
  stop) with_lock stop ;;
  destroy) with_lock destroy ;;
  status) accepts_connections ;;
  url) echo "$ADMIN_URL" ;;
  createdb) createdb "${2:-}" ;;
  *) usage ;;
esac
