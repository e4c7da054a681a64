"""The result store's tables and their schemas (version 1).

- `rounds`: one row per cell x round: key (`cell_id`, `round`), `n_labeled`, the cell's
  config columns, `nme_<split>` / `fr_<split>` / `auc_<split>` (fractions) per test split,
  `baseline_nme_<split>` (mean shape), timings, `selected_indices`, `labeled_indices`.
- `selections`: one row per selected item: `cell_id`, `round`, `pool_index`, `score`, `rank`.
"""

from __future__ import annotations

import pyarrow as pa

from orchestrator.results.node_usage import NODE_USAGE_FIELDS

SCHEMA_VERSION = 1


TABLES = ("rounds", "selections")


BASE_ROUND_FIELDS = [
    pa.field("schema_version", pa.int32()),
    pa.field("experiment", pa.string()),
    pa.field("cell_id", pa.string()),
    pa.field("round", pa.int32()),
    pa.field("n_labeled", pa.int32()),
    pa.field("arch", pa.string()),
    pa.field("dataset", pa.string()),
    pa.field("acquisition", pa.string()),
    pa.field("acq_label", pa.string()),
    pa.field("acq_params_json", pa.string()),
    pa.field("budget_final", pa.int32()),
    pa.field("budget_sizes_json", pa.string()),
    pa.field("seed", pa.int64()),
    pa.field("input_size", pa.int32()),
    pa.field("width", pa.float64()),
    pa.field("config_json", pa.string()),
    pa.field("train_seconds", pa.float64()),
    pa.field("score_seconds", pa.float64()),
    pa.field("final_loss", pa.float64()),
    pa.field("reused_round0", pa.bool_()),
    pa.field("selected_indices", pa.list_(pa.int64())),
    pa.field("labeled_indices", pa.list_(pa.int64())),
    # Protocol settings (README "Protocol settings"): how rounds start, L0, the remainder.
    pa.field("trainer_init", pa.string()),
    pa.field("warm_steps", pa.int32()),
    pa.field("l0", pa.string()),
    pa.field("budget_remainder", pa.string()),
    pa.field("trial_id", pa.string()),
    pa.field("host", pa.string()),
    # The Ray node that ran the round (nodes on one machine share `host`); null in files
    # written before it existed, and outside Ray.
    pa.field("node_id", pa.string()),
    pa.field("written_at", pa.timestamp("us", tz="UTC")),
    # What the trial's node was using when the round ended (orchestrator.results.node_usage).
    *(pa.field(name, pa.float64()) for name in NODE_USAGE_FIELDS),
]


SELECTION_SCHEMA = pa.schema([
    pa.field("schema_version", pa.int32()),
    pa.field("experiment", pa.string()),
    pa.field("cell_id", pa.string()),
    pa.field("round", pa.int32()),
    pa.field("pool_index", pa.int64()),
    pa.field("score", pa.float64()),
    pa.field("rank", pa.int32()),
    pa.field("acq_label", pa.string()),
    pa.field("seed", pa.int64()),
    pa.field("arch", pa.string()),
    # The model's predicted landmarks for the item when it was picked (M-crop frame,
    # x0 y0 x1 y1 ...); null when the acquisition never ran the model (random).
    pa.field("pred_landmarks", pa.list_(pa.float32())),
    pa.field("written_at", pa.timestamp("us", tz="UTC")),
])


METRIC_PREFIXES = ("nme_", "fr_", "auc_", "baseline_nme_")



def rounds_schema(splits: list[str]) -> pa.Schema:
    """The `rounds` schema for a data set with these test splits."""
    extra = [pa.field(f"{m}_{s}", pa.float64()) for s in splits for m in ("nme", "fr", "auc")]
    extra += [pa.field(f"baseline_nme_{s}", pa.float64()) for s in splits]
    return pa.schema(BASE_ROUND_FIELDS + extra, metadata={"schema_version": str(SCHEMA_VERSION)})


def empty_table(name: str) -> pa.Table:
    return (rounds_schema([]) if name == "rounds" else SELECTION_SCHEMA).empty_table()


KEY_COLUMNS = ("cell_id", "round", "pool_index", "written_at")


def metric_splits(table: pa.Table) -> list[str]:
    """Test splits that have an NME column, in column order."""
    return [c[len("nme_"):] for c in table.column_names if c.startswith("nme_")]
