#!/usr/bin/env bash
# Mutation testing of the security checks with cargo-mutants: each mutant is one small bug put
# into a check (a `>` made `>=`, a `!` dropped, a function returning a constant); some test
# must then fail. Long (a build and a test run per mutant), so it is neither part of
# scripts/test.sh nor of CI: run it by hand after changing a check. README, "Mutation testing".
#
#   scripts/mutants.sh install           install the pinned cargo-mutants from crates.io
#   scripts/mutants.sh list SCOPE        list SCOPE's mutants (builds nothing)
#   scripts/mutants.sh run SCOPE [ARG..] build and test each of SCOPE's mutants; ARGs go to
#                                        cargo-mutants, e.g. --re 'total_minor' for some only
#
# SCOPE  mutated                                   tests run for each mutant
# event  shared/event/src (the consumer's checks)  zte-event
# auth   shared/auth/src/{validator,jws}.rs        zte-auth, zte-event
# grants services/identity/src/{grants,assertion}  identity
#
# Results: .cache/mutants/SCOPE/mutants.out/{caught,missed,unviable,timeout}.txt, and
# outcomes.json. The run is polite on a shared machine: niced, one mutant at a time, a test
# timeout per mutant (MUTANTS_TIMEOUT seconds, default 300) and a build timeout
# (MUTANTS_BUILD_TIMEOUT, default 900). It builds with the checkout's target/ (or
# CARGO_TARGET_DIR), so compiled dependencies are reused and only the mutated crates rebuild.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

CARGO_MUTANTS_VERSION=27.1.0

usage() { sed -n '2,/^set -euo/{/^#/p}' "$0" >&2; exit 2; }

install() {
  if [[ "$(cargo mutants --version 2>/dev/null)" != "cargo-mutants $CARGO_MUTANTS_VERSION" ]]; then
    cargo install --locked "cargo-mutants@$CARGO_MUTANTS_VERSION"
  fi
}

scope_args() {
  case "$1" in
    event) args=(--package zte-event --test-package zte-event) ;;
    auth)
      # jwks::tests time refreshes in milliseconds, which a niced run on a busy machine
      # misses (a false "caught"); they test the key cache, not these files.
      args=(--package zte-auth --file shared/auth/src/validator.rs --file shared/auth/src/jws.rs
        --test-package zte-auth --test-package zte-event
        --cargo-test-arg=-- --cargo-test-arg=--skip --cargo-test-arg=jwks::tests::)
      ;;
    grants)
      args=(--package identity --file 'services/identity/src/grants/*.rs'
        --file services/identity/src/assertion.rs --test-package identity)
      ;;
    *) usage ;;
  esac
}

command="${1:-}"
case "$command" in
  install) install ;;
  list)
    [[ $# -ge 2 ]] || usage
    install
    scope_args "$2"
    cargo mutants --list "${args[@]}" "${@:3}"
    ;;
  run)
    [[ $# -ge 2 ]] || usage
    install
    scope_args "$2"
    export CARGO_INCREMENTAL=0 CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
    mkdir -p ".cache/mutants/$2"
    # One mutant at a time: in a copy of the tree (--jobs 1), or, with MUTANTS_IN_PLACE=1, in
    # this checkout itself (faster: nothing but the mutated crates rebuilds; do not edit
    # while it runs, and check `git diff` if it was interrupted).
    where=(--jobs 1)
    [[ "${MUTANTS_IN_PLACE:-0}" == 1 ]] && where=(--in-place)
    nice -n 19 cargo mutants "${args[@]}" "${where[@]}" --no-shuffle \
      --timeout "${MUTANTS_TIMEOUT:-300}" --build-timeout "${MUTANTS_BUILD_TIMEOUT:-900}" \
      --output ".cache/mutants/$2" "${@:3}"
    ;;
  *) usage ;;
esac
