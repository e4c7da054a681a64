"""What a tracker shows of an experiment, read from its folder: one record per cell (its
label, tags and flattened config) and one point per finished round (its metrics at
step = labeled images). Trackers are views of the store: everything they write comes from
here, keyed by (cell id, round), so writing it twice adds nothing."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from orchestrator.progress.snapshot import cell_label
from orchestrator.results.experiment_folder import ExperimentFolder
from orchestrator.results.readers import read_table

#: Per-round metrics besides the per-split ones (seconds).
TIMING_METRICS = ("train_seconds", "score_seconds")
#: Per-split metric prefixes a tracker logs (fractions, as the store keeps them).
SPLIT_METRICS = ("nme_", "fr_", "auc_")
#: The columns a tracker reads (the store's readers add the metric columns).
TRACK_COLUMNS = ("cell_id", "round", "n_labeled", "written_at", *TIMING_METRICS)


@dataclass(frozen=True)
class Point:
    """One round of one cell: its metrics at step = labeled images."""

    round: int
    step: int
    timestamp_ms: int
    metrics: dict[str, float]


@dataclass
class CellRecord:
    """One cell as trackers show it: a run named by its label."""

    cell_id: str
    label: str
    tags: dict[str, str]
    params: dict[str, str]
    rounds_total: int = 0
    points: list[Point] = field(default_factory=list)

    @property
    def done(self) -> bool:
        return bool(self.rounds_total) and len(self.points) >= self.rounds_total


@dataclass
class ExperimentRecord:
    """The whole experiment as trackers show it."""

    name: str
    key: str  # the folder's identity: its name and creation time
    spec_text: str
    cells: list[CellRecord]
    complete: bool

    def points(self) -> int:
        return sum(len(c.points) for c in self.cells)


def flatten(config: dict[str, Any], prefix: str = "") -> dict[str, str]:
    """A nested config as dotted keys with JSON-ish values: {"model.width": "0.25"}."""
    out: dict[str, str] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            out.update(flatten(value, f"{name}."))
        elif isinstance(value, str):
            out[name] = value
        else:
            out[name] = json.dumps(value)
    return out


def _cell_record(experiment: str, cell_id: str, config: dict[str, Any], label: str,
                 acquisition: str, rounds: int) -> CellRecord:
    tags = {"experiment": experiment, "cell_id": cell_id, "arch": str(config["arch"]),
            "acquisition": acquisition, "seed": str(config["seed"]),
            "budget": str(config["budget"]["sizes"][-1])}
    return CellRecord(cell_id, label, tags, flatten(config), rounds)


def _timestamp_ms(written: datetime | None) -> int:
    return int(written.timestamp() * 1000) if written is not None else 0


def _points(table: Any) -> dict[str, list[Point]]:
    """{cell_id: points in round order} from a `rounds` table."""
    metric_cols = [c for c in table.column_names
                   if c.startswith(SPLIT_METRICS) or c in TIMING_METRICS]
    data = table.select(["cell_id", "round", "n_labeled", "written_at", *metric_cols]
                        ).to_pydict()
    out: dict[str, list[Point]] = {}
    for i, cid in enumerate(data["cell_id"]):
        metrics = {c: float(data[c][i]) for c in metric_cols if data[c][i] is not None}
        out.setdefault(cid, []).append(Point(int(data["round"][i]), int(data["n_labeled"][i]),
                                             _timestamp_ms(data["written_at"][i]), metrics))
    for pts in out.values():
        pts.sort(key=lambda p: p.round)
    return out


def read_experiment(folder: ExperimentFolder) -> ExperimentRecord:
    """Every cell of the experiment with the rounds the store holds for it (cells of an
    earlier spec version, found in the store but not in experiment.json, are left out).

    Raises:
        NotAnExperimentError: the folder holds no experiment.
    """
    info = folder.info
    table = read_table(folder.store, "rounds", columns=TRACK_COLUMNS).table
    points = _points(table)
    cells: list[CellRecord] = []
    labels: set[str] = set()
    for entry in info.cells:
        acq = entry.acquisition_label or entry.cell.acquisition.label()
        label = cell_label(entry.cell, acq)
        if label in labels:  # two budgets of one final size: the label names both
            label = f"{label}-{entry.cell_id[:8]}"
        labels.add(label)
        rec = _cell_record(info.name, entry.cell_id, entry.config, label, acq, entry.rounds)
        rec.points = points.get(entry.cell_id, [])
        cells.append(rec)
    created = info.created.isoformat() if info.created else ""
    spec_text = folder.spec_file.read_text() if folder.spec_file.is_file() else ""
    complete = all(c.done for c in cells)
    return ExperimentRecord(info.name, f"{info.name}@{created}", spec_text, cells, complete)
