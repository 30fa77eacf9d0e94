#!/usr/bin/env bash
# Installs what the build and tests need on a fresh machine, idempotently:
# a JDK + Maven (the Kafka broker fetched by scripts/kafka.sh and its admin helper, the Java
# client), Node.js + npm (the TypeScript client, which needs Node 20+), openssl and curl (the
# local PKI, the secure broker), buf (proto lint), and the Rust components fmt/clippy.
# Everything else comes from crates.io at build time.
set -euo pipefail

need_apt=()
# A JDK, not only a JRE: kafka.sh compiles its admin helper (scripts/kafka/SecureAdmin.java).
command -v javac >/dev/null || need_apt+=(openjdk-17-jdk-headless)
command -v mvn >/dev/null || need_apt+=(maven)
command -v make >/dev/null || need_apt+=(make)
command -v gcc >/dev/null || need_apt+=(gcc g++)
command -v python3 >/dev/null || need_apt+=(python3 python3-pip python3-venv)
command -v npm >/dev/null || need_apt+=(nodejs npm)
command -v openssl >/dev/null || need_apt+=(openssl)
command -v curl >/dev/null || need_apt+=(curl)
if ((${#need_apt[@]})); then
  echo "install-tools: apt-get install ${need_apt[*]}"
  SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}"
fi

rustup component add rustfmt clippy >/dev/null 2>&1 || true

# buf: the prebuilt binary from PyPI (buf-bin), pinned.
BUF_VERSION=1.75.0
if ! command -v buf >/dev/null || [[ "$(buf --version 2>/dev/null)" != "$BUF_VERSION" ]]; then
  python3 -m pip install --quiet --disable-pip-version-check "buf-bin==$BUF_VERSION"
fi

# The Kafka broker jars (cached under .cache/kafka).
"$(dirname "${BASH_SOURCE[0]}")/kafka.sh" fetch
