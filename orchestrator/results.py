"""The result store: Parquet tables under `<experiment>/results/`, on any pyarrow filesystem.

Tables (schema version 1):
- `rounds`: one row per cell x round: key (`cell_id`, `round`), `n_labeled`, the cell's
  config columns, `nme_<split>` / `fr_<split>` / `auc_<split>` (fractions) per test split,
  `baseline_nme_<split>` (mean shape), timings, `selected_indices`, `labeled_indices`.
- `selections`: one row per selected item: `cell_id`, `round`, `pool_index`, `score`, `rank`.

Each write is its own file `part-<cell_id>-r<round>-<uuid>.parquet`, written under a `_tmp-`
name and renamed, so readers never see half a file (discovery skips `_`/`.` prefixes).
A finished cell's files are merged into one `part-<cell_id>-all-<uuid>.parquet`
(orchestrator/compaction.py) without changing what readers see. A
re-run round writes a new file; readers keep the latest `written_at` per (`cell_id`,
`round`), so retries and restores never show a duplicate key. Columns that appear in later
files (new splits, new fields) read as nulls in earlier ones. No pickles, only Parquet.
"""

from __future__ import annotations

import contextlib
import json
import socket
import uuid
import warnings
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from orchestrator.node_usage import NODE_USAGE_FIELDS
from orchestrator.store_keys import int_column, key_codes

if TYPE_CHECKING:
    from trainers.cell import CellConfig
    from trainers.loop import RoundResult

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
    pa.field("written_at", pa.timestamp("us", tz="UTC")),
    # What the trial's node was using when the round ended (orchestrator.node_usage).
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
# Display order of known test splits; others follow in the store's column order.
SPLIT_ORDER = ("common", "challenging", "full", "test", "pose", "expression", "illumination",
               "makeup", "occlusion", "blur")


def rounds_schema(splits: list[str]) -> pa.Schema:
    """The `rounds` schema for a data set with these test splits."""
    extra = [pa.field(f"{m}_{s}", pa.float64()) for s in splits for m in ("nme", "fr", "auc")]
    extra += [pa.field(f"baseline_nme_{s}", pa.float64()) for s in splits]
    return pa.schema(BASE_ROUND_FIELDS + extra, metadata={"schema_version": str(SCHEMA_VERSION)})


def fs_and_path(root: str) -> tuple[pafs.FileSystem, str]:
    """A pyarrow filesystem and path for a local folder or a URI (s3://, gs://, file://)."""
    if "://" in str(root):
        return pafs.FileSystem.from_uri(str(root))
    return pafs.LocalFileSystem(), str(root)


def atomic_write(table: pa.Table, fs: pafs.FileSystem, folder: str, name: str) -> str:
    """Write `table` as `folder/name` via a `_tmp-` name and a rename; returns the path."""
    fs.create_dir(folder, recursive=True)
    tmp = f"{folder}/_tmp-{uuid.uuid4().hex}.parquet"
    final = f"{folder}/{name}"
    try:
        with fs.open_output_stream(tmp) as out:
            pq.write_table(table, out)
        fs.move(tmp, final)
    except BaseException:
        with contextlib.suppress(OSError):
            fs.delete_file(tmp)
        raise
    return final


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
    ) -> None:
        """Write the `rounds` row and the `selections` rows of one finished round
        (`node_usage`: the NODE_USAGE_FIELDS sampled when the round ended)."""
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
            "trial_id": trial_id, "host": socket.gethostname(), "written_at": now,
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
        preds = result.selected_predictions or [None] * len(result.selected)
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


@dataclass
class ReadReport:
    """What a read found: the deduplicated table and the files it had to skip (and why)."""

    table: pa.Table
    skipped: list[tuple[str, str]] = field(default_factory=list)
    duplicates_dropped: int = 0


