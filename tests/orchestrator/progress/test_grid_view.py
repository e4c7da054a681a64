"""The grid view: progress aggregated by the grid's axes, within 80 columns and a line budget,
with ETA and slowness computed from measured round times (hand-computed answers)."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from rich.console import Console

from orchestrator.cli.watch import ViewOptions, watch
from orchestrator.progress.grid import estimate_eta, grid_view
from orchestrator.progress.render import grid_lines, render_grid_plain
from orchestrator.progress.snapshot import CellProgress, Snapshot, take_snapshot
from orchestrator.progress.tune_state import TrialStatus
from orchestrator.results.node_usage import cpu_percent, parse_cpu_times, parse_meminfo
from tests.helpers.cells import make_cell
from tests.helpers.store import write_info, write_round

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _cell(label: str, budget: int, rounds_total: int, round_secs: list[float],
          arch: str = "scaf", acq: str = "random", state: str = "RUNNING") -> CellProgress:
    """A cell whose rounds were written `round_secs` apart, starting at T0."""
    c = CellProgress(label, label, rounds_total, arch=arch, acquisition=acq, budget=budget)
    t = T0
    c.writes[0] = t
    for r, s in enumerate(round_secs, start=1):
        t = t + timedelta(seconds=s)
        c.writes[r] = t
    c.rounds_done = len(c.writes)
    c.trial = TrialStatus(label, state)
    return c


def test_eta_uses_each_budgets_own_round_time() -> None:
    # Budget 40: rounds of 10 s and 20 s (mean 15 s), 4 rounds, 3 done -> 1 left.
    # Budget 200: rounds of 100 s (mean 100 s), 6 rounds, 2 done -> 4 left.
    # Work left = 1 * 15 + 4 * 100 = 415 s, two trials running -> 207.5 s.
    a = _cell("a", 40, 4, [10.0, 20.0])
    b = _cell("b", 200, 6, [100.0])
    snap = Snapshot("g", T0, [a, b], taken=T0.timestamp() + 300)
    assert estimate_eta(snap) == pytest.approx(207.5)
    # A global mean over all rounds ((10 + 20 + 100) / 3 = 43.3 s) would say 5 * 43.3 / 2.
    assert estimate_eta(snap) != pytest.approx(5 * 130 / 3 / 2)


def test_slow_cells_are_flagged_against_their_peers() -> None:
    peers = [_cell(f"p{i}", 40, 9, [10.0, 10.0]) for i in range(3)]
    slow = _cell("slow", 40, 9, [35.0, 35.0])  # median of 10, 10, 10, 35 is 10 -> 3.5x
    other_budget = _cell("big", 200, 9, [90.0])  # no peers at budget 200: never flagged
    other_acq = _cell("nnm", 40, 9, [90.0], acq="nnm")  # nor for another acquisition
    view = grid_view(Snapshot("g", T0, [*peers, slow, other_budget, other_acq]))
    assert [(p.kind, p.label) for p in view.problems] == [("SLOW", "slow")]
    assert view.problems[0].detail.startswith("3.5x slower than peers")


def test_groups_count_cells_per_budget_and_failures_show_their_error() -> None:
    done = _cell("d", 40, 1, [], acq="nnm", state="TERMINATED")
    failed = _cell("f", 40, 3, [5.0], acq="nnm", state="ERROR")
    failed.trial = TrialStatus("f", "ERROR", num_failures=2, error="ValueError: boom")
    view = grid_view(Snapshot("g", T0, [done, failed]))
    (group,) = view.groups
    assert (group.done, group.total) == ({40: 1}, {40: 2})
    assert [(p.kind, p.detail) for p in view.problems] == [("ERROR",
                                                            "2 failures: ValueError: boom")]


def _thousand_cells(exp: Path) -> list:
    """2 architectures x 5 acquisitions x 2 budgets x 50 seeds = 1,000 cells; the first 120
    have a round in the store."""
    cells = [make_cell(acq, seed, sizes=sizes, arch=arch)
             for arch in ("scaf", "3fabrec")
             for acq in ("random", "nnm", "entropy", "kcenter_greedy", "nnm10")
             for sizes in ((10, 20), (10, 20, 30))
             for seed in range(50)]
    write_info(exp, cells, name="big-grid")
    for cell in cells[:120]:
        write_round(exp, cell, 0, {"test": 0.1})
    return cells


def test_a_thousand_cell_grid_fits_an_80x24_terminal(tmp_path: Path) -> None:
    exp = tmp_path / "exp"
    _thousand_cells(exp)
    snap = take_snapshot(exp)
    text = render_grid_plain(snap)
    lines = text.splitlines()
    assert len(lines) <= 24 and max(len(line) for line in lines) <= 80
    assert lines[0].startswith("big-grid: 120/2500 trial-rounds (5%), 0/1000 cells complete")
    assert lines[1].startswith("cells: 0 done, 120 running, 880 pending, 0 failed")
    # 10 architecture x acquisition rows, each with done/total for budgets 20 and 30.
    head = next(i for i, line in enumerate(lines) if line.startswith("architecture/acq"))
    assert lines[head].split()[1:] == ["b20", "b30", "NME"]
    groups = lines[head + 1: head + 11]
    assert groups[0].split() == ["scaf/random", "0/50", "0/50", "10.00%"]
    # Any grid stays within 40 lines even when the terminal is taller.
    assert len(grid_lines(snap, max_lines=200)) <= 40


def test_long_lists_end_in_n_more(tmp_path: Path) -> None:
    cells = [_cell(f"c{i}", 40, 3, [1.0], state="ERROR") for i in range(30)]
    for c in cells:
        c.trial = TrialStatus(c.label, "ERROR", 1, "RuntimeError: x")
    lines = [t for t, _ in grid_lines(Snapshot("g", T0, cells), max_lines=12)]
    assert len(lines) <= 12
    assert lines[-1].startswith("the run has stopped with cells unfinished")
    problems = lines[lines.index("problems (30)") + 1:-1]
    assert problems[-1].startswith("... ") and problems[-1].endswith(" more")
    shown = len(problems) - 1
    assert problems[-1] == f"... {30 - shown} more"


def test_cells_view_filters_by_acquisition_and_state(tmp_path: Path) -> None:
    exp = tmp_path / "exp"
    cells = [make_cell("random", 0, sizes=(10, 20)), make_cell("nnm", 0, sizes=(10, 20)),
             make_cell("nnm", 1, sizes=(10, 20))]
    write_info(exp, cells)
    write_round(exp, cells[1], 0, {"test": 0.1})
    buf = io.StringIO()
    opts = ViewOptions(cells=True, acquisition="nnm", state="running")
    assert watch(exp, once=True, options=opts, console=Console(file=buf, width=120)) == 0
    rows = [line for line in buf.getvalue().splitlines() if line.startswith("scaf/")]
    assert rows and all(r.startswith("scaf/nnm/b20/s0") for r in rows) and len(rows) == 1
    with pytest.raises(ValueError, match="--state 'sleeping' is not a cell state"):
        ViewOptions(cells=True, state="sleeping")
    with pytest.raises(ValueError, match="add --cells"):
        ViewOptions(acquisition="nnm")


def test_node_usage_parsing_known_answers() -> None:
    before = parse_cpu_times("cpu  100 0 50 800 50 0 0 0 0 0\ncpu0 1 2 3 4\n")
    after = parse_cpu_times("cpu  160 0 70 900 70 0 0 0 0 0\n")
    # busy 150 -> 230 (+80), total 1000 -> 1200 (+200): 40 % busy.
    assert before == (150, 1000) and after == (230, 1200)
    assert cpu_percent(before, after) == pytest.approx(40.0)
    used, total = parse_meminfo("MemTotal:  2048 kB\nMemFree: 100 kB\nMemAvailable: 512 kB\n")
    assert (used, total) == (1536 * 1024, 2048 * 1024)


def test_status_path_does_not_import_torch(tmp_path: Path) -> None:
    # `scaf-al status` and `watch` read specs, configs and the store: none of that needs
    # torch (about a second to import), so a status answers fast even on a laptop.
    import subprocess
    import sys

    exp = tmp_path / "exp"
    write_info(exp, [make_cell("nnm", 0, params={"window": 3})])
    code = ("import sys; from orchestrator.cli.commands import main; "
            f"assert main(['status', {str(exp)!r}]) == 0; "
            "assert 'torch' not in sys.modules, 'torch was imported'")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=Path(__file__).resolve().parents[3])
    assert done.returncode == 0, done.stderr[-2000:]
    assert "scaf/nnm(window=3)" in done.stdout
