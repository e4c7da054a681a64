"""Run an experiment spec on Ray Tune, and resume one whose driver died (the folder's layout:
:mod:`orchestrator.results.experiment_folder`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orchestrator.results.experiment_folder import TUNE_DIR, ExperimentFolder, default_cache_dir
from orchestrator.spec.experiment import ExperimentSpec, SpecError
from orchestrator.tune.preflight import preflight


@dataclass
class RunOutcome:
    experiment_dir: Path
    trials: int
    errors: list[str]


def _trial_dirname(trial: Any) -> str:
    return str(trial.trial_id)


def _trainable(spec: ExperimentSpec, gpus: float | None = None) -> Any:
    from ray import tune

    from orchestrator.tune.trainable import run_trial

    gpu = spec.resources.gpus_per_trial if gpus is None else gpus
    if isinstance(gpu, str):
        raise ValueError(f'gpus_per_trial = "{gpu}": pass the share gpus_per_trial() resolved')
    return tune.with_resources(run_trial, {"cpu": spec.resources.cpus_per_trial, "gpu": gpu})


def gpus_per_trial(spec: ExperimentSpec, folder: ExperimentFolder) -> float:
    """The GPU share of one trial: the spec's number, or for "auto" what a probe on a GPU
    picks (recorded in the folder, and read back from it on resume). Needs Ray running.

    Raises:
        ValueError: "auto" on a cluster without GPUs, or a trial that fits no GPU.
    """
    import ray
    import torch

    from orchestrator.planning.probe import auto_gpu_fraction

    if spec.resources.gpus_per_trial != "auto":
        return float(spec.resources.gpus_per_trial)
    recorded = folder.recorded_resources()
    if recorded is not None:
        return float(recorded["gpus_per_trial"])
    if torch.cuda.is_available():
        fraction, probe = auto_gpu_fraction(spec)
    elif ray.cluster_resources().get("GPU", 0) >= 1:
        fraction, probe = ray.get(ray.remote(num_gpus=1)(auto_gpu_fraction).remote(spec))
    else:
        raise ValueError('resources.gpus_per_trial = "auto" needs a GPU to probe on; this '
                         "Ray cluster has none (give a fraction, or 0 for CPU trials)")
    folder.record_resources({"gpus_per_trial": fraction, "probe": probe})
    return fraction


def _check_auto_gpus(spec: ExperimentSpec, address: str | None) -> None:
    """A local run with `gpus_per_trial = "auto"` needs a GPU here (refused before the
    folder exists; on a cluster the GPUs are counted once Ray is joined)."""
    import torch

    if spec.resources.gpus_per_trial == "auto" and address is None \
            and not torch.cuda.is_available():
        raise SpecError("resources.gpus_per_trial", '"auto" needs a GPU to probe on; this '
                        "machine has none (give a fraction, or 0 for CPU trials)")


def _param_space(spec: ExperimentSpec, exp_dir: Path, cache: Path, faults: dict | None,
                 gpus: float | None = None) -> dict:
    from ray import tune

    device = spec.resources.device
    if device == "auto" and (spec.resources.gpus_per_trial if gpus is None else gpus) == 0:
        device = "cpu"
    return {
        "cell": tune.grid_search([c.to_dict() for c in spec.cells()]),
        "experiment": spec.name,
        "experiment_dir": str(exp_dir),
        "cache_dir": str(cache),
        "threads": max(1, int(spec.resources.cpus_per_trial)),
        "device": device,
        "deterministic": spec.resources.deterministic,
        "faults": faults or {},
    }




def _tuner(spec: ExperimentSpec, folder: ExperimentFolder, cache: Path, *, resume: bool,
           callbacks: list, faults: dict | None) -> Any:
    """Tune's tuner for the grid: restored from the folder when resuming (and Tune has state
    there), else new. Needs Ray running."""
    from ray import tune

    gpus = gpus_per_trial(spec, folder)
    trainable = _trainable(spec, gpus)
    if resume and tune.Tuner.can_restore(str(folder.tune_dir)):
        return tune.Tuner.restore(str(folder.tune_dir), trainable=trainable,
                                  resume_unfinished=True, resume_errored=True)
    r = spec.resources
    return tune.Tuner(
        trainable,
        param_space=_param_space(spec, folder.path, cache, faults, gpus),
        tune_config=tune.TuneConfig(
            max_concurrent_trials=r.max_concurrent_trials or None,
            trial_dirname_creator=_trial_dirname,
            # A worker process runs trial after trial: imports, torch start-up and the
            # loaded data (memoised by content) are paid once per worker.
            reuse_actors=True,
        ),
        run_config=tune.RunConfig(
            name=TUNE_DIR,
            storage_path=str(folder.path),
            verbose=0,
            callbacks=callbacks,
            failure_config=tune.FailureConfig(max_failures=r.max_failures),
            checkpoint_config=tune.CheckpointConfig(num_to_keep=2),
            log_to_file=True,
        ),
    )


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
    from orchestrator.tune.dashboard import Dashboard
    from orchestrator.tune.ray_runtime import ray_session

    folder = ExperimentFolder(exp_dir.resolve())
    cache = default_cache_dir(spec)
    if not resume:
        folder.refuse_existing()  # before any work
    # Everything that can be checked or computed once is, before the folder and the
    # trials exist: paths, budgets vs the pool, the auto-encoder (fits every
    # architecture?), caches; on a cluster, what the driver can see.
    preflight(spec, cache, address=address, log=log)
    _check_auto_gpus(spec, address)
    if not resume:
        ExperimentFolder.create(folder.path, spec)
    callbacks = ([Dashboard(str(folder.path), force_plain=plain, interval=interval)]
                 if dashboard else [])
    r = spec.resources
    with ray_session(address, num_cpus=r.num_cpus, num_gpus=r.num_gpus,
                     object_store_mb=r.object_store_mb, expose=expose):
        grid = _tuner(spec, folder, cache, resume=resume, callbacks=callbacks,
                      faults=faults).fit()
    errors = [f"{res.path}: {str(res.error).splitlines()[0]}" for res in grid if res.error]
    return RunOutcome(folder.path, len(grid), errors)
