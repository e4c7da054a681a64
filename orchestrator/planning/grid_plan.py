"""`scaf-al plan`: what a grid costs before anything runs.

Counts come from `spec.cells()` and follow what the loop really does (trainers/loop/cell_loop.py):

- `trial_rounds`: one per round of every cell (len(budget.sizes)).
- `trainings`: round 0 is trained once per round-0 cache key (trainers/caches/round0.py: the
  cell without its acquisition and budget, the auto-encoder and L0), so cells that differ
  only by acquisition (or by a budget with the same L0) share it; every later round trains.
- `training_images`: trainings x trainer.steps x trainer.batch_size.
- `scored_images`: pool images streamed for selection after every non-final round
  (`score_pool`): the whole pool when the acquisition needs features, the unlabeled part
  when it needs heatmaps, none when it needs nothing (random).
- `eval_images`: trial-rounds x test images (every loaded test split, each round).

Pool and test sizes come from the data options (synthetic), the official split sizes
(300-W, WFLW) or the user's folder when it can be opened; when a size is unknown the count
is None and the plan says why instead of guessing. `--against DIR` counts only the cells
that experiment DIR does not hold yet (`scaf-al extend DIR SPEC` runs those), and no
round-0 training that DIR's cells did already (the cache keeps those models). `--probe`
(orchestrator/planning/probe.py) adds measured speed and memory per (architecture, input
size, width, batch size).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from orchestrator.spec.experiment import ExperimentSpec
from trainers.config.cell import CellConfig, DataConfig
from trainers.config.trainer import TrainerConfig
from trainers.datasets import get_dataset, open_dataset

# Count keys of the `--json` object, in display order.
COUNT_KEYS = ("cells", "trial_rounds", "trainings", "training_images", "scored_images",
              "eval_images")

ConfigKey = tuple[str, int, float, int]  # (architecture, input size, width, batch size)


@dataclass
class GridCounts:
    """Cost counts of one part of a grid (None: a data size is unknown)."""

    cells: int = 0
    trial_rounds: int = 0
    trainings: int = 0
    training_images: int = 0
    scored_images: int | None = 0
    eval_images: int | None = 0

    def add(self, other: GridCounts) -> None:
        for name in COUNT_KEYS:
            mine, theirs = getattr(self, name), getattr(other, name)
            setattr(self, name, None if mine is None or theirs is None else mine + theirs)


@dataclass
class GridPlan:
    """What a grid costs: totals, the same per probe configuration, and what is unknown.

    `per_config` and `estimate` are filled by `--probe` (orchestrator/planning/probe.py).
    """

    name: str
    totals: GridCounts
    by_config: dict[ConfigKey, GridCounts]
    pool_images: int | None
    test_images: int | None
    steps: int
    batch_size: int
    unknown: list[str] = field(default_factory=list)
    per_config: list[dict[str, Any]] = field(default_factory=list)
    estimate: dict[str, Any] = field(default_factory=dict)
    held: int | None = None  # --against: the spec's cells the experiment holds already


def config_key(cell: CellConfig) -> ConfigKey:
    """The probe configuration a cell's trainings run in."""
    return (cell.arch, cell.model.input_size, float(cell.model.width), cell.trainer.batch_size)


def _split_size(data: DataConfig, split: str) -> int | None:
    """Images in one split: as the data set states it (official sizes, or options that
    size it), else counted in the opened folder."""
    known = get_dataset(data.name).split_size(split, data.options)
    return known if known is not None else _opened_size(data, split)


def _opened_size(data: DataConfig, split: str) -> int | None:
    """A user's folder has no official size: count it when the folder can be opened."""
    if not data.root or not Path(data.root).expanduser().is_dir():
        return None
    try:
        return len(open_dataset(data.name, data.root, split, **data.options))
    except (OSError, ValueError):
        return None


def pool_images(data: DataConfig) -> int | None:
    """Pool size as the loop sees it (after `data.pool_size`), None when unknown."""
    n = _split_size(data, data.pool_split)
    if data.pool_size is not None:
        return data.pool_size if n is None else min(n, data.pool_size)
    return n


def loaded_test_splits(data: DataConfig) -> list[str]:
    """The test splits the loop loads (300-W "full" is derived from common + challenging)."""
    from trainers.loop.data_loading import test_splits_to_load

    return test_splits_to_load(data)


def test_images(data: DataConfig) -> tuple[int | None, list[str]]:
    """(images evaluated per round, splits whose size is unknown)."""
    sizes = {s: _split_size(data, s) for s in loaded_test_splits(data)}
    missing = [s for s, n in sizes.items() if n is None]
    return (None if missing else sum(n for n in sizes.values() if n is not None)), missing