def read_table(experiment_dir: str, name: str,
               columns: Sequence[str] | None = None) -> ReadReport:
    """Read a result table, skipping unreadable files (reported, with a warning).

    A file that vanishes between listing and reading was merged away by compaction (which
    writes the merged file before deleting its sources): the folder is listed again.

    Args:
        experiment_dir: the experiment folder (a path or a pyarrow filesystem URI).
        name: "rounds" or "selections".
        columns: read only these columns (plus every metric column and the keys), e.g. to
            leave out the index lists; None reads all.
    """
    if name not in TABLES:
        raise ValueError(f"unknown result table {name!r}; tables: {', '.join(TABLES)}")
    fs, root = fs_and_path(experiment_dir)
    folder = f"{root}/results/{name}"
    for _attempt in range(5):
        if columns is None:
            tables, skipped, vanished = read_files(fs, list_files(fs, folder), columns)
        else:
            # Readers that name their columns (status, watch, report) read whole stores
            # often: the files already read come from one cache file.
            from orchestrator.read_cache import read_cached

            tables, skipped, vanished = read_cached(
                fs, root, name, list_file_infos(fs, folder), columns)
        if not vanished:
            break
    for path, why in skipped:
        warnings.warn(f"result file {path} is unreadable and was skipped: {why}", stacklevel=2)
    if not tables:
        empty = empty_table(name)
        if columns is not None:
            empty = empty.select([c for c in empty.column_names if _wanted(c, columns)])
        return ReadReport(empty, skipped)
    table = concat_tables(tables)
    n = table.num_rows
    table = latest_rows(table, name)
    return ReadReport(table, skipped, n - table.num_rows)


def empty_table(name: str) -> pa.Table:
    return (rounds_schema([]) if name == "rounds" else SELECTION_SCHEMA).empty_table()


def list_files(fs: pafs.FileSystem, folder: str, prefix: str = "") -> list[str]:
    """Visible Parquet files of a table folder (sorted; `_`/`.` names are work files)."""
    return [f.path for f in list_file_infos(fs, folder, prefix)]


def list_file_infos(fs: pafs.FileSystem, folder: str, prefix: str = "") -> list[pafs.FileInfo]:
    """`list_files` with each file's info (size, modification time), sorted by path."""
    if fs.get_file_info(folder).type == pafs.FileType.NotFound:
        return []
    return sorted(
        (f for f in fs.get_file_info(pafs.FileSelector(folder))
         if f.type == pafs.FileType.File and f.base_name.endswith(".parquet")
         and not f.base_name.startswith(("_", ".")) and f.base_name.startswith(prefix)),
        key=lambda f: f.path,
    )


KEY_COLUMNS = ("cell_id", "round", "pool_index", "written_at")


def _wanted(column: str, columns: Sequence[str]) -> bool:
    return column in columns or column in KEY_COLUMNS or column.startswith(METRIC_PREFIXES)


def read_files(
    fs: pafs.FileSystem, paths: list[str], columns: Sequence[str] | None = None,
) -> tuple[list[pa.Table], list[tuple[str, str]], list[str]]:
    """(tables read, (path, why) of unreadable files, paths that no longer exist);
    `columns`: see `read_table`."""
    read, skipped, vanished = read_sources(fs, paths, columns)
    return [t for _, t in read], skipped, vanished


def read_sources(
    fs: pafs.FileSystem, paths: list[str], columns: Sequence[str] | None = None,
) -> tuple[list[tuple[str, pa.Table]], list[tuple[str, str]], list[str]]:
    """`read_files` with each table's path: ([(path, table)], unreadable, vanished).

    Small files are read several at a time (pyarrow releases the GIL while it parses), each
    on one thread: a file's own thread pool costs more than it saves at this size.
    """
    read, skipped, vanished = [], [], []
    with ThreadPoolExecutor(max_workers=READ_THREADS) as pool:
        outcomes = list(pool.map(lambda p: _read_one(fs, p, columns), paths))
    for path, outcome in zip(paths, outcomes, strict=True):
        if isinstance(outcome, pa.Table):
            read.append((path, outcome))
        elif isinstance(outcome, FileNotFoundError):
            vanished.append(path)
        else:
            skipped.append((path, str(outcome).splitlines()[0]))
    return read, skipped, vanished


READ_THREADS = 8


