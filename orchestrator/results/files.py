"""Parquet files of the result store, on any pyarrow filesystem: atomic writes, listing,
and reading many small files (the layer under the writer, the readers and compaction).

Each write is its own file, written under a `_tmp-` name and renamed, so readers never see
half a file (discovery skips `_`/`.` prefixes). No pickles, only Parquet.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from orchestrator.results.schema import KEY_COLUMNS, METRIC_PREFIXES


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


def wanted_column(column: str, columns: Sequence[str]) -> bool:
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
                                                  if wanted_column(c, columns)]
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
