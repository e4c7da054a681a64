"""`scripts/gpu-check.sh` and its grid (benchmarks/gpu_check.py), on a machine without a
GPU: the script stops at once with one line, and its grid is a valid 4-trial spec."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.gpu_check import check_all_at_once, most_at_once, spec_doc
from orchestrator.planning.grid_plan import plan_grid
from orchestrator.spec.experiment import parse_spec

ROOT = Path(__file__).resolve().parents[3]


def test_without_a_gpu_the_script_fails_at_once_with_one_line(tmp_path: Path) -> None:
    out = tmp_path / "check"
    env = {**os.environ, "SCAF_AL_PYTHON": sys.executable, "GPU_CHECK_OUT": str(out)}
    done = subprocess.run(["bash", str(ROOT / "scripts" / "gpu-check.sh")], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert done.stdout == ""
    [line] = done.stderr.splitlines()
    assert line.startswith("gpu-check: no CUDA GPU visible to torch ")
    assert not out.exists()  # nothing written


def test_without_a_venv_it_says_to_run_setup(tmp_path: Path) -> None:
    env = {**os.environ, "SCAF_AL_PYTHON": str(tmp_path / "no-python")}
    done = subprocess.run(["bash", str(ROOT / "scripts" / "gpu-check.sh")], env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert done.stderr.strip().endswith("run 'bash scripts/setup.sh' first")


def test_the_grid_is_four_trials_sharing_one_gpu_in_bf16(tmp_path: Path) -> None:
    spec = parse_spec(spec_doc(tmp_path), "gpu-check")
    cells = spec.cells()
    assert len(cells) == 4 and len({c.acquisition.name for c in cells}) == 4
    r = spec.resources
    assert (r.gpus_per_trial, r.num_gpus, r.device, r.max_concurrent_trials) == (
        "auto", 1, "cuda", 4)
    assert spec.trainer.amp and spec.model.pretrain.mixed_precision
    assert Path(spec.cache_dir) == tmp_path / "cache"
    assert plan_grid(spec).totals.cells == 4


def test_most_at_once_known_answers() -> None:
    assert most_at_once([]) == 0
    assert most_at_once([(0, 1), (2, 3)]) == 1
    assert most_at_once([(0, 10), (1, 2), (1.5, 12), (11, 13)]) == 3
    assert most_at_once([(0, 1), (1, 2)]) == 1  # one ends as the next starts


def test_all_four_trials_must_have_run_at_once() -> None:
    check_all_at_once(4)
    for together in (1, 2, 3):
        with pytest.raises(AssertionError, match=rf"^only {together} of the 4 trials ran at "
                                                 "once; all 4 should share the GPU$"):
            check_all_at_once(together)
