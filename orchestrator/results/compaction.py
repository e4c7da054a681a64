"""Compaction of the result store: one Parquet file per cell instead of one per round.

A finished cell's `part-<cell>-r<round>-<id>.parquet` files (and any earlier merged file of
that cell) are read, reduced to the rows readers keep (`results.latest_rows`: latest write
per (cell, round), rows keep their own `written_at`), written as one merged file
`part-<cell>-all-<id>.parquet` through the same temp-name + rename as every write, and only
then are the files it was made from deleted.

Why any crash point is safe:
- mid-write of the merged file: only a `_tmp-` file exists, which readers never list;
- after the merged write, before or between the deletes: a key's rows are visible twice
  with the same `written_at`, and readers keep one row per key (`rounds`) or per picked
  item (`selections`), so nothing is lost and nothing is duplicated;
- a round written while compaction runs is not among the files read, so it is not deleted,
  and its later `written_at` wins as before. Re-running compaction converges to one file.
Unreadable files are left in place (readers report them) and counted in the stats.
"""

from __future__ import annotations

import contextlib
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pyarrow.fs as pafs

from orchestrator.results.files import (
    atomic_write,
    concat_tables,
    fs_and_path,
    list_files,
    read_files,
)
from orchestrator.results.readers import latest_rows
from orchestrator.results.schema import TABLES

STALE_TEMP_S = 24 * 3600.0  # a temp file this old belongs to a process that died
# `part-<cell_id>-...`: the cell id is the 16-hex config hash (trainers.config.cell.config_hash).
_CELL_OF = re.compile(r"^part-([0-9a-f]+)-")