def round0_key(cell: CellConfig, pool: int | None) -> str:
    """The round-0 cache key the loop would use (trainers/caches/round0.py).

    The auto-encoder path stands in by its own key (same cache => same path); L0 is drawn
    exactly as the loop draws it when the pool size is known, else by its size (L0 depends
    on the seed, already in the key, its size and the pool only).
    """
    from trainers.caches.autoencoder import autoencoder_key
    from trainers.caches.round0 import RoundZeroCache
    from trainers.loop.cell_loop import initial_state

    ae = cell.model.pretrained or f"autoencoders/{autoencoder_key(cell)}"
    n0 = cell.budget.sizes[0]
    l0 = np.asarray(initial_state(cell, pool).labeled) if pool else np.arange(n0)
    return RoundZeroCache.key(cell, Path(ae), l0)


def _scored_per_cell(cell: CellConfig, needs: frozenset[str], pool: int | None) -> int | None:
    """Pool items `score_pool` streams over the cell's non-final rounds."""
    if not needs:
        return 0
    if pool is None:
        return None
    sizes = cell.budget.sizes[:-1]
    if "features" in needs:
        return pool * len(sizes)
    return sum(pool - n for n in sizes)


def _needs_of(cell: CellConfig) -> frozenset[str]:
    import acquisition

    return frozenset(acquisition.get(cell.acquisition.name, **cell.acquisition.params).needs)


def count_cells(
    cells: list[CellConfig], pool: int | None, test: int | None,
    trained: frozenset[str] = frozenset(),
) -> dict[ConfigKey, GridCounts]:
    """Counts per probe configuration (see the module docstring for each count); round-0
    keys in `trained` are in the cache already and not counted as trainings."""
    out: dict[ConfigKey, GridCounts] = {}
    round0: dict[ConfigKey, set[str]] = {}
    trainer: dict[ConfigKey, TrainerConfig] = {}
    needs: dict[str, frozenset[str]] = {}
    for cell in cells:
        key = config_key(cell)
        c = out.setdefault(key, GridCounts())
        trainer.setdefault(key, cell.trainer)
        rounds = len(cell.budget.sizes)
        c.cells += 1
        c.trial_rounds += rounds
        # Rounds after the first; a warm-started round trains `warm_steps` steps.
        t = cell.trainer
        later_steps = (t.warm_steps or t.steps) if t.init == "warm" else t.steps
        c.training_images += (rounds - 1) * later_steps * t.batch_size
        round0.setdefault(key, set()).add(round0_key(cell, pool))
        round0[key] -= trained
        label = cell.acquisition.label()
        if label not in needs:
            needs[label] = _needs_of(cell)
        scored = _scored_per_cell(cell, needs[label], pool)
        c.scored_images = None if c.scored_images is None or scored is None else (
            c.scored_images + scored)
    for key, c in out.items():
        c.trainings = c.trial_rounds - c.cells + len(round0[key])
        c.training_images += len(round0[key]) * trainer[key].steps * trainer[key].batch_size
        c.eval_images = None if test is None else c.trial_rounds * test
    return out


def _cells_against(spec: ExperimentSpec, against: str | None, source: str,
                   pool: int | None, seeds: int | None
                   ) -> tuple[list[CellConfig], frozenset[str], int | None]:
    """(the cells to count, round-0 keys trained already, cells held already)."""
    if against is None:
        if seeds is not None:
            raise ValueError("--seeds counts an extension: give the experiment (--against DIR)")
        return spec.cells(), frozenset(), None
    from orchestrator.results.experiment_folder import ExperimentFolder
    from orchestrator.results.extension import new_cells

    folder = ExperimentFolder.open(against)
    ext = new_cells(folder, spec, seeds, source=source)
    trained = frozenset(round0_key(e.cell, pool) for e in folder.info.cells)
    return ext.cells, trained, ext.already


