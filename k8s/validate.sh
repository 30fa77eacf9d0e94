#!/usr/bin/env bash
# Validates the Kubernetes manifests offline: renders the kustomize base and the demo overlay
# (kustomize installed with `go install`, pinned) and checks every resource against the Kubernetes JSON schemas
# bundled in the `kubernetes-validate` package (strict), the Strimzi KafkaTopic schema in
# k8s/schemas/, and the project's rules (validate.py), then proves the checks can fail
# (--self-test) for each rendering. kubeconform is not used because it downloads its
# schemas at run time. The environment variables the services read come from the binaries
# themselves (`<binary> --print-env`): the directory in ZTE_ENV_NAMES, or one written here by
# scripts/env-names.sh (which builds the binaries with cargo).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
KUSTOMIZE_VERSION=v5.7.1

export GOBIN="$ROOT/.cache/go-tools/bin"
export GOFLAGS="${GOFLAGS:--buildvcs=false}"
if [[ ! -x "$GOBIN/kustomize" || "$("$GOBIN/kustomize" version 2>/dev/null)" != "$KUSTOMIZE_VERSION" ]]; then
  go install "sigs.k8s.io/kustomize/kustomize/v5@$KUSTOMIZE_VERSION"
fi

VENV="$ROOT/.cache/k8s-validate/venv"
[[ -x "$VENV/bin/python" ]] || python3 -m venv "$VENV"
stamp="$VENV/.requirements.sha256"
want="$(sha256sum "$HERE/requirements.txt" | cut -d' ' -f1)"
if [[ "$(cat "$stamp" 2>/dev/null)" != "$want" ]]; then
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$HERE/requirements.txt"
  echo "$want" > "$stamp"
fi

rendered="$(mktemp)"
scratch="$(mktemp -d)"
trap 'rm -rf "$rendered" "$scratch"' EXIT
env_names="${ZTE_ENV_NAMES:-$("$ROOT/scripts/env-names.sh" "$scratch/env-names")}"
validate() { PYTHONDONTWRITEBYTECODE=1 "$VENV/bin/python" "$HERE/validate.py" --env-names "$env_names" "$@"; }

echo "k8s: k8s/base"
"$GOBIN/kustomize" build "$HERE/base" > "$rendered"
validate --self-test "$rendered"

echo "k8s: k8s/overlays/demo"
"$GOBIN/kustomize" build "$HERE/overlays/demo" > "$rendered"
grep -q 'IDENTITY_DEMO: "true"' "$rendered" || { echo "k8s: INVALID overlays/demo does not turn on IDENTITY_DEMO" >&2; exit 1; }
validate --self-test --demo-allowed "$rendered"
