"""Reading a large result store: `scaf-al status`, a watch refresh and `scaf-al report`.

A store of 2,000 cells x 10 rounds (20,000 `rounds` rows, 200,000 `selections` rows: ten
picks per round) is generated in the writer's schema (`results.rounds_schema`,
`results.SELECTION_SCHEMA`) straight with pyarrow, because the trial-side writer makes one
file per row and would take minutes to fill it. The experiment folder around it is real
(`ExperimentFolder.create_for_cells` of a parsed spec's 2,000 cells), so the readers run
exactly as on a finished grid. Two layouts:

* ``compacted``: one file per cell and table, as a finished grid leaves them;
* ``per_round``: one file per cell x round and table, as a running grid has them.

Records (seconds, fastest of a few repeats; the baseline is the time allowed, TARGET_S, so the
ratio is the fraction of the target used and the target ratio is 1):

* ``store.<layout>.status``: `scaf-al status DIR` through `orchestrator.cli.commands.main`;
* ``store.<layout>.watch_refresh``: `take_snapshot` + the plain grid render;
* ``store.<layout>.report``: `load_report` + the terminal render.

Run: ``python -m benchmarks.store [--quick]`` or through ``scaf-al bench``.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from benchmarks.training import make_record

__all__ = ["generate_store", "read_timings", "run", "store_spec_doc"]

ROUNDS_PER_CELL = 10
PICKS_PER_ROUND = 10
#: Seconds allowed on 2 cores for a 2,000-cell store: status and a watch refresh (an
#: interactive wait), and the report.
TARGET_S = {"status": 2.0, "watch_refresh": 2.0, "report": 10.0}


def store_spec_doc(n_seeds: int = 100) -> dict[str, Any]:
    """A grid of 2 architectures x 5 acquisitions x 2 budgets x `n_seeds` seeds
    (20 x n_seeds cells) of 10 rounds each."""
    return {
        "experiment": {"name": "bench-store", "architectures": ["scaf", "3fabrec"],
                       "seeds": list(range(n_seeds))},
        "data": {"name": "synthetic", "options": {"n_pool": 2000, "n_test": 20}},
        "model": {"input_size": 64, "width": 0.25, "pretrain": {"steps": 4, "batch_size": 8}},
        "trainer": {"steps": 10, "batch_size": 8},
        "budgets": [{"sizes": list(range(10, 110, 10))}, {"sizes": list(range(20, 220, 20))}],
        "acquisitions": [{"name": "random"}, {"name": "nnm", "window": 3},
                         {"name": "entropy"}, {"name": "kcenter_greedy"},
                         {"name": "nnm", "window": 5}],
        "resources": {"cpus_per_trial": 1, "num_cpus": 2, "device": "cpu"},
    }


def _node_usage(rng: np.random.Generator, n: int, fields: tuple[str, ...]) -> dict[str, list]:
    """Plausible node-usage columns: a 64 GB node with an 80 GB GPU, partly used."""
    total = {"node_mem_total_gb": 64.0, "gpu_mem_total_gb": 80.0}
    used = {"node_mem_used_gb": rng.uniform(8, 48, n),
            "gpu_mem_used_gb": rng.uniform(4, 60, n),
            "node_cpu_percent": rng.uniform(20, 100, n),
            "gpu_util_percent": rng.uniform(30, 100, n)}
    return {f: [total[f]] * n if f in total else used[f].tolist() for f in fields}


def _cell_tables(cell: Any, experiment: str, t0: datetime,
                 rng: np.random.Generator) -> tuple[pa.Table, pa.Table]:
    """One finished cell's `rounds` (10 rows) and `selections` (100 rows) tables."""
    from orchestrator.results.node_usage import NODE_USAGE_FIELDS
    from orchestrator.results.schema import SCHEMA_VERSION, SELECTION_SCHEMA, rounds_schema

    splits = list(cell.data.test_splits)
    sizes = list(cell.budget.sizes)
    n = len(sizes)
    order = rng.permutation(2000)
    picks = [order[max(0, sizes[r] - PICKS_PER_ROUND):sizes[r]].tolist() for r in range(n)]
    writes = [t0 + timedelta(seconds=30.0 * (r + 1) + rng.uniform(0, 5)) for r in range(n)]
    const = {"schema_version": SCHEMA_VERSION, "experiment": experiment,
             "cell_id": cell.cell_id(), "arch": cell.arch, "dataset": cell.data.name,
             "acquisition": cell.acquisition.name, "acq_label": cell.acquisition.label(),
             "acq_params_json": json.dumps(cell.acquisition.params, sort_keys=True),
             "budget_final": cell.budget.final, "budget_sizes_json": json.dumps(sizes),
             "seed": cell.seed, "input_size": cell.model.input_size,
             "width": cell.model.width, "config_json": json.dumps(cell.to_dict()),
             "reused_round0": False, "trial_id": uuid.uuid4().hex[:8], "host": "node-0"}
    cols: dict[str, Any] = {k: [v] * n for k, v in const.items()}
    cols.update({
        "round": list(range(n)), "n_labeled": sizes, "written_at": writes,
        "train_seconds": rng.uniform(20, 30, n).tolist(),
        "score_seconds": rng.uniform(1, 3, n).tolist(),
        "final_loss": rng.uniform(0, 1, n).tolist(),
        "selected_indices": picks,
        "labeled_indices": [order[:s].tolist() for s in sizes],
        **_node_usage(rng, n, NODE_USAGE_FIELDS),
    })
    for s in splits:
        nme = (0.08 / np.sqrt(np.arange(1, n + 1)) + rng.normal(0, 0.002, n)).tolist()
        cols.update({f"nme_{s}": nme, f"fr_{s}": rng.uniform(0, 0.1, n).tolist(),
                     f"auc_{s}": rng.uniform(0.3, 0.6, n).tolist(),
                     f"baseline_nme_{s}": [0.2] * n})
    schema = rounds_schema(splits)
    # Fields this generator does not know (added to the schema since) read as nulls.
    cols.update({f.name: [None] * n for f in schema if f.name not in cols})
    rounds = pa.table(cols, schema=schema)
    k = PICKS_PER_ROUND
    sel = {
        "schema_version": [SCHEMA_VERSION] * n * k, "experiment": [experiment] * n * k,
        "cell_id": [cell.cell_id()] * n * k, "round": np.repeat(np.arange(n), k).tolist(),
        "pool_index": [i for p in picks for i in (p + p)[:k]],
        "score": rng.uniform(0, 1, n * k).tolist(), "rank": list(range(k)) * n,
        "acq_label": [cell.acquisition.label()] * n * k, "seed": [cell.seed] * n * k,
        "arch": [cell.arch] * n * k,
        "pred_landmarks": [rng.uniform(0, 64, 136).astype(np.float32).tolist()] * (n * k),
        "written_at": [w for w in writes for _ in range(k)],
    }
    return rounds, pa.table(sel, schema=SELECTION_SCHEMA)


