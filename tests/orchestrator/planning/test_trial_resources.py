"""How trials ask Ray for a GPU share, and what they get.

Shares are rounded down to Ray's 0.0001 units, so n shares of 1/n never add up to more
than one GPU: with logical GPUs (`num_gpus=1` on a CPU machine), six trials at 1/6 of the
GPU run at once through Ray Tune, each seeing the GPU in CUDA_VISIBLE_DEVICES.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from orchestrator.planning.probe import choose_gpu_fraction
from orchestrator.spec.tables import Resources
from trainers.config.typed import ConfigError

GiB = 2**30
TRIALS = 6


def test_a_sixth_is_rounded_down_in_the_spec_and_by_the_probe() -> None:
    assert Resources(gpus_per_trial=1 / 6).gpus_per_trial == 0.1666
    assert Resources(gpus_per_trial=0.29).gpus_per_trial == 0.29  # 2899.99.. units: 2900
    assert Resources(gpus_per_trial=0.25).gpus_per_trial == 0.25
    assert Resources(gpus_per_trial=1).gpus_per_trial == 1
    assert choose_gpu_fraction(10 * GiB, 60 * GiB, 0.0) == 0.1666
    with pytest.raises(ConfigError, match="below Ray's smallest share"):
        Resources(gpus_per_trial=0.00005)


def test_deterministic_is_a_setting_that_reaches_the_trials(
        tiny_spec: Callable[..., Any], tmp_path: Path) -> None:
    from orchestrator.tune.runner import _param_space

    on_spec, off_spec = tiny_spec(), tiny_spec(resources={"deterministic": False})
    on = _param_space(on_spec, on_spec.cells(), tmp_path, tmp_path, None)
    off = _param_space(off_spec, off_spec.cells(), tmp_path, tmp_path, None)
    assert (on["deterministic"], off["deterministic"]) == (True, False)


def _waits_for_all(config: dict[str, Any]) -> None:
    """A trial that marks its start, then waits (up to 2 min) until every trial has
    started: all report TRIALS only if all ran at the same time."""
    import ray
    from ray import tune

    from trainers.training.device import set_determinism

    set_determinism(bool(config["deterministic"]))  # as `run_trial` starts
    marks = Path(config["experiment_dir"]) / "started"
    marks.mkdir(exist_ok=True)
    (marks / str(config["cell"]["seed"])).touch()
    deadline = time.monotonic() + 120
    while len(list(marks.iterdir())) < TRIALS and time.monotonic() < deadline:
        time.sleep(0.1)
    tune.report({"together": len(list(marks.iterdir())),
                 "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES", ""),
                 "gpu_ids": ",".join(str(i) for i in ray.get_gpu_ids()),
                 "cublas": os.environ.get("CUBLAS_WORKSPACE_CONFIG", "")})


def test_six_trials_at_a_sixth_of_one_gpu_run_at_once(
        tiny_spec: Callable[..., Any], tmp_path: Path, no_ray_left: None,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from ray import tune

    # Not inherited from this process: the trials set it themselves.
    monkeypatch.setenv("CUBLAS_WORKSPACE_CONFIG", "")
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG")
    from orchestrator.tune.ray_runtime import ray_session
    from orchestrator.tune.runner import _param_space

    spec = tiny_spec(experiment={"seeds": list(range(TRIALS))},
                     resources={"gpus_per_trial": 1 / TRIALS, "num_gpus": 1,
                                "num_cpus": TRIALS})
    share = spec.resources.gpus_per_trial
    assert share == 0.1666 and TRIALS * share <= 1
    space = _param_space(spec, spec.cells(), tmp_path, tmp_path, None, share)
    with ray_session(num_cpus=TRIALS, num_gpus=1, object_store_mb=80) as resources:
        assert resources["GPU"] == 1
        grid = tune.Tuner(
            tune.with_resources(_waits_for_all, {"cpu": 1, "gpu": share}),
            param_space=space,
            run_config=tune.RunConfig(name="tune", storage_path=str(tmp_path), verbose=0),
        ).fit()
    assert not [r.error for r in grid if r.error]
    rows = [r.metrics for r in grid]
    assert len(rows) == TRIALS
    assert [row["together"] for row in rows] == [TRIALS] * TRIALS
    assert {(row["cuda_visible_devices"], row["gpu_ids"]) for row in rows} == {("0", "0")}
    assert {row["cublas"] for row in rows} == {":4096:8"}
