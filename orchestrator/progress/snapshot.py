"""One model of an experiment's progress, read from its folder (and Tune's live state).

A :class:`Snapshot` joins three sources: the cells and their round counts
(`experiment.json`: the grid and every extension), the rounds finished (the result store),
and Tune's view of each trial (state, failures, error line, node; from every Tune run of
the folder). The run's dashboard, `scaf-al watch` and
`scaf-al status` all take this snapshot and differ only in how they render it
(:mod:`orchestrator.progress.render`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from orchestrator.progress.tune_state import TrialStatus, read_tune_state
from orchestrator.report.tables import REPORT_COLUMNS
from orchestrator.results.experiment_folder import CellEntry, ExperimentFolder, ExperimentInfo
from orchestrator.results.node_usage import NODE_USAGE_FIELDS
from orchestrator.results.readers import read_table
from orchestrator.results.schema import metric_splits
from trainers.config.cell import CellConfig

#: States a cell can be in, as every view names them.
CELL_STATES = ("PENDING", "RUNNING", "RETRY", "DONE", "ERROR", "STOPPED")
#: The `rounds` columns a snapshot reads (plus the metric columns): never the index lists;
#: the report's, for the standings of the finished cells (`progress.standing`).
SNAPSHOT_COLUMNS = tuple(dict.fromkeys(("cell_id", "round", "n_labeled", "host", "written_at",
                                        *NODE_USAGE_FIELDS, *REPORT_COLUMNS)))
#: States after which nothing more will come for a cell.
FINAL_STATES = ("DONE", "ERROR", "STOPPED")


@dataclass
class CellProgress:
    """One cell: how many of its rounds are in the store, the latest of them, and Tune's
    view of its trial."""

    cell_id: str
    label: str
    rounds_total: int
    arch: str = ""
    acquisition: str = ""  # the acquisition's label, e.g. nnm(discard_top=0.1)
    budget: int = 0  # final labeled-set size
    rounds_done: int = 0
    n_labeled: int | None = None
    nme: float | None = None  # fraction
    nme_split: str = ""
    host: str = ""
    first_write: datetime | None = None
    last_write: datetime | None = None
    trial: TrialStatus | None = None
    # When each round was written (round -> time), for measured round durations.
    writes: dict[int, datetime] = field(default_factory=dict)
    node_usage: dict[str, float | None] = field(default_factory=dict)

    def round_seconds(self) -> list[float]:
        """Measured wall time of each finished round: between consecutive writes, and for
        the first round written since the trial started, from its start."""
        times = [self.writes[r].timestamp() for r in sorted(self.writes)]
        out = [b - a for a, b in zip(times, times[1:], strict=False) if b >= a]
        t = self.trial
        if t is not None and t.start_time and times:
            after = [x for x in times if x >= t.start_time]
            if after:
                out.append(after[0] - t.start_time)
        return out

    @property
    def state(self) -> str:
        t = self.trial
        if self.rounds_done >= self.rounds_total:
            return "DONE"
        if t is not None:
            if t.status == "ERROR":
                return "ERROR"
            if t.status in ("RUNNING", "PENDING") and t.num_failures > 0:
                return "RETRY"
            if t.status == "TERMINATED":
                return "STOPPED"  # ended without all rounds in the store
            return t.status
        return "RUNNING" if self.rounds_done else "PENDING"

    @property
    def where(self) -> str:
        return (self.trial.node if self.trial and self.trial.node else self.host) or ""

    @property
    def problem(self) -> str:
        """Past failures and the last error line ("" when the trial never failed)."""
        t = self.trial
        if t is None or (not t.error and t.num_failures == 0):
            return ""
        tries = f"{t.num_failures} failure{'s' if t.num_failures != 1 else ''}"
        return f"{tries}: {t.error}" if t.error else tries

    def elapsed(self, now: float) -> float | None:
        t = self.trial
        if t is not None and t.start_time:
            end = now if self.state in ("RUNNING", "RETRY") else (t.last_result_time or now)
            return max(0.0, end - t.start_time)
        if self.first_write and self.last_write:
            end = self.last_write.timestamp() if self.state == "DONE" else now
            return max(0.0, end - self.first_write.timestamp())
        return None


@dataclass
class Snapshot:
    """The whole experiment at one moment."""

    name: str
    created: datetime | None  # the grid's start, or its latest extension's
    cells: list[CellProgress]
    taken: float = field(default_factory=time.time)
    skipped_files: list[tuple[str, str]] = field(default_factory=list)
    tune_state_file: str = ""
    rounds: pa.Table | None = field(default=None, repr=False)  # the rows read
    folder: str = ""  # the experiment folder

    @property
    def total(self) -> int:
        return sum(c.rounds_total for c in self.cells)

    @property
    def done(self) -> int:
        return sum(min(c.rounds_done, c.rounds_total) for c in self.cells)

    @property
    def complete(self) -> bool:
        return self.done >= self.total

    @property
    def finished_cells(self) -> int:
        return sum(c.rounds_done >= c.rounds_total for c in self.cells)

    @property
    def ended(self) -> bool:
        """Nothing more will come: every cell is done, or Tune has stopped every trial."""
        if self.complete:
            return True
        return bool(self.cells) and all(c.state in FINAL_STATES for c in self.cells)

    @property
    def nme_split(self) -> str:
        return next((c.nme_split for c in self.cells if c.nme_split), "")

    def elapsed(self) -> float | None:
        if self.created is None:
            return None
        end = self.taken
        if self.complete:
            ends = [c.last_write.timestamp() for c in self.cells if c.last_write]
            end = max(ends, default=end)
        return max(0.0, end - self.created.timestamp())

    def done_since_start(self) -> int:
        """Trial-rounds written since `created`: the start of the grid or, in an extended
        experiment, of the latest extension (the pace of the run going on now)."""
        if self.created is None:
            return self.done
        return sum(w >= self.created for c in self.cells for w in c.writes.values())

    def eta(self) -> float | None:
        """Remaining seconds at the average pace so far (None before the first round)."""
        el, done = self.elapsed(), self.done_since_start()
        if el is None or done == 0 or self.complete:
            return None
        return el * (self.total - self.done) / done


def cell_label(c: CellConfig, acquisition: str | None = None) -> str:
    """`arch/acquisition/b<final budget>/s<seed>`: every view's name for a cell."""
    return f"{c.arch}/{acquisition or c.acquisition.label()}/b{c.budget.final}/s{c.seed}"


