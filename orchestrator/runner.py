"""Run an experiment spec on Ray Tune, and resume one whose driver died (the folder's layout:
:mod:`orchestrator.experiment_folder`)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orchestrator.experiment_folder import TUNE_DIR, ExperimentFolder, default_cache_dir
from orchestrator.spec import ExperimentSpec, check_paths


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


def warm_caches(spec: ExperimentSpec, cache: Path, log: Any = print) -> None:
    """Load the data and pre-train the auto-encoder once in the driver, before the trials,
    so parallel trials do not wait on each other for it (they find it in the cache)."""
    from trainers.data_loading import load_data
    from trainers.models import build_model, load_pretrained
    from trainers.pretrain_cache import ensure_autoencoder

    cell = spec.cells()[0]
    pool, _ = load_data(cell.data, cell.model.input_size, cache)
    with _pretrain_progress() as progress:
        ae = ensure_autoencoder(cell, pool, cache, log=log, progress=progress)
    for arch in spec.architectures:
        # A checkpoint that does not fit fails here, once, not in every trial's retries.
        model = build_model(arch, num_landmarks=pool.num_landmarks,
                            input_size=cell.model.input_size, width=cell.model.width)
        load_pretrained(model, ae)


@contextlib.contextmanager
def _pretrain_progress() -> Iterator[Callable[[dict], None]]:
    """A progress bar for the unsupervised stage on a terminal, a line per 10 % elsewhere."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    console = Console()
    if not console.is_terminal:
        last = [-1]

        def line(d: dict) -> None:
            tenth = 10 * d["step"] // max(d["steps"], 1)
            if tenth != last[0]:
                last[0] = tenth
                console.print(f"  auto-encoder step {d['step']}/{d['steps']} "
                              f"loss {d.get('loss', float('nan')):.3f}", highlight=False)

        yield line
        return
    bar = Progress(TextColumn("  auto-encoder"), BarColumn(), MofNCompleteColumn(),
                   TextColumn("loss {task.fields[loss]}"), TimeElapsedColumn(),
                   TimeRemainingColumn(), console=console, transient=True)
    task = bar.add_task("pretrain", total=None, loss="-")
    with bar:
        yield lambda d: bar.update(task, completed=d["step"], total=d["steps"],
                                   loss=f"{d.get('loss', float('nan')):.3f}")


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
    if address is None:
        # Everything that can be checked or computed once is, before the folder and the
        # trials exist: paths, the auto-encoder (fits every architecture?), data, caches.
        check_paths(spec)
        warm_caches(spec, cache, log=log)
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
