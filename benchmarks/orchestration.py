"""Orchestration cost against the same active-learning loop called directly.

* ``orchestration.<spec>``: wall time of `run_experiment` (Ray Tune, one trial at a time,
  result rows and checkpoints written per round) against calling `trainers.loop.cell_loop.run_cell`
  for the same cells one after another in this process. Target: Tune adds under 5 % of
  the wall time. Quick mode measures a tiny spec (4 cells x 3 rounds of a few steps), on
  which Ray's fixed start-up cost weighs far more than on the quickstart: its ratio is
  for that spec only. Full mode also measures the quickstart preset.
* ``orchestration.<spec>.per_trial`` / ``.per_round``: the same overhead in seconds per
  trial and per round, with Ray's start-up left out (timed on its own in the same run:
  ``orchestration.ray_startup``, a local cluster started and shut down). What remains per
  trial is Tune's scheduling, resetting a reused worker for the next trial, the result
  rows, checkpoints and compaction of each trial, and the worker processes' own start-up
  (imports, torch, data loading) spread over the trials they ran. Target: 0.5 s a trial,
  on the grid of many short trials (the tiny spec's 4 trials cannot spread a worker's
  ~3 s start-up, so its per-trial row is informational).
* ``orchestration.many_short``: the same on a grid of many very short trials (24 cells in
  quick mode, 40 in full mode: 2 rounds of one training step each), one at a time, where
  nearly all of a trial's time is orchestration; the record's context says how many
  worker processes ran them (from Tune's state: each result carries its process id).
* ``orchestration.scaling.2_trials``: trial-rounds per second with two concurrent trials
  (one CPU each) against one at a time, the same tiny spec through Tune both times.
* ``orchestration.quickstart.wall`` (full mode): the quickstart preset end to end, as
  `scaf-al run` runs it (fresh cache: data, pre-training, two concurrent trials), against
  the direct sequential loop plus the same cache warm-up.

Each side gets its own copy of a warmed cache (data and pre-trained auto-encoder), so no
side reuses the other's round-0 models.

Run: ``python -m benchmarks.orchestration [--quick]`` or through ``scaf-al bench``.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import io
import json
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from benchmarks.training import make_record

__all__ = ["many_spec_doc", "run", "tiny_spec_doc", "time_direct", "time_ray_startup", "time_tune",
           "worker_pids"]

OVERHEAD_TARGET = 0.05  # Tune's extra wall time / direct wall time, at most
PER_TRIAL_TARGET_S = 0.5  # Tune's cost per trial, Ray's start-up left out, at most
SCALING_TARGET = 1.6  # two concurrent trials on two cores: at least 80 % parallel efficiency


def tiny_spec_doc(max_concurrent: int = 1) -> dict[str, Any]:
    """A spec of 4 small cells (2 seeds x random / NNM), 3 rounds of 10 steps each."""
    return {
        "experiment": {"name": "bench-tiny", "architectures": ["scaf"], "seeds": [0, 1]},
        "data": {"name": "synthetic",
                 "options": {"n_pool": 60, "n_test": 20, "outlier_fraction": 0.1}},
        "model": {"input_size": 64, "width": 0.25,
                  "pretrain": {"steps": 4, "batch_size": 8}},
        "trainer": {"steps": 10, "batch_size": 8, "eval_batch_size": 32},
        "budgets": [{"sizes": [10, 15, 20]}],
        "acquisitions": [{"name": "random"}, {"name": "nnm", "window": 3}],
        "resources": {"cpus_per_trial": 1, "max_concurrent_trials": max_concurrent,
                      "num_cpus": 2, "max_failures": 0,
                      "device": "cpu", "object_store_mb": 100},
    }


def many_spec_doc(n_cells: int = 24) -> dict[str, Any]:
    """A grid of `n_cells` very short cells (random / NNM x n_cells / 2 seeds), each 2
    rounds of one training step on 60 pool images at 64 px: almost all of a trial's time
    is what orchestration adds to it."""
    doc = tiny_spec_doc()
    doc["experiment"].update(name="bench-many", seeds=list(range(max(1, n_cells // 2))))
    doc["trainer"]["steps"] = 1
    doc["budgets"] = [{"sizes": [10, 12]}]
    return doc


def worker_pids(exp_dir: Path) -> dict[str, int]:
    """{cell_id: process id of the worker that ran the trial's last round}, from Tune's
    experiment state (each reported result carries the reporting process's `pid`)."""
    states = sorted((exp_dir / "tune").glob("experiment_state-*.json"),
                    key=lambda p: p.stat().st_mtime)
    out: dict[str, int] = {}
    for item in json.loads(states[-1].read_text())["trial_data"] if states else []:
        last = json.loads(item[1]).get("last_result") or {}
        if "cell_id" in last and "pid" in last:
            out[str(last["cell_id"])] = int(last["pid"])
    return out


def time_ray_startup(num_cpus: int = 2) -> float:
    """Seconds to start a local Ray cluster as `run_experiment` does and shut it down."""
    from orchestrator.tune.ray_runtime import ray_session

    start = time.perf_counter()
    with ray_session(num_cpus=num_cpus, object_store_mb=100):
        pass
    return time.perf_counter() - start


def _with(spec: Any, cache: Path, max_concurrent: int | None = None) -> Any:
    """The spec with its cache folder (and, if given, trial concurrency) replaced."""
    raw = copy.deepcopy(spec.raw)
    raw.setdefault("experiment", {})["cache_dir"] = str(cache)
    resources = spec.resources
    if max_concurrent is not None:
        raw.setdefault("resources", {})["max_concurrent_trials"] = max_concurrent
        resources = dataclasses.replace(resources, max_concurrent_trials=max_concurrent)
    return dataclasses.replace(spec, cache_dir=str(cache), resources=resources, raw=raw)


def warm(spec: Any, cache: Path) -> float:
    """Generate the data and pre-train the auto-encoder into `cache`; seconds taken."""
    from orchestrator.tune.preflight import warm_caches

    start = time.perf_counter()
    warm_caches(_with(spec, cache), cache, log=lambda _m: None)
    return time.perf_counter() - start


def time_direct(spec: Any, cache: Path) -> float:
    """Seconds to run every cell with `run_cell` in this process, one after another.

    Threads and determinism as a Tune trial sets them (one CPU per trial); the report
    callback does nothing, which is the point: writing rows and checkpoints is part of
    what the orchestrated side pays for.
    """
    from trainers.loop.cell_loop import run_cell

    threads = torch.get_num_threads()
    deterministic = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    torch.set_num_threads(max(1, int(spec.resources.cpus_per_trial)))
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        start = time.perf_counter()
        for cell in spec.cells():
            run_cell(cell, cache_dir=cache, report=lambda _r, _s: None, device="cpu")
        return time.perf_counter() - start
    finally:
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(deterministic, warn_only=warn_only)


def time_tune(spec: Any, cache: Path, exp_dir: Path, max_concurrent: int) -> float:
    """Seconds of `run_experiment` (Ray start to shutdown), with a warmed cache copy.

    Raises:
        RuntimeError: a trial failed (a benchmark of a failing run would mean nothing).
    """
    from orchestrator.tune.runner import run_experiment

    start = time.perf_counter()
    # Tune prints its experiment banner to stdout; keep the benchmark's output to records.
    with contextlib.redirect_stdout(io.StringIO()):
        outcome = run_experiment(_with(spec, cache, max_concurrent), exp_dir,
                                 dashboard=False, log=lambda _m: None)
    took = time.perf_counter() - start
    if outcome.errors:
        raise RuntimeError(f"benchmark trials failed: {outcome.errors[0]}")
    return took


def _counts(spec: Any) -> tuple[int, int]:
    cells = spec.cells()
    return len(cells), sum(len(c.budget.sizes) for c in cells)


def overhead_records(label: str, spec: Any, direct: float, tune: float, startup: float,
                     per_trial_target: float | None = 1.0,
                     **context: Any) -> list[dict[str, Any]]:
    """Tune vs direct wall time as a whole, and per trial / per round without Ray's
    start-up (`startup`: a local cluster started and shut down, timed in the same run;
    what is left per trial is Tune's scheduling, the worker reset, the result rows,
    checkpoints and compaction, plus the worker processes' own start-up spread over the
    trials they ran). `per_trial_target`: the bound on per trial / 0.5 s (None: no target).
    """
    trials, rounds = _counts(spec)
    extra = tune - startup - direct
    ctx = {"spec": label, "trials": trials, "trial_rounds": rounds,
           "ray_startup_s": startup, "direct_per_trial_s": direct / trials, **context}
    return [
        make_record(f"orchestration.{label}", tune, "s", "run_cell called directly", direct,
                    1 + OVERHEAD_TARGET, **ctx),
        make_record(f"orchestration.{label}.per_trial", extra / trials, "s/trial",
                    "the target per trial", PER_TRIAL_TARGET_S, per_trial_target, **ctx),
        make_record(f"orchestration.{label}.per_round", extra / rounds, "s/round",
                    "direct seconds per round", direct / rounds, None, **ctx),
    ]


def many_trials_records(base: Path, n_cells: int) -> list[dict[str, Any]]:
    """Per-trial cost on a grid of many short trials, one at a time (workers reused)."""
    from orchestrator.spec.experiment import parse_spec

    spec = parse_spec(many_spec_doc(n_cells))
    warm(spec, base / "many-warm")
    direct = time_direct(spec, Path(shutil.copytree(base / "many-warm", base / "many-d")))
    startup = time_ray_startup()
    exp = base / "exp-many"
    tune = time_tune(spec, Path(shutil.copytree(base / "many-warm", base / "many-t")), exp, 1)
    workers = len(set(worker_pids(exp).values()))
    records = overhead_records("many_short", spec, direct, tune, startup,
                               max_concurrent_trials=1, worker_processes=workers)
    records.append(make_record(
        "orchestration.ray_startup", startup, "s", "Tune wall time of the short grid", tune,
        None, note="a local cluster started and shut down, as run_experiment does"))
    return records


def run(quick: bool = False) -> list[dict[str, Any]]:
    """Measure the orchestration overhead and scaling (see the module docstring).

    Args:
        quick: only the tiny spec (about a minute or two on two cores).

    Returns:
        Records (see `benchmarks.training.make_record`).
    """
    from orchestrator.spec.experiment import load_spec, parse_spec

    records: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="scaf-al-bench-") as tmp:
        base = Path(tmp)
        tiny = parse_spec(tiny_spec_doc())
        warm(tiny, base / "tiny-warm")

        def copy_of(name: str, source: str = "tiny-warm") -> Path:
            return Path(shutil.copytree(base / source, base / name))

        direct = time_direct(tiny, copy_of("tiny-direct"))
        startup = time_ray_startup()
        tune1 = time_tune(tiny, copy_of("tiny-tune1"), base / "exp-tune1", 1)
        tune2 = time_tune(tiny, copy_of("tiny-tune2"), base / "exp-tune2", 2)
        # Four trials cannot spread one worker's start-up (~3 s of imports and torch):
        # the per-trial target is checked on the grid of many short trials below.
        records += overhead_records("tiny", tiny, direct, tune1, startup, None,
                                    max_concurrent_trials=1)
        records += many_trials_records(base, 24 if quick else 40)
        _, rounds = _counts(tiny)
        records.append(make_record(
            "orchestration.scaling.2_trials", rounds / tune2, "trial-rounds/s",
            "one trial at a time (same spec, through Tune)", rounds / tune1, SCALING_TARGET,
            better="higher", spec="tiny", cpus_per_trial=1, num_cpus=2,
        ))
        if not quick:
            quickstart = load_spec("quickstart")
            warm_s = warm(quickstart, base / "qs-warm")
            q_direct = time_direct(quickstart, copy_of("qs-direct", "qs-warm"))
            q_tune = time_tune(quickstart, copy_of("qs-tune1", "qs-warm"), base / "exp-qs1", 1)
            records += overhead_records("quickstart", quickstart, q_direct, q_tune,
                                        time_ray_startup(), max_concurrent_trials=1)
            fresh = base / "qs-fresh"
            end_to_end = time_tune(quickstart, fresh, base / "exp-qs-fresh",
                                   quickstart.resources.max_concurrent_trials)
            records.append(make_record(
                "orchestration.quickstart.wall", end_to_end, "s",
                "direct sequential loop + cache warm-up", q_direct + warm_s, 1.0,
                spec="quickstart", max_concurrent_trials=quickstart.resources
                .max_concurrent_trials, note="fresh cache: data generation and pre-training "
                "included on both sides",
            ))
    return records


if __name__ == "__main__":
    from benchmarks.runner import module_main

    module_main(run, __doc__)
