"""Run an experiment spec on Ray Tune, and resume one whose driver died (the folder's layout:
:mod:`orchestrator.experiment_folder`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orchestrator.experiment_folder import TUNE_DIR, ExperimentFolder, default_cache_dir
from orchestrator.preflight import preflight
from orchestrator.spec import ExperimentSpec


@dataclass
class RunOutcome:
    experiment_dir: Path
    trials: int
    errors: list[str]


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




def run_experiment(
    spec: ExperimentSpec,
    exp_dir: Path,
    *,
    address: str | None = None,
    resume: bool = False,
    dashboard: bool = True,
    plain: bool = False,
    interval: float = 30.0,
    faults: dict | None = None,
    expose: bool = False,
    log: Any = print,
) -> RunOutcome:
    """Run every cell of `spec` as a Tune trial, or resume the experiment in `exp_dir`."""
    from ray import tune

    from orchestrator.dashboard import Dashboard
    from orchestrator.ray_runtime import ray_session

    exp_dir = exp_dir.resolve()
    folder = ExperimentFolder(exp_dir)
    cache = default_cache_dir(spec)
    if not resume:
        folder.refuse_existing()  # before any work
    # Everything that can be checked or computed once is, before the folder and the
    # trials exist: paths, budgets vs the pool, the auto-encoder (fits every
    # architecture?), caches; on a cluster, what the driver can see.
    preflight(spec, cache, address=address, log=log)
    if not resume:
        ExperimentFolder.create(exp_dir, spec)
    callbacks = [Dashboard(str(exp_dir), force_plain=plain, interval=interval)] if dashboard else []
    trainable = _trainable(spec)
    r = spec.resources
    with ray_session(address, num_cpus=r.num_cpus, num_gpus=r.num_gpus,
                     object_store_mb=r.object_store_mb, expose=expose):
        if resume and tune.Tuner.can_restore(str(folder.tune_dir)):
            tuner = tune.Tuner.restore(str(folder.tune_dir), trainable=trainable,
                                       resume_unfinished=True, resume_errored=True)
        else:
            tuner = tune.Tuner(
                trainable,
                param_space=_param_space(spec, exp_dir, cache, faults),
                tune_config=tune.TuneConfig(
                    max_concurrent_trials=r.max_concurrent_trials or None,
                    trial_dirname_creator=_trial_dirname,
                    # A worker process runs trial after trial: imports, torch start-up and
                    # the loaded data (memoised by content) are paid once per worker.
                    reuse_actors=True,
                ),
                run_config=tune.RunConfig(
                    name=TUNE_DIR,
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
