"""Run an experiment spec on Ray Tune, and resume one whose driver died.

Experiment folder:
    spec.toml          the spec as run (resume reads it back)
    experiment.json    name, cells (id + config), creation time
    results/           the Parquet result store (rounds, selections)
    tune/              Ray Tune's own state (trial checkpoints, experiment state)
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import tomli_w

from orchestrator.preflight import preflight, warm_caches  # noqa: F401 - public here too
from orchestrator.spec import ExperimentSpec, SpecError, parse_spec

TUNE_NAME = "tune"


class ExperimentExistsError(RuntimeError):
    """The output folder already holds an experiment."""


@dataclass
class RunOutcome:
    experiment_dir: Path
    trials: int
    errors: list[str]


def default_cache_dir(spec: ExperimentSpec) -> Path:
    if spec.cache_dir:
        return Path(spec.cache_dir).expanduser().resolve()
    env = os.environ.get("SCAF_AL_CACHE")
    return Path(env).expanduser().resolve() if env else Path.home() / ".cache" / "scaf-al"


def _trial_dirname(trial: Any) -> str:
    return str(trial.trial_id)


def _trainable(spec: ExperimentSpec) -> Any:
    from ray import tune

    from orchestrator.trainable import run_trial

    res = {"cpu": spec.resources.cpus_per_trial, "gpu": spec.resources.gpus_per_trial}
    return tune.with_resources(run_trial, res)


def _param_space(spec: ExperimentSpec, exp_dir: Path, cache: Path, faults: dict | None) -> dict:
    from ray import tune

    device = spec.resources.device
    if device == "auto" and spec.resources.gpus_per_trial == 0:
        device = "cpu"
    return {
        "cell": tune.grid_search([c.to_dict() for c in spec.cells()]),
        "experiment": spec.name,
        "experiment_dir": str(exp_dir),
        "cache_dir": str(cache),
        "threads": max(1, int(spec.resources.cpus_per_trial)),
        "device": device,
        "faults": faults or {},
    }


def prepare_folder(spec: ExperimentSpec, exp_dir: Path) -> None:
    """Create the experiment folder; refuse one that already holds an experiment."""
    if (exp_dir / "experiment.json").exists():
        raise ExperimentExistsError(
            f"{exp_dir} already holds an experiment; continue it with "
            f"`scaf-al resume {exp_dir}` or choose another --out"
        )
    exp_dir.mkdir(parents=True, exist_ok=True)
    (exp_dir / "spec.toml").write_text(tomli_w.dumps(spec.raw))
    info = {
        "name": spec.name,
        "created": datetime.now(UTC).isoformat(),
        "cells": [{"cell_id": c.cell_id(), "config": c.to_dict()} for c in spec.cells()],
        "rounds_per_cell": {c.cell_id(): len(c.budget.sizes) for c in spec.cells()},
    }
    tmp = exp_dir / ".experiment.json.tmp"
    tmp.write_text(json.dumps(info, indent=1))
    os.replace(tmp, exp_dir / "experiment.json")


def read_spec(exp_dir: Path) -> ExperimentSpec:
    import tomllib

    f = exp_dir / "spec.toml"
    if not f.is_file():
        raise SpecError("experiment", f"{exp_dir} is not an experiment folder (no spec.toml)")
    return parse_spec(tomllib.loads(f.read_text()), str(f))


def run_experiment(
    spec: ExperimentSpec,
    exp_dir: Path,
    *,
    address: str | None = None,
    resume: bool = False,
    dashboard: bool = True,
    plain: bool = False,
    faults: dict | None = None,
    expose: bool = False,
    log: Any = print,
) -> RunOutcome:
    """Run every cell of `spec` as a Tune trial, or resume the experiment in `exp_dir`."""
    from ray import tune

    from orchestrator.dashboard import Dashboard
    from orchestrator.ray_runtime import ray_session

    exp_dir = exp_dir.resolve()
    cache = default_cache_dir(spec)
    tune_dir = exp_dir / TUNE_NAME
    if not resume and (exp_dir / "experiment.json").exists():
        prepare_folder(spec, exp_dir)  # raises ExperimentExistsError, before any work
    # Everything that can be checked or computed once is, before the folder and the
    # trials exist: paths, budgets vs the pool, the auto-encoder (fits every
    # architecture?), caches; on a cluster, what the driver can see.
    preflight(spec, cache, address=address, log=log)
    if not resume:
        prepare_folder(spec, exp_dir)
    callbacks = [Dashboard(str(exp_dir), force_plain=plain)] if dashboard else []
    trainable = _trainable(spec)
    r = spec.resources
    with ray_session(address, num_cpus=r.num_cpus, num_gpus=r.num_gpus,
                     object_store_mb=r.object_store_mb, expose=expose):
        if resume and tune.Tuner.can_restore(str(tune_dir)):
            tuner = tune.Tuner.restore(str(tune_dir), trainable=trainable,
                                       resume_unfinished=True, resume_errored=True)
        else:
            tuner = tune.Tuner(
                trainable,
                param_space=_param_space(spec, exp_dir, cache, faults),
                tune_config=tune.TuneConfig(
                    max_concurrent_trials=r.max_concurrent_trials or None,
                    trial_dirname_creator=_trial_dirname,
                ),
                run_config=tune.RunConfig(
                    name=TUNE_NAME,
                    storage_path=str(exp_dir),
                    verbose=0,
                    callbacks=callbacks,
                    failure_config=tune.FailureConfig(max_failures=r.max_failures),
                    checkpoint_config=tune.CheckpointConfig(num_to_keep=2),
                    log_to_file=True,
                ),
            )
        grid = tuner.fit()
    errors = [f"{res.path}: {str(res.error).splitlines()[0]}" for res in grid if res.error]
    return RunOutcome(exp_dir, len(grid), errors)