@dataclass
class CompactionStats:
    """What compaction did, summed over cells and tables."""

    cells: int = 0
    files_read: int = 0
    files_written: int = 0
    files_deleted: int = 0
    rows_kept: int = 0
    rows_dropped: int = 0
    stale_temp_removed: int = 0
    unreadable: list[tuple[str, str]] = field(default_factory=list)

    def add(self, other: CompactionStats) -> None:
        for name in ("cells", "files_read", "files_written", "files_deleted", "rows_kept",
                     "rows_dropped", "stale_temp_removed"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.unreadable += other.unreadable

    def to_dict(self) -> dict[str, object]:
        return {"cells": self.cells, "files_read": self.files_read,
                "files_written": self.files_written, "files_deleted": self.files_deleted,
                "rows_kept": self.rows_kept, "rows_dropped": self.rows_dropped,
                "stale_temp_removed": self.stale_temp_removed,
                "unreadable": [list(u) for u in self.unreadable]}


def merged_name(cell_id: str) -> str:
    """Name of a cell's merged file (same `part-<cell>-` prefix as its round files)."""
    return f"part-{cell_id}-all-{uuid.uuid4().hex[:8]}.parquet"


def merge_table(
    fs: pafs.FileSystem, folder: str, cell_id: str, sources: list[str] | None = None
) -> tuple[list[str], CompactionStats]:
    """Step 1: write the cell's merged file for one table folder.

    Args:
        fs: the store's filesystem.
        folder: the table folder (`<experiment>/results/<table>`).
        cell_id: the cell.
        sources: the cell's files there, when the caller listed the folder already.

    Returns:
        (the files the merged file replaces, to be deleted by `delete_sources`; stats).
        Nothing is written when the cell has at most one readable file there.
    """
    stats = CompactionStats()
    if sources is None:
        sources = list_files(fs, folder, prefix=f"part-{cell_id}-")
    if len(sources) <= 1:
        return [], stats
    tables, stats.unreadable, vanished = read_files(fs, sources)
    bad = {p for p, _ in stats.unreadable}
    # Only files read here may be deleted (a vanished one was merged by someone else).
    read = [p for p in sources if p not in bad and p not in vanished]
    stats.files_read = len(read)
    if len(read) <= 1:
        return [], stats
    table = concat_tables(tables)
    kept = latest_rows(table, folder.rsplit("/", 1)[-1])
    kept = kept.replace_schema_metadata(tables[0].schema.metadata)
    atomic_write(kept, fs, folder, merged_name(cell_id))
    stats.files_written = 1
    stats.rows_kept, stats.rows_dropped = kept.num_rows, table.num_rows - kept.num_rows
    return read, stats


def delete_sources(fs: pafs.FileSystem, paths: list[str]) -> int:
    """Step 2: delete the files a merged file replaces; returns how many were deleted."""
    deleted = 0
    for path in paths:
        # Gone already: another compaction of the same cell deleted it after merging it.
        with contextlib.suppress(FileNotFoundError):
            fs.delete_file(path)
            deleted += 1
    return deleted


def compact_cell(
    store_root: str, cell_id: str, *, listed: dict[str, list[str]] | None = None
) -> CompactionStats:
    """Merge one cell's files into one file per table (`rounds` and `selections`).

    Args:
        store_root: the experiment folder (holding `results/`), local or a URI.
        cell_id: the cell's id (`CellConfig.cell_id()`).
        listed: {table: the cell's files} when the caller listed the folders already.

    Returns:
        What was read, written, deleted and left unreadable.
    """
    if not _CELL_OF.match(f"part-{cell_id}-"):
        raise ValueError(f"cell_id must be a lower-case hex cell id, got {cell_id!r}")
    fs, root = fs_and_path(store_root)
    stats = CompactionStats()
    for name in TABLES:
        sources = None if listed is None else listed.get(name, [])
        replaced, table_stats = merge_table(fs, f"{root}/results/{name}", cell_id, sources)
        table_stats.files_deleted = delete_sources(fs, replaced)
        stats.add(table_stats)
    stats.cells = 1 if stats.files_written else 0
    return stats


def files_by_cell(store_root: str) -> dict[str, dict[str, list[str]]]:
    """{cell_id: {table: its files}} from one listing of each table folder."""
    fs, root = fs_and_path(store_root)
    out: dict[str, dict[str, list[str]]] = {}
    for name in TABLES:
        for path in list_files(fs, f"{root}/results/{name}"):
            m = _CELL_OF.match(path.rsplit("/", 1)[-1])
            if m:
                out.setdefault(m.group(1), {}).setdefault(name, []).append(path)
    return out


def remove_stale_temp_files(store_root: str, older_than_s: float) -> int:
    """Delete `_tmp-` files (left by a writer, compaction or a reader's cache that died
    mid-write) not touched
    for `older_than_s` seconds; a live write finishes in seconds. Returns how many."""
    fs, root = fs_and_path(store_root)
    cutoff = datetime.now(UTC) - timedelta(seconds=older_than_s)
    removed = 0
    # The tables, and the readers' cache (orchestrator.results.read_cache writes there the
    # same way).
    for name in (*TABLES, "_cache"):
        folder = f"{root}/results/{name}"
        if fs.get_file_info(folder).type != pafs.FileType.Directory:
            continue
        for info in fs.get_file_info(pafs.FileSelector(folder)):
            if (info.type == pafs.FileType.File and info.base_name.startswith("_tmp-")
                    and info.mtime is not None and info.mtime.astimezone(UTC) < cutoff):
                with contextlib.suppress(FileNotFoundError):
                    fs.delete_file(info.path)
                    removed += 1
    return removed


def compact_store(store_root: str, *, stale_temp_s: float = STALE_TEMP_S) -> CompactionStats:
    """Compact every cell of an existing store (safe while a grid is still running), and
    remove temp files older than `stale_temp_s` seconds.

    Raises:
        FileNotFoundError: `store_root` has no `results/` folder.
    """
    fs, root = fs_and_path(store_root)
    if fs.get_file_info(f"{root}/results").type != pafs.FileType.Directory:
        raise FileNotFoundError(
            f"{store_root}: no results/ folder here (give an experiment folder of `scaf-al run`)"
        )
    stats = CompactionStats()
    # One listing for the whole store (not one per cell): files written after it are
    # simply left for the next compaction.
    for cell_id, listed in sorted(files_by_cell(store_root).items()):
        stats.add(compact_cell(store_root, cell_id, listed=listed))
    stats.stale_temp_removed = remove_stale_temp_files(store_root, stale_temp_s)
    return stats
