#!/usr/bin/env bash
# Set up and run the built-in quickstart experiment (tiny SCAF on synthetic faces).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/scaf-al run "$@"
