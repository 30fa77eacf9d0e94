#!/usr/bin/env bash
# Tests the Python client: a virtualenv under the repository's .cache/ (git-ignored), the
# pinned requirements, code generation from proto/, then pytest. The hash-vector tests always
# run; test_full_flow.py runs only with ZTE_STACK=1 against the local stack (scripts/demo.sh).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
VENV="${ZTE_PY_VENV:-$ROOT/.cache/python-client/venv}"

if [[ ! -x "$VENV/bin/python" ]]; then
  python3 -m venv "$VENV"
fi
# Re-install only when the pins changed (keeps repeated runs fast and offline).
stamp="$VENV/.requirements.sha256"
want="$(sha256sum "$HERE/requirements.txt" "$HERE/pyproject.toml" | sha256sum | cut -d' ' -f1)"
if [[ "$(cat "$stamp" 2>/dev/null)" != "$want" ]]; then
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$HERE/requirements.txt"
  echo "$want" > "$stamp"
fi

PYTHON="$VENV/bin/python" "$HERE/generate.sh"

cd "$HERE"
set +e
"$VENV/bin/python" -m pytest -p no:cacheprovider "$@"
status=$?
set -e
# pytest exits 5 when it collected no tests: that is a failure here, never a pass.
if [[ $status -eq 5 ]]; then
  echo "python client: pytest collected no tests" >&2
  exit 1
fi
exit "$status"
