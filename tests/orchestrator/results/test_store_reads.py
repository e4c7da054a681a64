"""Store reads at scale: the vectorised deduplication against a plain-Python reference, and
the reader-side cache (`orchestrator.results.read_cache`) against reading every file."""

from __future__ import annotations

import random
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

import orchestrator.results.read_cache as read_cache
from orchestrator.results.compaction import compact_cell
from orchestrator.results.readers import latest_rows, read_table
from orchestrator.results.writer import ResultWriter
from tests.helpers.cells import make_cell
from tests.helpers.store import STORE_SIZES
from tests.helpers.store import store_round as _result

T0 = datetime(2026, 1, 1, tzinfo=UTC)
COLUMNS = ("cell_id", "round", "n_labeled", "final_loss")


def _reference(rows: list[dict[str, Any]], selections: bool) -> list[dict[str, Any]]:
    """The rule readers follow, written out row by row: per (cell, round) the latest
    `written_at`; among those rows one per key (rounds) or per pool index (selections),
    the last read; then by (cell, round) and read order."""
    latest: dict[tuple, datetime] = {}
    for r in rows:
        k = (r["cell_id"], r["round"])
        latest[k] = max(latest.get(k, r["written_at"]), r["written_at"])
    chosen: dict[tuple, int] = {}
    for i, r in enumerate(rows):
        if r["written_at"] == latest[(r["cell_id"], r["round"])]:
            key = (r["cell_id"], r["round"]) + ((r["pool_index"],) if selections else ())
            chosen[key] = i
    order = sorted(chosen.values(), key=lambda i: (rows[i]["cell_id"], rows[i]["round"], i))
    return [rows[i] for i in order]


@pytest.mark.parametrize("selections", [False, True])
def test_dedup_matches_the_rule_written_out(selections: bool) -> None:
    rng = random.Random(3)
    rows = []
    for n in range(600):
        rows.append({"cell_id": rng.choice(["b7", "a1", "c3", "a10"]), "round": rng.randrange(4),
                     "pool_index": rng.randrange(5),
                     "written_at": T0 + timedelta(seconds=rng.randrange(3)), "n": n})
    table = pa.Table.from_pylist(rows)
    got = latest_rows(table, "selections" if selections else "rounds").to_pylist()
    want = _reference(rows, selections)
    assert got == want
    # Not a trivial case: writes were superseded and duplicates dropped.
    assert 0 < len(want) < len(rows) // 2


def _write_cells(root: Path, cells: int, rounds: int) -> None:
    w = ResultWriter(str(root), "exp")
    for seed in range(cells):
        for r in range(rounds):
            w.write_round(make_cell(seed=seed, sizes=STORE_SIZES), _result(r))


def _uncached(root: Path) -> list[dict[str, Any]]:
    """Every file read, no cache: the reference a cached read must equal."""
    return read_table(str(root), "rounds").table.select(list(COLUMNS)).to_pylist()


def _cached(root: Path) -> list[dict[str, Any]]:
    return read_table(str(root), "rounds", columns=COLUMNS).table.select(
        list(COLUMNS)).to_pylist()


def test_cached_reads_equal_reading_every_file(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(read_cache, "CACHE_MIN_FILES", 4)
    _write_cells(tmp_path, cells=3, rounds=2)
    assert _cached(tmp_path) == _uncached(tmp_path)
    cache_files = list((tmp_path / "results" / "_cache").glob("rounds-*.parquet"))
    assert len(cache_files) == 1
    # A re-run round (a later write) wins over the cached row of the earlier one.
    ResultWriter(str(tmp_path), "exp").write_round(make_cell(seed=0, sizes=STORE_SIZES),
                                                   _result(1, loss=5.0))
    rows = _cached(tmp_path)
    assert rows == _uncached(tmp_path)
    assert [r["final_loss"] for r in rows if r["round"] == 1][0] == 5.0
    # Compaction deletes files the cache holds rows of: they must go from the read too.
    compact_cell(str(tmp_path), make_cell(seed=0, sizes=STORE_SIZES).cell_id())
    assert _cached(tmp_path) == _uncached(tmp_path)
    # A damaged cache is ignored (and rebuilt).
    cache_files[0].write_bytes(b"PAR1 not a parquet file")
    assert _cached(tmp_path) == _uncached(tmp_path)
    assert len(_cached(tmp_path)) == 3 * 2


def test_deleted_result_file_leaves_the_cached_read(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(read_cache, "CACHE_MIN_FILES", 1)
    _write_cells(tmp_path, cells=2, rounds=2)
    assert len(_cached(tmp_path)) == 4
    victim = sorted((tmp_path / "results" / "rounds").glob("part-*.parquet"))[0]
    victim.unlink()
    assert len(_cached(tmp_path)) == 3 and _cached(tmp_path) == _uncached(tmp_path)


def test_unreadable_file_is_reported_on_every_cached_read(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(read_cache, "CACHE_MIN_FILES", 1)
    _write_cells(tmp_path, cells=2, rounds=2)
    victim = sorted((tmp_path / "results" / "rounds").glob("part-*.parquet"))[1]
    victim.write_bytes(victim.read_bytes()[:40])
    for _ in range(2):  # the second read goes through the cache written by the first
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            rep = read_table(str(tmp_path), "rounds", columns=COLUMNS)
        assert [p for p, _ in rep.skipped] == [str(victim)]
        assert rep.table.num_rows == 3


def test_small_stores_write_no_cache(tmp_path: Path) -> None:
    _write_cells(tmp_path, cells=2, rounds=2)
    assert len(_cached(tmp_path)) == 4
    assert not (tmp_path / "results" / "_cache").exists()
