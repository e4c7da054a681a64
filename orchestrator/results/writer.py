"""The trial's side of the store: one round of one cell written as `rounds` and
`selections` rows, each write its own file `part-<cell_id>-r<round>-<uuid>.parquet`.
"""

from __future__ import annotations

import json
import socket
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from orchestrator.results.files import atomic_write, fs_and_path
from orchestrator.results.node_usage import NODE_USAGE_FIELDS
from orchestrator.results.schema import SCHEMA_VERSION, SELECTION_SCHEMA, rounds_schema

if TYPE_CHECKING:
    from trainers.config.cell import CellConfig
    from trainers.loop.cell_loop import RoundResult

def _now() -> datetime:
    return datetime.now(UTC)


class ResultWriter:
    """Writes one round at a time for one cell (used inside the trial, next to the work)."""

    def __init__(self, experiment_dir: str, experiment: str) -> None:
        self.fs, self.root = fs_and_path(experiment_dir)
        self.experiment = experiment

    def write_round(
        self, cell: CellConfig, result: RoundResult, *, trial_id: str = "",
        splits: list[str] | None = None, node_usage: dict[str, float | None] | None = None,
        node_id: str | None = None,
    ) -> None:
        """Write the `rounds` row and the `selections` rows of one finished round
        (`node_usage`: the NODE_USAGE_FIELDS sampled when the round ended; `node_id`: the Ray
        node the trial ran on)."""
        cell_id = cell.cell_id()
        splits = splits or list(result.metrics)
        now = _now()
        row: dict[str, Any] = {
            "schema_version": SCHEMA_VERSION, "experiment": self.experiment,
            "cell_id": cell_id, "round": result.round, "n_labeled": result.n_labeled,
            "arch": cell.arch, "dataset": cell.data.name,
            "acquisition": cell.acquisition.name, "acq_label": cell.acquisition.label(),
            "acq_params_json": json.dumps(cell.acquisition.params, sort_keys=True),
            "budget_final": cell.budget.final,
            "budget_sizes_json": json.dumps(list(cell.budget.sizes)),
            "seed": cell.seed, "input_size": cell.model.input_size, "width": cell.model.width,
            "config_json": json.dumps(cell.to_dict(), sort_keys=True),
            "train_seconds": result.train_seconds, "score_seconds": result.score_seconds,
            "final_loss": result.final_loss, "reused_round0": result.reused_round0,
            "selected_indices": result.selected, "labeled_indices": result.labeled,
            "trainer_init": cell.trainer.init, "warm_steps": cell.trainer.warm_steps,
            "l0": cell.l0, "budget_remainder": cell.budget.remainder,
            "trial_id": trial_id, "host": socket.gethostname(), "node_id": node_id,
            "written_at": now,
            **{k: (node_usage or {}).get(k) for k in NODE_USAGE_FIELDS},
        }
        for s in splits:
            m = result.metrics.get(s, {})
            for k in ("nme", "fr", "auc"):
                row[f"{k}_{s}"] = m.get(k)
            row[f"baseline_nme_{s}"] = result.baseline.get(s)
        schema = rounds_schema(splits)
        table = pa.Table.from_pylist([row], schema=schema)
        name = f"part-{cell_id}-r{result.round:03d}-{uuid.uuid4().hex[:8]}.parquet"
        preds: Sequence[list[float] | None] = (result.selected_predictions
                                               or [None] * len(result.selected))
        # Selections first: a reader that sees the round row also sees what it picked.
        sel_rows = [
            {"schema_version": SCHEMA_VERSION, "experiment": self.experiment, "cell_id": cell_id,
             "round": result.round, "pool_index": i, "score": s, "rank": r,
             "acq_label": cell.acquisition.label(), "seed": cell.seed, "arch": cell.arch,
             "pred_landmarks": pred, "written_at": now}
            for i, s, r, pred in zip(result.selected, result.selected_scores,
                                     result.selected_ranks, preds, strict=True)
        ]
        sel = pa.Table.from_pylist(sel_rows, schema=SELECTION_SCHEMA)
        atomic_write(sel, self.fs, f"{self.root}/results/selections", name)
        atomic_write(table, self.fs, f"{self.root}/results/rounds", name)
