# shellcheck shell=bash
# Sourced (never run) by the scripts that fetch, start and stop local servers and make local
# files (kafka.sh, postgres.sh, jaeger.sh, pki.sh, test-kafka-security.sh): what they all
# need, written once.
#
#   ROOT                       the repository root
#   log MESSAGE, die MESSAGE   a line on stderr prefixed with the script's name; die exits 1
#   usage                      print the script's header comment (up to `set -euo`), exit 2
#   defaults NAME=VALUE...     each NAME keeps a non-empty value from the environment, else
#                              takes VALUE (expanded by the caller: a default made from
#                              another setting goes in a later call)
#   cache_defaults PREFIX NAME PORT TIMEOUT
#                              the settings every fetched server has: PREFIX_CACHE_DIR
#                              (default <repo>/.cache/NAME), PREFIX_RUN_DIR (default
#                              <cache>/run-PORT), PREFIX_START_TIMEOUT (default TIMEOUT
#                              seconds), and PID_FILE=<run dir>/NAME.pid
#
# A server started in the background is tracked by its pid file, $PID_FILE:
#   running_pid                print the pid when that process is alive, else fail
#   already_running WHAT WHERE PROBE...
#                              succeed (and say so) when PROBE succeeds: a server, ours or
#                              another one on this port, is there to use
#   start_detached LOG COMMAND...
#                              run COMMAND in its own session (it outlives the script and does
#                              not get the caller's Ctrl-C), output to LOG, pid to $PID_FILE
#   await_ready WHAT LOG TIMEOUT INTERVAL PROBE...
#                              poll PROBE every INTERVAL seconds until it succeeds; die with
#                              the end of LOG when the process exits or TIMEOUT seconds pass
#   stop_server WHAT WHERE     TERM, then KILL after 30 s; remove the pid file

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
SCRIPT_NAME="${BASH_SOURCE[1]##*/}"

log() { printf '%s: %s\n' "$SCRIPT_NAME" "$*" >&2; }
die() { log "error: $*"; exit 1; }
usage() { sed -n '2,/^set -euo/{/^#/p}' "${BASH_SOURCE[-1]}" >&2; exit 2; }

defaults() {
  local pair name
  for pair in "$@"; do
    name="${pair%%=*}"
    printf -v "$name" '%s' "${!name:-${pair#*=}}"
  done
}

cache_defaults() {
  local prefix="$1" name="$2" port="$3" timeout="$4"
  local cache="${prefix}_CACHE_DIR" run="${prefix}_RUN_DIR"
  defaults "$cache=$ROOT/.cache/$name" "${prefix}_START_TIMEOUT=$timeout"
  defaults "$run=${!cache}/run-$port"
  PID_FILE="${!run}/$name.pid"
}

running_pid() {
  [[ -f "$PID_FILE" ]] || return 1
  local pid
  pid="$(cat "$PID_FILE")"
  kill -0 "$pid" 2>/dev/null || return 1
  printf '%s' "$pid"
}

already_running() {
  local what="$1" where="$2" pid
  shift 2
  pid="$(running_pid || true)"
  "$@" || return 1
  log "$what already running on $where${pid:+ (pid $pid)}"
}

start_detached() {
  local log_file="$1"
  shift
  setsid "$@" >"$log_file" 2>&1 </dev/null &
  echo $! >"$PID_FILE"
}

await_ready() {
  local what="$1" log_file="$2" timeout="$3" interval="$4"
  shift 4
  local deadline=$((SECONDS + timeout))
  until "$@"; do
    if ! running_pid >/dev/null; then
      tail -n 40 "$log_file" >&2 || true
      die "$what exited during start-up"
    fi
    if ((SECONDS >= deadline)); then
      tail -n 40 "$log_file" >&2 || true
      die "$what did not answer within ${timeout}s"
    fi
    sleep "$interval"
  done
}

stop_server() {
  local what="$1" where="$2" pid
  if ! pid="$(running_pid)"; then
    log "no $what running for $where"
    rm -f "$PID_FILE"
    return 0
  fi
  log "stopping $what (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  local deadline=$((SECONDS + 30))
  while kill -0 "$pid" 2>/dev/null; do
    if ((SECONDS >= deadline)); then
      log "$what did not stop within 30s; killing"
      kill -KILL "$pid" 2>/dev/null || true
      break
    fi
    sleep 0.2
  done
  rm -f "$PID_FILE"
}