def _cell_progress(entry: CellEntry) -> CellProgress:
    if entry.acquisition_label is None:  # a folder written before labels were recorded
        c = entry.cell
        return CellProgress(entry.cell_id, cell_label(c), entry.rounds, arch=c.arch,
                            acquisition=c.acquisition.label(), budget=c.budget.final)
    # The view needs four fields of the config as the folder recorded it (a full parse of
    # every cell costs about a third of a millisecond: 0.7 s for a 2,000-cell grid).
    cfg, acq = entry.config, entry.acquisition_label
    arch, final, seed = cfg["arch"], cfg["budget"]["sizes"][-1], cfg["seed"]
    return CellProgress(entry.cell_id, f"{arch}/{acq}/b{final}/s{seed}", entry.rounds,
                        arch=arch, acquisition=acq, budget=final)


def headline_split(splits: list[str]) -> str | None:
    """The split the views show: Full / test when present (the paper's headline number),
    else the first in the store's column order."""
    for s in ("full", "test"):
        if s in splits:
            return s
    return splits[0] if splits else None


def _as_utc(w: datetime | None) -> datetime | None:
    return w.replace(tzinfo=UTC) if w is not None and w.tzinfo is None else w


def _add_rounds(cells: dict[str, CellProgress], table: Any) -> None:
    split = headline_split(metric_splits(table))
    cols = ["cell_id", "round", "n_labeled", "host", "written_at"]
    cols += [f for f in NODE_USAGE_FIELDS if f in table.column_names]
    if split:
        cols.append(f"nme_{split}")
    last_round: dict[str, int] = {}
    # Column lists zipped into row dicts: a third of the cost of `to_pylist` on 20k rows.
    data = table.select(cols).to_pydict()
    for values in zip(*data.values(), strict=True):
        r = dict(zip(data, values, strict=True))
        row = cells.get(r["cell_id"])
        if row is None:
            continue  # a cell from an earlier spec version: not part of this experiment
        row.rounds_done += 1
        w = _as_utc(r["written_at"])
        if w is not None:
            row.first_write = min(row.first_write or w, w)
            row.last_write = max(row.last_write or w, w)
            row.writes[r["round"]] = w
        if r["round"] >= last_round.get(r["cell_id"], -1):
            last_round[r["cell_id"]] = r["round"]
            row.n_labeled = r["n_labeled"]
            row.host = r["host"] or ""
            row.node_usage = {f: r.get(f) for f in NODE_USAGE_FIELDS}
            row.nme = r.get(f"nme_{split}") if split else None
            row.nme_split = split or ""


def _run_start(info: ExperimentInfo) -> datetime | None:
    """When the run going on started: the grid's creation, or its latest extension's."""
    if info.extensions:
        try:
            return _as_utc(datetime.fromisoformat(info.extensions[-1].created))
        except ValueError:
            pass
    return info.created


def take_snapshot(
    experiment: ExperimentFolder | str | Path,
    trials: dict[str, TrialStatus] | None = None,
) -> Snapshot:
    """Read the experiment once.

    Args:
        experiment: the folder (or its path).
        trials: Tune's live view {cell_id: status} (the run's own dashboard); None reads
            Tune's experiment-state file from the folder instead.

    Raises:
        NotAnExperimentError: the folder holds no experiment.
    """
    folder = (experiment if isinstance(experiment, ExperimentFolder)
              else ExperimentFolder.open(experiment))
    info = folder.info
    cells = {c.cell_id: _cell_progress(c) for c in info.cells}
    read = read_table(folder.store, "rounds", columns=SNAPSHOT_COLUMNS)
    _add_rounds(cells, read.table)
    state_file = ""
    if trials is None:
        # Each Tune run of the folder (the grid's, then each extension's) knows its cells.
        trials = {}
        for tune_dir in folder.tune_dirs():
            found, name = read_tune_state(tune_dir)
            trials.update(found)
            state_file = name or state_file
    for cid, t in trials.items():
        if cid in cells:
            cells[cid].trial = t
    return Snapshot(info.name, _run_start(info), list(cells.values()),
                    skipped_files=read.skipped, tune_state_file=state_file,
                    rounds=read.table, folder=str(folder.path))
