"""Compaction of the result store: one file per cell, same rows, and safe at any crash point.

Crashes are real process deaths (`os._exit` in a child process at the named step), and the
store is then read by the ordinary readers: every test compares with what was read before
compaction started.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from orchestrator.results.compaction import compact_cell, compact_store, delete_sources, merge_table
from orchestrator.results.files import fs_and_path, read_files
from orchestrator.results.readers import read_table
from orchestrator.results.writer import ResultWriter
from tests.helpers.cells import make_cell
from tests.helpers.store import STORE_SIZES, store_round

REPO = Path(__file__).resolve().parents[3]


def _store(root: Path) -> tuple[str, str]:
    """Cell A: rounds 0, 1, 2 with round 1 written twice (a retry); cell B: rounds 0, 1."""
    w = ResultWriter(str(root), "exp")
    for r, loss in ((0, 1.0), (1, 1.0), (1, 2.0), (2, 1.0)):
        w.write_round(make_cell(seed=0, sizes=STORE_SIZES), store_round(r, loss=loss))
    for r in (0, 1):
        w.write_round(make_cell(seed=1, sizes=STORE_SIZES), store_round(r))
    return tuple(make_cell(seed=s, sizes=STORE_SIZES).cell_id() for s in (0, 1))


def _snapshot(root: Path) -> dict[str, list[dict[str, Any]]]:
    """What readers see: every row of both tables, in reader order."""
    out = {}
    for name in ("rounds", "selections"):
        rep = read_table(str(root), name)
        assert rep.skipped == []
        out[name] = rep.table.to_pylist()
    return out


def _files(root: Path, table: str, cell_id: str = "") -> list[str]:
    return sorted(p.name for p in (root / "results" / table).iterdir()
                  if p.name.startswith(f"part-{cell_id}"))


def test_cell_is_merged_into_one_file_per_table_with_the_same_rows(tmp_path: Path) -> None:
    a, b = _store(tmp_path)
    before = _snapshot(tmp_path)
    assert len(before["rounds"]) == 5 and len(before["selections"]) == 2 * 2 + 2 * 2
    assert len(_files(tmp_path, "rounds", a)) == 4
    stats = compact_cell(str(tmp_path), a)
    for table in ("rounds", "selections"):
        names = _files(tmp_path, table, a)
        assert len(names) == 1 and names[0].startswith(f"part-{a}-all-")
        assert len(_files(tmp_path, table, b)) == 2  # the other cell is left alone
    assert _snapshot(tmp_path) == before
    # rounds: 4 files -> 3 rows (the older round-1 write dropped); selections: the final
    # round wrote an empty file, the retried round 1 two picks that are dropped.
    assert (stats.cells, stats.files_read, stats.files_written, stats.files_deleted) == (
        1, 8, 2, 8)
    assert (stats.rows_kept, stats.rows_dropped) == (3 + 4, 1 + 2)


def test_later_round_still_wins_over_a_merged_file(tmp_path: Path) -> None:
    a, _ = _store(tmp_path)
    compact_cell(str(tmp_path), a)
    ResultWriter(str(tmp_path), "exp").write_round(make_cell(seed=0, sizes=STORE_SIZES),
                                                   store_round(1, loss=3.0))
    losses = {r["round"]: r["final_loss"] for r in read_table(str(tmp_path), "rounds").table
              .to_pylist() if r["cell_id"] == a}
    assert losses == {0: 1.0, 1: 3.0, 2: 1.0}
    compact_cell(str(tmp_path), a)  # merges the merged file with the new round
    assert len(_files(tmp_path, "rounds", a)) == 1
    again = {r["round"]: r["final_loss"] for r in read_table(str(tmp_path), "rounds").table
             .to_pylist() if r["cell_id"] == a}
    assert again == losses


def test_store_compaction_and_idempotence(tmp_path: Path) -> None:
    _store(tmp_path)
    before = _snapshot(tmp_path)
    stats = compact_store(str(tmp_path))
    assert stats.cells == 2 and stats.files_written == 4
    assert all(len(_files(tmp_path, t)) == 2 for t in ("rounds", "selections"))
    assert _snapshot(tmp_path) == before
    assert compact_store(str(tmp_path)).files_written == 0  # nothing left to merge
    with pytest.raises(FileNotFoundError, match="no results/ folder"):
        compact_store(str(tmp_path / "nowhere"))


def test_steps_stopped_between_merge_and_deletes_lose_and_duplicate_nothing(
    tmp_path: Path,
) -> None:
    a, _ = _store(tmp_path)
    before = _snapshot(tmp_path)
    fs, root = fs_and_path(str(tmp_path))
    replaced = {t: merge_table(fs, f"{root}/results/{t}", a)[0] for t in ("rounds", "selections")}
    assert _snapshot(tmp_path) == before  # merged file and all its sources visible
    delete_sources(fs, replaced["rounds"][:2])  # stopped half-way through the deletes
    assert _snapshot(tmp_path) == before
    compact_cell(str(tmp_path), a)  # the next compaction converges
    assert len(_files(tmp_path, "rounds", a)) == len(_files(tmp_path, "selections", a)) == 1
    assert _snapshot(tmp_path) == before


def _run_child(root: Path, cell_id: str, crash: str) -> int:
    """Compact `cell_id` in a child process that dies (os._exit) at the `crash` point."""
    code = textwrap.dedent(f"""
        import os
        import orchestrator.results.compaction as compaction
        import orchestrator.results.files as results

        real_delete, real_write = compaction.delete_sources, results.pq.write_table

        def delete_one_then_die(fs, paths):
            real_delete(fs, paths[:1])
            os._exit(3)

        def write_half_then_die(table, out, **kw):
            import pyarrow as pa
            sink = pa.BufferOutputStream()
            real_write(table, sink, **kw)
            data = sink.getvalue().to_pybytes()
            out.write(data[: len(data) // 2])
            out.flush()
            os._exit(3)

        if {crash!r} == "delete":
            compaction.delete_sources = delete_one_then_die
        else:
            results.pq.write_table = write_half_then_die
        compaction.compact_cell({str(root)!r}, {cell_id!r})
    """)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-c", code], env=env, timeout=120).returncode


@pytest.mark.parametrize("crash", ["delete", "write"])
def test_process_killed_mid_compaction_loses_and_duplicates_nothing(
    tmp_path: Path, crash: str
) -> None:
    a, _ = _store(tmp_path)
    before = _snapshot(tmp_path)
    assert _run_child(tmp_path, a, crash) == 3
    # `rounds` is compacted first, so the child dies there.
    folder = tmp_path / "results" / "rounds"
    tmp_files = [p.name for p in folder.iterdir() if p.name.startswith("_tmp-")]
    if crash == "write":
        # The merged file died half-written under its temp name; nothing was deleted.
        assert len(tmp_files) == 1 and len(_files(tmp_path, "rounds", a)) == 4
    else:
        # Merged file written, one source deleted: 1 merged + 3 of the 4 sources.
        assert tmp_files == [] and len(_files(tmp_path, "rounds", a)) == 1 + 3
    assert _snapshot(tmp_path) == before
    compact_cell(str(tmp_path), a)
    assert _snapshot(tmp_path) == before
    assert len(_files(tmp_path, "rounds", a)) == 1


def test_unreadable_file_is_left_in_place_and_reported(tmp_path: Path) -> None:
    a, _ = _store(tmp_path)
    victim = tmp_path / "results" / "rounds" / _files(tmp_path, "rounds", a)[0]
    victim.write_bytes(victim.read_bytes()[:40])
    stats = compact_cell(str(tmp_path), a)
    assert [p for p, _ in stats.unreadable] == [str(victim)]
    assert victim.exists() and len(_files(tmp_path, "rounds", a)) == 2  # it + the merged file


def test_a_file_gone_between_listing_and_reading_is_told_apart(tmp_path: Path) -> None:
    _store(tmp_path)
    fs, _ = fs_and_path(str(tmp_path))
    real = str(tmp_path / "results" / "rounds" / _files(tmp_path, "rounds")[0])
    gone = str(tmp_path / "results" / "rounds" / "part-0000000000000000-r000-x.parquet")
    tables, skipped, vanished = read_files(fs, [real, gone])
    assert len(tables) == 1 and skipped == [] and vanished == [gone]


def test_store_compaction_removes_only_stale_temp_files(tmp_path: Path) -> None:
    _store(tmp_path)
    folder = tmp_path / "results" / "rounds"
    old, fresh = folder / "_tmp-old.parquet", folder / "_tmp-fresh.parquet"
    cache = tmp_path / "results" / "_cache"
    cache.mkdir()
    old_cache = cache / "_tmp-rounds-cache.parquet"
    for f in (old, fresh, old_cache):
        f.write_bytes(b"PAR1 half")
    day_ago = time.time() - 25 * 3600
    os.utime(old, (day_ago, day_ago))
    os.utime(old_cache, (day_ago, day_ago))
    stats = compact_store(str(tmp_path))
    assert stats.stale_temp_removed == 2 and not old.exists() and fresh.exists()
    assert not old_cache.exists()
