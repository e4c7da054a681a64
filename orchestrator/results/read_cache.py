"""A reader-side cache of a result table: the rows of the files read before, in one file.

Result files are written once under unique names and never changed afterwards (a re-run
round is a new file; compaction writes a merged file, then deletes its sources), so a
listed file holds the rows it held when it was first read. Reading 2,000 small Parquet
files costs about a second on two cores, so readers that run often on whole stores
(`scaf-al status`, every watch refresh, `scaf-al report`) keep the rows they read, tagged
with their source file, in `<experiment>/results/_cache/<table>-<columns>.parquet`
(`_` names are never read as results). A read lists the table folder, keeps the cached
rows of the files still listed, reads only the files not cached yet, and rewrites the
cache when it learned something. Deduplication (`results.latest_rows`) runs afterwards on
the whole, so a read returns exactly what reading every listed file returns.

The cache is written only for tables of at least CACHE_MIN_FILES files (small stores read
fast anyway); a cache that cannot be read or written (a read-only copy of the folder, a
damaged file) is ignored, and unreadable result files are never cached, so they are
reported on every read as before.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Sequence

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from orchestrator.results.files import atomic_write, concat_tables, read_sources

#: Fewest files in a table folder for which the cache is written.
CACHE_MIN_FILES = 200
#: Column holding each cached row's source: `<file name>:<size in bytes>`.
SOURCE = "__source"
CACHE_DIR = "_cache"


def source_key(info: pafs.FileInfo) -> str:
    """What identifies a result file's contents: its (unique) name and its size."""
    return f"{info.base_name}:{info.size}"


def cache_name(table: str, columns: Sequence[str]) -> str:
    """The cache file of one table read with one column set."""
    digest = hashlib.sha1(",".join(sorted(set(columns))).encode()).hexdigest()[:12]
    return f"{table}-{digest}.parquet"


def _load(fs: pafs.FileSystem, path: str) -> pa.Table | None:
    try:
        with fs.open_input_file(path) as fh:
            table = pq.read_table(fh)
    except (OSError, pa.ArrowInvalid):
        return None  # no cache yet, or a damaged one: read the files
    return table if SOURCE in table.column_names else None


def _tagged(key: str, table: pa.Table) -> pa.Table:
    return table.append_column(SOURCE, pa.array([key] * table.num_rows, pa.string()))


def read_cached(
    fs: pafs.FileSystem, root: str, table: str, infos: list[pafs.FileInfo],
    columns: Sequence[str],
) -> tuple[list[pa.Table], list[tuple[str, str]], list[str]]:
    """The rows of the listed files `infos` of `<root>/results/<table>`, from the cache
    where it has them: (tables, unreadable files, vanished files) as `results.read_files`.
    """
    folder = f"{root}/results/{CACHE_DIR}"
    name = cache_name(table, columns)
    listed = {source_key(i): i.path for i in infos}
    cached = _load(fs, f"{folder}/{name}")
    kept: set[str] = set()
    changed = False
    if cached is not None:
        known = set(pc.unique(cached[SOURCE]).to_pylist())
        kept = known & listed.keys()
        if kept != known:  # files merged away or deleted since: their rows go too
            cached = cached.filter(pc.is_in(cached[SOURCE], pa.array(sorted(kept), pa.string())))
            changed = True
    new = [path for key, path in listed.items() if key not in kept]
    read, skipped, vanished = read_sources(fs, new, columns)
    by_path = {i.path: source_key(i) for i in infos}
    parts = ([cached] if cached is not None and cached.num_rows else [])
    parts += [_tagged(by_path[path], t) for path, t in read]
    if not parts:
        return [], skipped, vanished
    whole = concat_tables(parts)
    changed = changed or bool(read)
    if changed and not vanished and (len(infos) >= CACHE_MIN_FILES or cached is not None):
        with contextlib.suppress(OSError, pa.ArrowInvalid):
            atomic_write(whole, fs, folder, name)
    return [whole.drop_columns([SOURCE])], skipped, vanished
