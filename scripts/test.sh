#!/usr/bin/env bash
# Set up and run the test suite (slow fault-injection tests: add `-m slow`).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/setup-browser.sh
bash scripts/setup-mlflow-server.sh
bash scripts/setup-labelstudio.sh
. .venv/bin/activate
ruff check .
mypy
exec python -m pytest -q "$@"
