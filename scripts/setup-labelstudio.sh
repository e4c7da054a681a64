#!/usr/bin/env bash
# Install Label Studio (a separate Django application with its own pinned dependencies) into
# .venv-labelstudio, for the tests that run `scaf-al serve` against a real Label Studio.
# Skips the install when the pinned version is already there.
set -euo pipefail
cd "$(dirname "$0")/.."
LS_VERSION=1.23.2
PY=${PYTHON_LABELSTUDIO:-python3.11}
if ! command -v "$PY" >/dev/null 2>&1; then PY=python3; fi
if [ -x .venv-labelstudio/bin/label-studio ] \
   && .venv-labelstudio/bin/python -m pip show label-studio 2>/dev/null \
      | grep -qx "Version: $LS_VERSION"; then
  exit 0
fi
echo "installing label-studio==$LS_VERSION into .venv-labelstudio (a few minutes)"
"$PY" -m venv .venv-labelstudio
.venv-labelstudio/bin/python -m pip install -q --upgrade pip >/dev/null
.venv-labelstudio/bin/python -m pip install -q "label-studio==$LS_VERSION"