def generate_store(path: Path, n_seeds: int = 100, per_round: bool = False) -> Path:
    """A real experiment folder of 20 x `n_seeds` finished cells with their result files
    (one per cell and table, or with `per_round` one per cell, round and table)."""
    from orchestrator.results.experiment_folder import ExperimentFolder
    from orchestrator.results.files import atomic_write, fs_and_path
    from orchestrator.spec.experiment import parse_spec

    doc = store_spec_doc(n_seeds)
    cells = parse_spec(doc).cells()
    folder = ExperimentFolder.create_for_cells(path, "bench-store", cells, doc)
    fs, root = fs_and_path(folder.store)
    rng = np.random.default_rng(0)
    t0 = datetime.now(UTC) - timedelta(hours=2)
    for cell in cells:
        rounds, sel = _cell_tables(cell, "bench-store", t0, rng)
        cid = cell.cell_id()
        parts = ([(f"r{r:03d}", rounds.slice(r, 1), sel.slice(r * PICKS_PER_ROUND,
                                                              PICKS_PER_ROUND))
                  for r in range(rounds.num_rows)] if per_round else [("all", rounds, sel)])
        for tag, r_table, s_table in parts:
            name = f"part-{cid}-{tag}-{uuid.uuid4().hex[:8]}.parquet"
            atomic_write(s_table, fs, f"{root}/results/selections", name)
            atomic_write(r_table, fs, f"{root}/results/rounds", name)
    return folder.path


def _status(folder: Path) -> None:
    from orchestrator.cli import commands as cli

    with contextlib.redirect_stdout(io.StringIO()):
        code = cli.main(["status", str(folder)])
    if code != 0:
        raise RuntimeError(f"scaf-al status {folder} exited with {code}")


def _watch_refresh(folder: Path) -> None:
    from orchestrator.progress.render import render_grid_plain
    from orchestrator.progress.snapshot import take_snapshot

    snap = take_snapshot(folder)
    if snap.done != snap.total:
        raise RuntimeError(f"snapshot of {folder}: {snap.done}/{snap.total} rounds")
    render_grid_plain(snap, 24)


def _report(folder: Path) -> None:
    from rich.console import Console

    from orchestrator.report.render import render_terminal
    from orchestrator.report.tables import load_report

    Console(file=io.StringIO(), width=160).print(render_terminal(load_report(folder)))


READERS: dict[str, Callable[[Path], None]] = {
    "status": _status, "watch_refresh": _watch_refresh, "report": _report}


def read_timings(folder: Path, repeats: int = 3) -> dict[str, float]:
    """Fastest of `repeats` runs of each reader, plus the first (cold-process) run."""
    out: dict[str, float] = {}
    for name, reader in READERS.items():
        best = math.inf
        for i in range(repeats):
            start = time.perf_counter()
            reader(folder)
            took = time.perf_counter() - start
            if i == 0:
                out[f"{name}.first"] = took
            best = min(best, took)
        out[name] = best
    return out


def run(quick: bool = False) -> list[dict[str, Any]]:
    """Generate both layouts and time the readers (see the module docstring).

    Args:
        quick: one repeat each instead of three (the store keeps its full size: the
            targets are for that size).
    """
    records: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="scaf-al-bench-store-") as tmp:
        for layout in ("compacted", "per_round"):
            start = time.perf_counter()
            folder = generate_store(Path(tmp) / layout, per_round=layout == "per_round")
            made = time.perf_counter() - start
            files = sum(1 for _ in (folder / "results").rglob("*.parquet"))
            times = read_timings(folder, repeats=1 if quick else 3)
            for name, target in TARGET_S.items():
                records.append(make_record(
                    f"store.{layout}.{name}", times[name], "s", "the target on 2 cores",
                    target, 1.0, layout=layout, cells=2000, round_rows=20000,
                    selection_rows=200000, files=files, first_run_s=times[f"{name}.first"],
                    generate_s=made))
    return records


if __name__ == "__main__":
    from benchmarks.runner import module_main

    module_main(run, __doc__)
