"""The Ray Tune trainable: one trial = one cell = one active-learning run.

The trial rebuilds its CellConfig from the param_space, resumes from its last checkpoint
(the LoopState of the next round) when Tune restarts it, runs the plain-Python loop, and per
round writes its result rows (trial side, so they survive a lost driver) and then reports
the round's metrics with a checkpoint through `ray.tune.report`.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import ray
from ray import tune

CHECKPOINT_FILE = "loop_state.json"


class InjectedFault(RuntimeError):
    """Raised on purpose by the `faults` trial option (fault-injection tests)."""


def _maybe_inject(faults: dict[str, Any], experiment_dir: str, cell_id: str, round_: int) -> None:
    """Fail at a given round a given number of times (counted with marker files)."""
    if not faults or int(faults.get("raise_at_round", -1)) != round_:
        return
    if faults.get("cells") and cell_id not in faults["cells"]:
        return
    marker_dir = Path(experiment_dir) / "faults"
    marker_dir.mkdir(parents=True, exist_ok=True)
    done = len(list(marker_dir.glob(f"{cell_id}-r{round_}-*")))
    if done < int(faults.get("times", 1)):
        (marker_dir / f"{cell_id}-r{round_}-{done}").touch()
        if faults.get("kind") == "exit":
            os._exit(1)  # a worker process dying mid-round, not a Python exception
        raise InjectedFault(f"injected failure at round {round_} (attempt {done + 1})")


def run_trial(config: dict[str, Any]) -> None:
    """Tune function trainable (see module docstring)."""
    import torch

    from orchestrator.results.compaction import compact_cell
    from orchestrator.results.node_usage import NodeUsageMeter
    from orchestrator.results.writer import ResultWriter
    from trainers.config.cell import CellConfig
    from trainers.loop.cell_loop import LoopState, RoundResult, run_cell
    from trainers.training.device import resolve_device, set_determinism

    # Before this worker's first CUDA call (imports make none): cuBLAS reads its workspace
    # setting once per process.
    set_determinism(bool(config.get("deterministic", True)))
    cell = CellConfig.from_dict(config["cell"])
    experiment_dir = config["experiment_dir"]
    threads = max(1, int(config.get("threads", 1)))
    torch.set_num_threads(threads)
    state = None
    ckpt = tune.get_checkpoint()
    if ckpt is not None:
        with ckpt.as_directory() as d:
            state = LoopState.from_json((Path(d) / CHECKPOINT_FILE).read_text())
    ctx = tune.get_context()
    trial_id = ctx.get_trial_id() or ""
    node_id = ray.get_runtime_context().get_node_id()
    writer = ResultWriter(experiment_dir, config.get("experiment", "experiment"))
    meter = NodeUsageMeter()
    device = resolve_device(config.get("device", "auto"))
    faults = config.get("faults") or {}
    cell_id = cell.cell_id()
    splits = list(cell.data.tests)

    def report(result: RoundResult, new_state: LoopState) -> None:
        _maybe_inject(faults, experiment_dir, cell_id, result.round)
        all_splits = splits + [s for s in result.metrics if s not in splits]
        writer.write_round(cell, result, trial_id=trial_id, splits=all_splits,
                           node_usage=meter.sample(device), node_id=node_id)
        metrics: dict[str, Any] = {
            "round": result.round, "n_labeled": result.n_labeled, "cell_id": cell_id,
            "train_seconds": result.train_seconds, "score_seconds": result.score_seconds,
            "reused_round0": result.reused_round0, "rounds_total": len(cell.budget.sizes),
        }
        for split, m in result.metrics.items():
            for k, v in m.items():
                metrics[f"{k}_{split}"] = v
        with tempfile.TemporaryDirectory() as d:
            (Path(d) / CHECKPOINT_FILE).write_text(new_state.to_json())
            tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(d))

    run_cell(cell, cache_dir=Path(config["cache_dir"]), report=report, state=state,
             device=config.get("device", "auto"))
    # The cell is finished: one file per table instead of one per round (safe at any crash
    # point; a cell left uncompacted reads the same).
    try:
        compact_cell(experiment_dir, cell_id)
    except OSError as e:
        print(f"compaction of cell {cell_id} skipped: {e}", file=sys.stderr)
