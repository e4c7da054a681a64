#!/usr/bin/env bash
# The one prepared GPU check, under 8 minutes on one GPU, from the repo root
# after `bash scripts/setup.sh` (with a CUDA build of torch in .venv):
#   1. the CUDA path end to end: a tiny grid of 4 trials (NNM, entropy, flip, TTA) packed
#      on one GPU with bf16 autocast and gpus_per_trial = "auto": `scaf-al plan --probe`,
#      `scaf-al run`, then `python -m benchmarks.gpu_check verify` (benchmarks/gpu_check.py);
#   2. `python -m benchmarks.gpu --quick`, the figures for benchmarks/README.md.
# Everything lands in $GPU_CHECK_OUT (default gpu-check-<time>/): grid.toml, plan.json,
# experiment/, cuda_path.json, gpu.json, and the log of each step.
# Without a GPU it stops at once with one line (exit 1).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${SCAF_AL_PYTHON:-.venv/bin/python}
if [ ! -x "$PY" ]; then
  echo "gpu-check: $PY not found; run 'bash scripts/setup.sh' first" >&2
  exit 1
fi
if ! "$PY" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
  echo "gpu-check: no CUDA GPU visible to torch $("$PY" -c 'import torch; print(torch.__version__)' 2>/dev/null || echo '(not importable)'); nothing was checked" >&2
  exit 1
fi
OUT=${GPU_CHECK_OUT:-gpu-check-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
step() {  # step NAME COMMAND...: run it, stdout in $STDOUT (default the log), stderr in
          # $OUT/NAME.log; on failure, the log's tail and one line naming the step
  local name=$1
  shift
  echo "== $name ($(date +%T))"
  if ! "$@" >"${STDOUT:-$OUT/$name.log}" 2>>"$OUT/$name.log"; then
    tail -n 30 "$OUT/$name.log" >&2
    echo "gpu-check: step '$name' failed (log: $OUT/$name.log)" >&2
    exit 1
  fi
}
"$PY" -m benchmarks.gpu_check spec "$OUT"
STDOUT="$OUT/plan.json" step plan "$PY" -m orchestrator.cli plan "$OUT/grid.toml" --probe --json
step run "$PY" -m orchestrator.cli run "$OUT/grid.toml" --out "$OUT/experiment" --plain
step verify "$PY" -m benchmarks.gpu_check verify "$OUT"
cat "$OUT/verify.log"
step benchmarks "$PY" -m benchmarks.gpu --quick --require-gpu --out "$OUT/gpu.json"
cat "$OUT/benchmarks.log"
echo "gpu-check: passed in ${SECONDS}s; figures in $OUT/cuda_path.json and $OUT/gpu.json"
