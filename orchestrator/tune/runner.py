"""Run an experiment spec on Ray Tune, and resume one whose driver died (the folder's layout:
:mod:`orchestrator.results.experiment_folder`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orchestrator.progress import PLAIN_INTERVAL_S
from orchestrator.results.experiment_folder import (
    TUNE_DIR,
    ExperimentFolder,
    ProjectNotAGridError,
    default_cache_dir,
)
from orchestrator.results.extension import ExtensionPlan, record_extension
from orchestrator.results.folder_lock import driver_lock
from orchestrator.results.project_rounds import project_continuation
from orchestrator.spec.experiment import ExperimentSpec
from orchestrator.tracking.sync import check_clients
from orchestrator.tune.preflight import preflight
from trainers.config.cell import CellConfig


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


def gpus_per_trial(spec: ExperimentSpec, folder: ExperimentFolder | None
                   ) -> tuple[float, dict[str, Any] | None]:
    """The GPU share of one trial: the spec's number, or for "auto" what a probe on a GPU
    picks (read back from `folder` on resume). The probe runs in a Ray task on one GPU that
    exits after it (`max_calls=1`), so its CUDA memory is given back before the trials
    start and the driver never holds any. Needs Ray running.

    Returns:
        (the share, the probe's record to keep in the folder, or None when not probed now).

    Raises:
        ValueError: "auto" on a cluster without GPUs, or a trial that fits no GPU.
    """
    import ray

    from orchestrator.planning.probe import auto_gpu_fraction

    if spec.resources.gpus_per_trial != "auto":
        return float(spec.resources.gpus_per_trial), None
    recorded = folder.recorded_resources() if folder is not None else None
    if recorded is not None:
        return float(recorded["gpus_per_trial"]), None
    if ray.cluster_resources().get("GPU", 0) < 1:
        raise ValueError('resources.gpus_per_trial = "auto" needs a GPU to probe on; this '
                         "Ray cluster has none (give a fraction, or 0 for CPU trials)")
    task = ray.remote(num_gpus=1, num_cpus=spec.resources.cpus_per_trial,
                      max_calls=1)(auto_gpu_fraction)
    try:
        fraction, probe = ray.get(task.remote(spec))
    except ray.exceptions.RayTaskError as e:  # the probe's own error, as one line
        raise (e.cause if isinstance(e.cause, Exception) else e) from None
    return fraction, {"gpus_per_trial": fraction, "probe": probe}


def most_gpus_on_a_node() -> float:
    """The most GPUs any one live node of the connected Ray cluster has (a trial cannot
    span nodes). Needs Ray running."""
    import ray

    return max((float(n.get("Resources", {}).get("GPU", 0)) for n in ray.nodes()
                if n.get("Alive")), default=0.0)


def check_devices(spec: ExperimentSpec, address: str | None,
                  node_gpus: float | None = None) -> None:
    """`resources.device` and the GPU shares against where the trials run: this machine
    (before Ray starts; `torch.cuda.is_available` and `device_count` create no CUDA
    context) or, with `node_gpus` (:func:`most_gpus_on_a_node`), the cluster at `address`.

    Raises:
        SpecError: one line naming `resources.device` or `resources.gpus_per_trial`.
    """
    from orchestrator.spec.devices import check_gpus_available, check_trial_device

    r = spec.resources
    check_trial_device(r)
    if node_gpus is not None:
        check_gpus_available(r, f"the Ray cluster at {address}", cuda=node_gpus > 0,
                             gpus=int(node_gpus), ray_gpus=node_gpus, per_node=True)
    elif address is None:
        import torch

        cuda = torch.cuda.is_available()
        count = torch.cuda.device_count() if cuda else 0
        ray_gpus = r.num_gpus if r.num_gpus is not None else float(count)
        check_gpus_available(r, "this machine", cuda=cuda, gpus=count, ray_gpus=ray_gpus)


@dataclass(frozen=True)
class TuneRun:
    """One Tune experiment in the folder: the grid's (tune/) or an extension's, which
    runs only the cells it added (Tune cannot add trials to a finished experiment)."""

    cells: list[CellConfig]
    name: str = TUNE_DIR


def latest_run(folder: ExperimentFolder, spec: ExperimentSpec) -> TuneRun:
    """What `resume` continues: the latest extension's cells and Tune folder, else the
    grid of `spec` in tune/ (an extension starts only when every earlier cell is done)."""
    exts = folder.info.extensions
    if not exts:
        return TuneRun(spec.cells())
    entries = {c.cell_id: c for c in folder.info.cells}
    return TuneRun([entries[cid].cell for cid in exts[-1].cells], exts[-1].tune_name)


def _start_run(folder: ExperimentFolder, spec: ExperimentSpec, resume: bool,
               extend: ExtensionPlan | None) -> TuneRun:
    """The Tune run to start, once every check has passed: the folder is created (a new
    grid) or the extension recorded in it only now."""
    if extend is not None:
        ext = record_extension(folder, extend.cells, spec.raw, extend.source)
        return TuneRun(extend.cells, ext.tune_name)
    if resume:
        return latest_run(folder, spec)
    ExperimentFolder.create(folder.path, spec)
    return TuneRun(spec.cells())


def _param_space(spec: ExperimentSpec, cells: list[CellConfig], exp_dir: Path, cache: Path,
                 faults: dict | None, gpus: float | None = None) -> dict:
    from ray import tune

    from orchestrator.spec.devices import trial_device

    device = trial_device(spec.resources, gpus)
    return {
        "cell": tune.grid_search([c.to_dict() for c in cells]),
        "experiment": spec.name,
        "experiment_dir": str(exp_dir),
        "cache_dir": str(cache),
        "threads": max(1, int(spec.resources.cpus_per_trial)),
        "device": device,
        "deterministic": spec.resources.deterministic,
        "faults": faults or {},
    }




def _tracking(spec: ExperimentSpec, folder: ExperimentFolder) -> Any:
    """The spec's trackers as a Tune callback over a driver thread (None without
    `[tracking]`)."""
    if not spec.tracking.enabled:
        return None
    from orchestrator.tune.tracking import TrackingCallback

    return TrackingCallback(str(folder.path), spec.tracking)


def _tuner(spec: ExperimentSpec, folder: ExperimentFolder, cache: Path, gpus: float, *,
           run: TuneRun, resume: bool, callbacks: list, faults: dict | None) -> Any:
    """Tune's tuner for `run`: restored from its folder when resuming (and Tune has state
    there), else new. Needs Ray running."""
    from ray import tune

    trainable = _trainable(spec, gpus)
    tune_dir = folder.path / run.name
    if resume and tune.Tuner.can_restore(str(tune_dir)):
        return tune.Tuner.restore(str(tune_dir), trainable=trainable,
                                  resume_unfinished=True, resume_errored=True)
    r = spec.resources
    return tune.Tuner(
        trainable,
        param_space=_param_space(spec, run.cells, folder.path, cache, faults, gpus),
        tune_config=tune.TuneConfig(
            max_concurrent_trials=r.max_concurrent_trials or None,
            trial_dirname_creator=_trial_dirname,
            # A worker process runs trial after trial: imports, torch start-up and the
            # loaded data (memoised by content) are paid once per worker.
            reuse_actors=True,
        ),
        run_config=tune.RunConfig(
            name=run.name,
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
    interval: float = PLAIN_INTERVAL_S,
    faults: dict | None = None,
    expose: bool = False,
    log: Any = print,
    extend: ExtensionPlan | None = None,
) -> RunOutcome:
    """Run every cell of `spec` as a Tune trial, resume the experiment in `exp_dir` (its
    latest Tune run), or with `extend` add its cells to the experiment and run only them.

    Everything that can be checked or computed once is, before the folder and the trials
    exist: the device against the GPUs, paths, budgets vs the pool, the auto-encoder (fits
    every architecture?), caches; on a cluster, what the driver can see, how to join it
    (its token) and its GPUs; the "auto" GPU share.
    """
    folder = ExperimentFolder(exp_dir.resolve())
    if folder.is_project():
        raise ProjectNotAGridError(project_continuation(folder))
    # One driver per folder: a second run, resume or extend is refused before any work.
    command = "extend" if extend is not None else "resume" if resume else "run"
    with driver_lock(folder.path, command, log=log):
        return _run_locked(spec, folder, address=address, resume=resume, dashboard=dashboard,
                           plain=plain, interval=interval, faults=faults, expose=expose,
                           log=log, extend=extend)


def _run_locked(spec: ExperimentSpec, folder: ExperimentFolder, *, address: str | None,
                resume: bool, dashboard: bool, plain: bool, interval: float,
                faults: dict | None, expose: bool, log: Any,
                extend: ExtensionPlan | None = None) -> RunOutcome:
    """`run_experiment` once the folder's driver lock is held."""
    from orchestrator.tune.cluster_access import cluster_access
    from orchestrator.tune.dashboard import Dashboard
    from orchestrator.tune.ray_runtime import ray_session

    # An extension and a resume use the folder's cache: its auto-encoders and round-0
    # models are reused.
    cache = folder.cache_dir() if resume or extend else default_cache_dir(spec)
    if not resume and extend is None:
        folder.refuse_existing()  # before any work
    check_clients(spec.tracking)
    check_devices(spec, address)
    # The cluster is asked first: a missing or wrong token is one line before any data work.
    access = cluster_access(address) if address is not None else None
    preflight(spec, cache, address=address, log=log)
    r = spec.resources
    with ray_session(address, num_cpus=r.num_cpus, num_gpus=r.num_gpus,
                     object_store_mb=r.object_store_mb, expose=expose,
                     access=access):
        if address is not None:
            check_devices(spec, address, most_gpus_on_a_node())
        gpus, probed = gpus_per_trial(spec, folder if resume else None)
        run = _start_run(folder, spec, resume, extend)
        if probed is not None:
            folder.record_resources(probed)
        callbacks: list = ([Dashboard(str(folder.path), force_plain=plain, interval=interval)]
                           if dashboard else [])
        tracking = _tracking(spec, folder)
        callbacks += [tracking] if tracking is not None else []
        try:
            grid = _tuner(spec, folder, cache, gpus, run=run, resume=resume,
                          callbacks=callbacks, faults=faults).fit()
        finally:
            if tracking is not None:
                tracking.finish()
    errors = [f"{res.path}: {str(res.error).splitlines()[0]}" for res in grid if res.error]
    return RunOutcome(folder.path, len(grid), errors)
