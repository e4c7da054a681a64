#!/usr/bin/env bash
# The MLflow tracking server the tracking tests start (`mlflow server`, SQLite backend), in
# its own .venv-mlflow: the full server pins its own pyarrow and web stack, while scaf-al
# needs only the client (`scaf-al[tracking]`, mlflow-skinny). Same version as the client.
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION=3.17.2
PY=${PYTHON:-python3}
if [ -x .venv-mlflow/bin/mlflow ] && .venv-mlflow/bin/python -c \
    "import importlib.metadata as m, sys; sys.exit(m.version('mlflow') != '$VERSION')"; then
  exit 0
fi
"$PY" -m venv .venv-mlflow
.venv-mlflow/bin/python -m pip install -q --upgrade pip >/dev/null
.venv-mlflow/bin/python -m pip install -q "mlflow==$VERSION"
