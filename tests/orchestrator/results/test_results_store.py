"""The Parquet result store without Ray: atomic files, damaged files, dedup, schema growth."""

from __future__ import annotations

import warnings
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from orchestrator.results.readers import read_table
from orchestrator.results.writer import ResultWriter
from tests.helpers.cells import make_cell
from tests.helpers.store import STORE_SIZES, store_round


def _files(exp: Path, table: str = "rounds") -> list[Path]:
    return sorted((exp / "results" / table).iterdir())


def test_writes_are_complete_files_and_temp_names_are_never_read(tmp_path: Path) -> None:
    w = ResultWriter(str(tmp_path), "exp")
    for r in range(3):
        w.write_round(make_cell(sizes=STORE_SIZES), store_round(r))
    files = _files(tmp_path) + _files(tmp_path, "selections")
    assert files and all(f.name.startswith("part-") for f in files)
    for f in files:
        pq.read_metadata(f)  # every visible file is a whole Parquet file
    # A writer killed mid-write leaves only a `_tmp-` file: readers must not see it.
    (tmp_path / "results" / "rounds" / "_tmp-dead.parquet").write_bytes(b"PAR1\x00partial")
    rep = read_table(str(tmp_path), "rounds")
    assert rep.skipped == [] and rep.table.num_rows == 3


def test_failed_write_leaves_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import orchestrator.results.files as results

    w = ResultWriter(str(tmp_path), "exp")
    w.write_round(make_cell(sizes=STORE_SIZES), store_round(0))
    before = _files(tmp_path)

    class _Fixed:
        hex = "deadbeef" * 4

    # Make the final rename fail for real: a non-empty folder sits at the name the next
    # write will use (the name's random part is pinned so the test knows it).
    name = f"part-{make_cell(sizes=STORE_SIZES).cell_id()}-r001-deadbeef.parquet"
    target = tmp_path / "results" / "rounds" / name
    target.mkdir()
    (target / "keep").write_text("x")
    monkeypatch.setattr(results.uuid, "uuid4", lambda: _Fixed())
    with pytest.raises(OSError):
        w.write_round(make_cell(sizes=STORE_SIZES), store_round(1))
    leftovers = [f for f in _files(tmp_path) if f.name.startswith("_tmp-")]
    assert leftovers == []
    assert [f for f in _files(tmp_path) if f.is_file()] == before


def test_truncated_file_is_reported_and_skipped(tmp_path: Path) -> None:
    w = ResultWriter(str(tmp_path), "exp")
    for r in range(3):
        w.write_round(make_cell(sizes=STORE_SIZES), store_round(r))
    victim = _files(tmp_path)[1]
    data = victim.read_bytes()
    victim.write_bytes(data[: len(data) // 2])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rep = read_table(str(tmp_path), "rounds")
    assert [p for p, _ in rep.skipped] == [str(victim)]
    assert rep.table.num_rows == 2
    assert any(str(victim) in str(c.message) for c in caught)


def test_duplicate_round_keeps_latest_write(tmp_path: Path) -> None:
    w = ResultWriter(str(tmp_path), "exp")
    cell = make_cell(sizes=STORE_SIZES)
    w.write_round(cell, store_round(0, loss=1.0))
    w.write_round(cell, store_round(1, loss=1.0))
    w.write_round(cell, store_round(1, loss=2.0))  # a retried / restored round 1
    rep = read_table(str(tmp_path), "rounds")
    assert rep.duplicates_dropped == 1
    t = rep.table
    assert list(zip(t["round"].to_pylist(), t["final_loss"].to_pylist(), strict=True)) == [
        (0, 1.0), (1, 2.0)]
    sel = read_table(str(tmp_path), "selections").table
    # Round 1's two picks once (from the latest write), not four.
    assert sorted(sel.filter(pc.equal(sel["round"], 1))["pool_index"].to_pylist()) == [22, 23]


def test_later_file_with_extra_column_reads_nulls_for_earlier_rows(tmp_path: Path) -> None:
    w = ResultWriter(str(tmp_path), "exp")
    w.write_round(make_cell(seed=0, sizes=STORE_SIZES), store_round(0, splits=("test",)))
    w.write_round(make_cell(seed=1, sizes=STORE_SIZES), store_round(0, splits=("test", "hard")))
    t = read_table(str(tmp_path), "rounds").table
    assert t.num_rows == 2
    by_seed = dict(zip(t["seed"].to_pylist(), t["nme_hard"].to_pylist(), strict=True))
    assert by_seed[0] is None and by_seed[1] == pytest.approx(0.1)


def test_unwritable_results_folder_gives_clear_error(tmp_path: Path) -> None:
    # Tests run as root, so chmod would not block writes: put a regular file where the
    # experiment folder's parent should be.
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    w = ResultWriter(str(blocker / "exp"), "exp")
    with pytest.raises(OSError) as info:
        w.write_round(make_cell(sizes=STORE_SIZES), store_round(0))
    assert "not-a-folder" in str(info.value)


def test_missing_store_reads_as_empty(tmp_path: Path) -> None:
    rep = read_table(str(tmp_path), "rounds")
    assert rep.table.num_rows == 0 and rep.skipped == []
    with pytest.raises(ValueError, match="unknown result table"):
        read_table(str(tmp_path), "bogus")


def test_store_reads_and_writes_through_a_filesystem_uri(tmp_path: Path) -> None:
    from orchestrator.results.readers import read_rounds, read_selections

    exp = tmp_path / "exp"
    uri = exp.as_uri()  # file:///tmp/.../exp
    assert uri.startswith("file:///")
    writer = ResultWriter(uri, "uri")
    cell = make_cell(seed=7, sizes=STORE_SIZES)
    writer.write_round(cell, store_round(0, loss=1.0))
    writer.write_round(cell, store_round(1, loss=0.5))
    # The files land in the local folder the URI names.
    assert len(_files(exp)) == 2 and len(_files(exp, "selections")) == 2
    rows = sorted(read_rounds(uri).to_pylist(), key=lambda r: r["round"])
    # The values `store_round` wrote: n_labeled 10 + 2r, NME 0.1 * loss, picks 2r+20 and 2r+21.
    assert [(r["experiment"], r["cell_id"], r["seed"]) for r in rows] == [
        ("uri", cell.cell_id(), 7)] * 2
    assert [r["round"] for r in rows] == [0, 1]
    assert [r["n_labeled"] for r in rows] == [10, 12]
    assert [r["nme_test"] for r in rows] == pytest.approx([0.1, 0.05])
    assert [r["fr_test"] for r in rows] == [0.5, 0.5]
    assert [r["baseline_nme_test"] for r in rows] == [0.3, 0.3]
    assert [r["final_loss"] for r in rows] == [1.0, 0.5]
    assert [r["selected_indices"] for r in rows] == [[20, 21], [22, 23]]
    assert rows[1]["labeled_indices"] == list(range(12))
    sel = sorted(read_selections(uri).to_pylist(), key=lambda r: (r["round"], r["rank"]))
    assert [(r["round"], r["pool_index"], r["score"], r["rank"]) for r in sel] == [
        (0, 20, 20.0, 0), (0, 21, 21.0, 1), (1, 22, 22.0, 0), (1, 23, 23.0, 1)]
