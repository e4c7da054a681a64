"""What the driver checks and computes once, before the experiment folder and the trials
exist: the paths the spec names, the pool size against the budgets, the auto-encoder.

A local run checks everything and warms the caches. A run that joins a cluster
(`--address`) checks what the driver can see (the workers may see other disks, and have
their own caches) and names, in one line, the paths only the workers can check.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchestrator.spec.checks import check_budgets_fit
from orchestrator.spec.paths import check_paths, not_visible_note, paths_not_visible

if TYPE_CHECKING:
    from orchestrator.spec.experiment import ExperimentSpec
    from trainers.config.cell import CellConfig
    from trainers.datasets.cropset import CropSet


def preflight(spec: ExperimentSpec, cache: Path, *, address: str | None,
              log: Callable[[str], Any] = print) -> None:
    """Validate `spec` before anything is created: all of it for a local run (and warm the
    caches), what the driver can see when the trials run on a cluster at `address`.

    Raises:
        SpecError: a path is missing (local run) or a budget does not fit the pool.
        CheckpointError: `model.pretrained` does not fit the spec's model.
    """
    if address is None:
        check_paths(spec)
        warm_caches(spec, cache, log=log)
        return
    hidden = paths_not_visible(spec)
    if hidden:
        log(not_visible_note(spec, hidden))
    if "data.root" in hidden:
        return
    pool = load_pool_checked(spec, cache)
    if spec.model.pretrained and "model.pretrained" not in hidden:
        check_checkpoint_fits(spec, Path(spec.model.pretrained).expanduser(), pool)


def load_pool_checked(spec: ExperimentSpec, cache: Path) -> CropSet:
    """Load the pool as a trial will, and check every budget against its size.

    Raises:
        SpecError: `budgets[i]: final size 20 is larger than the pool (18 images)`.
    """
    from trainers.loop.data_loading import load_data

    cell = spec.cells()[0]
    pool, _ = load_data(cell.data, cell.model.input_size, cache)
    check_budgets_fit(spec.budgets, len(pool))
    return pool


def check_checkpoint_fits(spec: ExperimentSpec, checkpoint: Path, pool: CropSet) -> None:
    """Load the auto-encoder checkpoint into every architecture of the grid, so that one
    that does not fit fails here, once, not in every trial's retries."""
    from trainers.models import build_model, load_pretrained

    for arch in spec.architectures:
        model = build_model(arch, num_landmarks=pool.num_landmarks,
                            input_size=spec.model.input_size, width=spec.model.width)
        load_pretrained(model, checkpoint)


def warm_caches(spec: ExperimentSpec, cache: Path, log: Any = print) -> None:
    """Load the data (checking the budgets against the pool) and pre-train the
    auto-encoder once, before the trials, so parallel trials do not wait on each other for
    it (they find it in the cache). The training runs on the trials' device in a child
    process (:mod:`orchestrator.tune.warmup`): the driver itself never uses a GPU."""
    from orchestrator.spec.devices import trial_device
    from orchestrator.tune.warmup import pretrain_in_child
    from trainers.caches.autoencoder import ensure_autoencoder

    pool = load_pool_checked(spec, cache)
    cell = spec.cells()[0]
    device = trial_device(spec.resources)
    if cell.model.pretrained or _cached_on_cpu(cell, cache, device):
        ae = ensure_autoencoder(cell, pool, cache, device=device)  # nothing to train here
    else:
        with _pretrain_progress() as progress:
            ae = pretrain_in_child(cell.to_dict(), cache, device=device,
                                   deterministic=spec.resources.deterministic, log=log,
                                   progress=progress)
    check_checkpoint_fits(spec, ae, pool)


def _cached_on_cpu(cell: CellConfig, cache: Path, device: str) -> bool:
    """Whether the CPU auto-encoder of `cell` is in the cache already. Only the CPU's key is
    worked out here: a GPU's depends on its compute capability, which would start CUDA in
    the driver, so a GPU run always asks the child (which returns at once when cached)."""
    from trainers.caches.autoencoder import autoencoder_path
    from trainers.training.device import precision_tag

    if device.split(":")[0] != "cpu":  # "auto" and CUDA: the child resolves them
        return False
    tag = precision_tag("cpu", cell.model.pretrain.mixed_precision)
    return autoencoder_path(cell, cache, tag).exists()


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
