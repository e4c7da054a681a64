#!/usr/bin/env bash
# Create .venv (if missing) and install scaf-al into it.
# torch: torch==2.13.0 unless a torch is already importable in .venv (the CPU build where
# it lies on disk, as on this project's machines); install your own build into .venv first
# to choose CPU or CUDA, and this keeps it.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
. .venv/bin/activate
# Installed already from this very pyproject.toml and setup script (and importable): done.
STAMP=.venv/.scaf-al-setup
WANT=$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -d' ' -f1)
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$WANT" ] \
   && python -c "import torch, orchestrator.cli" >/dev/null 2>&1; then
  exit 0
fi
python -m pip install -q --upgrade pip >/dev/null
if ! python -c "import torch" >/dev/null 2>&1; then
  python -m pip install -q "torch==2.13.0"
fi
python -m pip install -q -e ".[dev,export,serve,tracking,detect]"
echo "$WANT" > "$STAMP"