def plan_grid(spec: ExperimentSpec, against: str | None = None, source: str = "",
              seeds: int | None = None) -> GridPlan:
    """Count what `spec`'s grid costs (`probe.probe_plan` adds measured speed and memory).

    Args:
        spec: the validated experiment spec.
        against: an experiment folder: count only the cells it does not hold yet.
        seeds: with `against`, also the seeds `scaf-al extend DIR SPEC --seeds N` adds.
        source: the spec's path, for errors.

    Returns:
        The plan; `plan_text` and `plan_json` render it.

    Raises:
        ExtensionError: `spec` cannot join the experiment `against`.
    """
    pool = pool_images(spec.data)
    test, missing = test_images(spec.data)
    unknown = []
    if pool is None:
        unknown.append(f"scored_images: the size of the {spec.data.name} "
                       f"{spec.data.train_split!r} split is unknown (set data.pool_size)")
    if missing:
        unknown.append(f"eval_images: the size of the {spec.data.name} test split(s) "
                       f"{', '.join(missing)} is unknown (data.root not readable here)")
    cells, trained, held = _cells_against(spec, against, source, pool, seeds)
    by_config = count_cells(cells, pool, test, trained)
    totals = GridCounts()
    for c in by_config.values():
        totals.add(c)
    return GridPlan(spec.name, totals, by_config, pool, test, spec.trainer.steps,
                    spec.trainer.batch_size, unknown, held=held)


def plan_json(plan: GridPlan) -> dict[str, Any]:
    """One object: the count keys, `per_config` (probe records) and, when probed, the
    device-hour estimate keys."""
    out: dict[str, Any] = {k: getattr(plan.totals, k) for k in COUNT_KEYS}
    if plan.held is not None:
        out["held_cells"] = plan.held
    out["per_config"] = [dict(r) for r in plan.per_config]
    out.update(plan.estimate)
    return out


def _num(value: int | None) -> str:
    return "unknown" if value is None else f"{value:,}"


def plan_text(plan: GridPlan) -> str:
    """The plan as a short table for a terminal."""
    t = plan.totals
    shared = t.trial_rounds - t.trainings
    test = "unknown" if plan.test_images is None else f"{plan.test_images:,}"
    why = {
        "cells": "",
        "trial_rounds": "rounds summed over cells",
        "trainings": f"round 0 shared: {shared:,} trainings saved",
        "training_images": f"trainings x {plan.steps:,} steps x {plan.batch_size} images",
        "scored_images": f"pool images streamed for selection (pool {_num(plan.pool_images)})",
        "eval_images": f"trial-rounds x {test} test images",
    }
    lines = [f"plan: {plan.name}"]
    if plan.held is not None:
        lines[0] += (f" (only what is new: {plan.held} of the spec's cells are in the "
                     "experiment already)")
    for key in COUNT_KEYS:
        lines.append(f"  {key:<16} {_num(getattr(t, key)):>14}  {why[key]}".rstrip())
    lines += [f"  note: {u}" for u in plan.unknown]
    if plan.per_config:
        lines += _probe_lines(plan)
    return "\n".join(lines)

def _gib(n: int) -> str:
    return f"{n / 2**30:.2f} GiB"


def _probe_lines(plan: GridPlan) -> list[str]:
    """Lines of the probe table and the estimate (when `probe.probe_plan` filled them)."""
    lines = ["probe (measured here):",
             f"  {'arch':<8} {'input':>5} {'width':>5} {'batch':>5} {'s/step':>8} "
             f"{'train img/s':>11} {'score img/s':>11} {'peak mem':>10} {'per trial':>10}"]
    for r in plan.per_config:
        lines.append(
            f"  {r['arch']:<8} {r['input_size']:>5} {r['width']:>5g} {r['batch_size']:>5} "
            f"{r['seconds_per_step']:>8.3f} {r['train_images_per_s']:>11.1f} "
            f"{r['score_images_per_s']:>11.1f} {_gib(r['peak_memory_bytes']):>10} "
            f"{_gib(r['trial_bytes']):>10}")
    est = plan.estimate
    where = "GPU" if est["device"].startswith("cuda") else "node"
    hours = "unknown" if est["device_hours"] is None else f"{est['device_hours']:,.3g}"
    lines.append(f"  estimate on {est['device']}: {hours} device-hours, one trial at a time "
                 "(pre-training and start-up not counted)")
    if est.get("gpu_fraction"):
        why = f"gpus_per_trial = {est['gpu_fraction']:.4g}"
    else:
        why = f"limited by {est.get('trials_limited_by', 'memory')}"
    lines.append(f"  {est['trials_per_device']} trials fit one {where} at once ({why}, "
                 f"{_gib(est['trial_bytes'])} per trial of {_gib(est['device_total_bytes'])})")
    return lines


def counts_dict(counts: GridCounts) -> dict[str, int | None]:
    """A GridCounts as a plain dict (the count keys only)."""
    return {k: v for k, v in asdict(counts).items() if k in COUNT_KEYS}
