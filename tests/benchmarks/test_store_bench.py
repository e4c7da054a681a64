"""The store benchmark's generated store reads as a finished grid, in both layouts: every
cell done with all its rounds, the same rows whether compacted or per round."""

from __future__ import annotations

from pathlib import Path

from benchmarks.store import PICKS_PER_ROUND, ROUNDS_PER_CELL, generate_store, read_timings
from orchestrator.progress.snapshot import take_snapshot
from orchestrator.report.tables import load_report
from orchestrator.results.readers import read_table


def test_generated_store_reads_as_a_finished_grid(tmp_path: Path) -> None:
    seeds = 2  # 2 architectures x 5 acquisitions x 2 budgets x 2 seeds = 40 cells
    compacted = generate_store(tmp_path / "c", n_seeds=seeds)
    per_round = generate_store(tmp_path / "r", n_seeds=seeds, per_round=True)
    cells = 2 * 5 * 2 * seeds
    assert len(list((compacted / "results" / "rounds").iterdir())) == cells
    assert len(list((per_round / "results" / "rounds").iterdir())) == cells * ROUNDS_PER_CELL
    for folder in (compacted, per_round):
        snap = take_snapshot(folder)
        assert len(snap.cells) == cells and snap.done == snap.total == cells * ROUNDS_PER_CELL
        assert {c.state for c in snap.cells} == {"DONE"}
        sel = read_table(str(folder), "selections")
        assert sel.table.num_rows == cells * ROUNDS_PER_CELL * PICKS_PER_ROUND
        assert sel.duplicates_dropped == 0
    # 2 architectures x 5 acquisitions x 2 budget schedules: 20 rows of methods.
    rep = load_report(compacted)
    assert len(rep.datasets) == 1 and len(rep.datasets[0].methods) == 20
    assert rep.datasets[0].max_seeds == seeds
    times = read_timings(compacted, repeats=1)
    assert set(times) == {"status", "status.first", "watch_refresh", "watch_refresh.first",
                          "report", "report.first"}
