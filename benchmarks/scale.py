"""A grid of many tiny cells on a 4-node Ray cluster that loses a node halfway.

`run_scale` starts a `ray.cluster_utils.Cluster` of 4 nodes (one CPU and one logical GPU
each; trials take 1 CPU and 0.5 GPU and compute on the CPU), runs the grid through
`run_experiment(..., address=...)` as `scaf-al run --address` does, removes one worker
node (not gracefully) once half of the trial-rounds are in the store, and checks that every
cell x round is in the store exactly once. The driver's memory is sampled while it runs
(its resident set, and the kernel's high-water mark `VmHWM`), so one can see whether it
stays flat as trials finish: the peak after a quarter of the cells against the peak at the
end.

Record (``scale.driver_peak_rss``): the driver's peak RSS at the end against its peak after
a quarter of the cells (target: at most 1.25x, i.e. flat), with the wall time, the cells,
the rows and the duplicates dropped in the context.

Run: ``python -m benchmarks.scale [--cells N]`` or through ``scaf-al bench`` (full mode:
1,000 cells; quick mode: 100).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.training import make_record

__all__ = ["ScaleOutcome", "rss_mb", "run", "run_scale", "scale_spec_doc"]

NODES = 4
NODE_ARGS: dict[str, Any] = {"num_cpus": 1, "num_gpus": 1,
                             "object_store_memory": 80 * 1024 * 1024}
FLAT_TARGET = 1.25  # peak RSS at the end / peak after a quarter of the cells, at most


def scale_spec_doc(n_cells: int, cache_dir: Path) -> dict[str, Any]:
    """`n_cells` tiny cells (random sampling, one seed each): 2 rounds of one training step
    on 40 pool images at 64 px, width 0.25."""
    return {
        "experiment": {"name": "scale", "architectures": ["scaf"],
                       "seeds": list(range(n_cells)), "cache_dir": str(cache_dir)},
        "data": {"name": "synthetic", "options": {"n_pool": 40, "n_test": 12}},
        "model": {"input_size": 64, "width": 0.25, "pretrain": {"steps": 4, "batch_size": 8}},
        "trainer": {"steps": 1, "batch_size": 4},
        "budgets": [{"sizes": [10, 12]}],
        "acquisitions": [{"name": "random"}],
        "resources": {"cpus_per_trial": 1, "gpus_per_trial": 0.5, "device": "cpu",
                      "max_failures": 3, "object_store_mb": 80},
    }


def rss_mb() -> tuple[float, float]:
    """(resident set now, its peak so far) of this process in MiB, from /proc."""
    fields = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = float(value.split()[0]) / 1024.0
    return fields["VmRSS"], fields["VmHWM"]


@dataclass
class ScaleOutcome:
    """What a scale run found."""

    cells: int
    trial_rounds: int
    wall_s: float
    errors: list[str]
    keys_exact: bool  # every cell x round once in the store, nothing else
    rows: int
    duplicates_dropped: int
    removed_at_rows: int | None  # rows in the store when the node was removed
    peak_rss_quarter_mb: float | None  # the driver's VmHWM when a quarter were in the store
    peak_rss_end_mb: float = 0.0
    samples: list[tuple[float, int, float]] = field(default_factory=list)  # (s, rows, RSS)


class _Monitor(threading.Thread):
    """Samples the driver's memory and the store's row count; removes a node halfway."""

    def __init__(self, cluster: Any, node: Any, exp: Path, total: int, every: float) -> None:
        super().__init__(daemon=True)
        self.cluster, self.node, self.exp, self.total, self.every = cluster, node, exp, total, every
        self.stop = threading.Event()
        self.removed_at: int | None = None
        self.quarter_peak: float | None = None
        self.samples: list[tuple[float, int, float]] = []

    def _rows(self) -> int:
        from orchestrator.results.readers import read_table

        if not (self.exp / "results" / "rounds").exists():
            return 0
        with contextlib.suppress(Exception):  # a store mid-write: try at the next sample
            return read_table(str(self.exp), "rounds", columns=("cell_id",)).table.num_rows
        return self.samples[-1][1] if self.samples else 0

    def run(self) -> None:
        start = time.monotonic()
        while not self.stop.wait(self.every):
            rows = self._rows()
            rss, peak = rss_mb()
            self.samples.append((time.monotonic() - start, rows, rss))
            if self.quarter_peak is None and rows >= self.total / 4:
                self.quarter_peak = peak
            if self.removed_at is None and rows >= self.total / 2:
                self.cluster.remove_node(self.node, allow_graceful=False)
                self.removed_at = rows


def run_scale(n_cells: int, work: Path, *, sample_every: float = 5.0) -> ScaleOutcome:
    """Run `n_cells` tiny cells on a 4-node cluster that loses a node halfway (see the
    module docstring); `work` holds the cache and the experiment folder."""
    from ray.cluster_utils import Cluster

    from benchmarks.orchestration import warm
    from orchestrator.results.readers import read_table
    from orchestrator.spec.experiment import parse_spec
    from orchestrator.tune.ray_runtime import set_env_defaults
    from orchestrator.tune.runner import run_experiment

    spec = parse_spec(scale_spec_doc(n_cells, work / "cache"), "scale")
    warm(spec, work / "cache")
    expected = {(c.cell_id(), r) for c in spec.cells() for r in range(len(c.budget.sizes))}
    exp = work / "exp"
    set_env_defaults()
    cluster = Cluster(initialize_head=True,
                      head_node_args={**NODE_ARGS, "include_dashboard": False})
    workers = [cluster.add_node(**NODE_ARGS) for _ in range(NODES - 1)]
    try:
        cluster.wait_for_nodes()
        monitor = _Monitor(cluster, workers[-1], exp, len(expected), sample_every)
        monitor.start()
        start = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):
            outcome = run_experiment(spec, exp, address=cluster.address, dashboard=False,
                                     log=lambda _m: None)
        wall = time.perf_counter() - start
        monitor.stop.set()
        monitor.join()
    finally:
        cluster.shutdown()
    read = read_table(str(exp), "rounds", columns=("cell_id", "round"))
    keys = list(zip(read.table["cell_id"].to_pylist(), read.table["round"].to_pylist(),
                    strict=True))
    return ScaleOutcome(
        n_cells, len(expected), wall, outcome.errors,
        keys_exact=len(keys) == len(set(keys)) and set(keys) == expected,
        rows=len(keys), duplicates_dropped=read.duplicates_dropped,
        removed_at_rows=monitor.removed_at, peak_rss_quarter_mb=monitor.quarter_peak,
        peak_rss_end_mb=rss_mb()[1], samples=monitor.samples,
    )


def run(quick: bool = False, n_cells: int | None = None) -> list[dict[str, Any]]:
    """The scale run as a record (1,000 cells; 100 in quick mode).

    Raises:
        RuntimeError: a trial failed, or the store does not hold every key exactly once.
    """
    n = n_cells or (100 if quick else 1000)
    with tempfile.TemporaryDirectory(prefix="scaf-al-bench-scale-") as tmp:
        out = run_scale(n, Path(tmp))
    if out.errors or not out.keys_exact:
        raise RuntimeError(f"scale run of {n} cells: errors {out.errors[:1]}, keys exact "
                           f"{out.keys_exact} ({out.rows} rows for {out.trial_rounds})")
    quarter = out.peak_rss_quarter_mb or out.peak_rss_end_mb
    return [make_record(
        "scale.driver_peak_rss", out.peak_rss_end_mb, "MiB",
        "driver peak RSS after a quarter of the cells", quarter, FLAT_TARGET,
        cells=n, nodes=NODES, trial_rounds=out.trial_rounds, wall_s=out.wall_s,
        rows=out.rows, duplicates_dropped=out.duplicates_dropped,
        node_removed_at_rows=out.removed_at_rows,
        rss_samples=[(round(t, 1), rows, round(rss, 1)) for t, rows, rss in out.samples],
    )]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=1000)
    args = parser.parse_args()
    for row in run(n_cells=args.cells):
        print(json.dumps(row))


if __name__ == "__main__":
    main()