def _read_one(fs: pafs.FileSystem, path: str,
              columns: Sequence[str] | None) -> pa.Table | Exception:
    """One result file, or the error that kept it from being read."""
    try:
        with fs.open_input_file(path) as fh:
            pf = pq.ParquetFile(fh)
            names = None if columns is None else [c for c in pf.schema_arrow.names
                                                  if _wanted(c, columns)]
            return pf.read(columns=names, use_threads=False)
    except (OSError, pa.ArrowInvalid) as e:  # FileNotFoundError is an OSError
        return e


def concat_tables(tables: list[pa.Table]) -> pa.Table:
    """One table from files of different schema generations (missing columns read null)."""
    # Files of one schema generation are joined as they are (cheap); only the few
    # generations are cast, instead of every file.
    by_schema: dict[pa.Schema, list[pa.Table]] = {}
    for t in tables:
        by_schema.setdefault(t.schema.remove_metadata(), []).append(t)
    joined = [pa.concat_tables([t.replace_schema_metadata() for t in group])
              if len(group) > 1 else group[0] for group in by_schema.values()]
    if len(joined) == 1:
        return joined[0]
    schema = pa.unify_schemas([t.schema for t in joined], promote_options="permissive")
    return pa.concat_tables([t.cast(_widen(t.schema, schema)) for t in joined],
                            promote_options="permissive")


def _widen(have: pa.Schema, want: pa.Schema) -> pa.Schema:
    """`have`'s own fields with the unified types (concat fills the missing columns)."""
    return pa.schema([want.field(f.name) for f in have])


def latest_rows(table: pa.Table, name: str) -> pa.Table:
    """The rows readers keep: per (cell_id, round), those of the latest write; one row per
    key in `rounds`, one per picked item in `selections` (a merged file and a source it
    was merged from may both be visible for a moment: the same write, read twice)."""
    key = ["cell_id", "round"]
    return _latest_per_key(table, key, key if name == "rounds" else [*key, "pool_index"])


def _latest_per_key(table: pa.Table, group: list[str], unique_by: list[str]) -> pa.Table:
    """Keep, per `group` key, only the rows of the latest write (`written_at`), and at most
    one row per `unique_by` key (the last one read).

    Vectorised with numpy (one sort of integer codes) because readers call it on every
    refresh of a whole store: a group-by + join on 20,000 string keys took 0.6 s.
    """
    n = table.num_rows
    if n == 0:
        return table
    group_code = key_codes(table, group)
    written = int_column(table["written_at"])
    row = np.arange(n, dtype=np.int64)
    # By group, then write time, then read order: a group's latest write ends its run.
    order = np.lexsort((row, written, group_code))
    g, w = group_code[order], written[order]
    run_end = np.r_[g[1:] != g[:-1], True]
    run_of = np.r_[0, np.cumsum(run_end[:-1])]  # each sorted row's run (group) number
    latest_w = w[np.flatnonzero(run_end)][run_of]
    keep = order[w == latest_w]
    extra = [c for c in unique_by if c not in group]
    if extra:
        # Among the latest write's rows, one per unique key: the last read.
        unique_code = key_codes(table.take(keep), extra)
        by_key = np.lexsort((keep, unique_code, group_code[keep]))
        k, u = group_code[keep][by_key], unique_code[by_key]
        last = np.r_[(k[1:] != k[:-1]) | (u[1:] != u[:-1]), True]
        keep = keep[by_key][last]
    else:
        keep = order[np.flatnonzero(run_end)]
    # Rows of one write stay in their written order (selections by rank).
    keep = keep[np.lexsort((keep, group_code[keep]))]
    return table.take(pa.array(keep))


def read_rounds(experiment_dir: str) -> pa.Table:
    """The `rounds` table, one row per (cell_id, round)."""
    return read_table(experiment_dir, "rounds").table


def read_selections(experiment_dir: str) -> pa.Table:
    """The `selections` table, one row per (cell_id, round, pool_index)."""
    return read_table(experiment_dir, "selections").table


def metric_splits(table: pa.Table) -> list[str]:
    """Test splits that have an NME column, in column order."""
    return [c[len("nme_"):] for c in table.column_names if c.startswith("nme_")]
