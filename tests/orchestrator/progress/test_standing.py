"""The live view's standings: each method's AUBC over its finished seeds and its corrected
verdicts against random, shown once three seeds of a configuration have finished."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console

from orchestrator.cli.watch import watch
from orchestrator.progress.grid import grid_view
from orchestrator.progress.render import render_grid_plain
from orchestrator.progress.snapshot import take_snapshot
from orchestrator.report.html import progress_section
from tests.helpers.cells import make_cell
from tests.helpers.store import write_info, write_round

# NME (fractions) at 10 and 20 labeled images, by seed; round 0 shared per seed.
RANDOM = {0: (0.12, 0.08), 1: (0.12, 0.10), 2: (0.12, 0.09)}
NNM = {0: (0.12, 0.10), 1: (0.12, 0.11), 2: (0.12, 0.12)}
HEAD = "AUBC so far, vs random (test)"


def _grid(exp: Path, seeds: int) -> list:
    """random and nnm, `seeds` seeds finished; a third nnm seed still running."""
    cells = []
    for acq, table in (("random", RANDOM), ("nnm", NNM)):
        for seed in range(3):
            cell = make_cell(acq, seed, sizes=(10, 20))
            cells.append(cell)
            for rnd in range(2 if seed < seeds else 1):
                write_round(exp, cell, rnd, {"test": table[seed][rnd]})
    write_info(exp, cells)
    return cells


def test_no_standing_before_three_finished_seeds(tmp_path: Path) -> None:
    exp = tmp_path / "exp"
    _grid(exp, seeds=2)
    snap = take_snapshot(exp)
    assert grid_view(snap).standings is None
    assert HEAD not in render_grid_plain(snap)


def test_aubc_and_standing_at_three_finished_seeds(tmp_path: Path) -> None:
    exp = tmp_path / "exp"
    cells = _grid(exp, seeds=2)
    write_round(exp, cells[2], 1, {"test": RANDOM[2][1]})  # random's third seed finishes
    write_round(exp, cells[5], 1, {"test": NNM[2][1]})  # and nnm's
    st = grid_view(take_snapshot(exp)).standings
    assert st is not None and st.split == "test"
    rows = {r.method: r for r in st.rows}
    # AUBC over sizes 10 and 20 = (e10 + e20) / 2 per seed, in %:
    # random (10, 11, 10.5) -> 10.5; nnm (11, 11.5, 12) -> 11.5, sd 0.5.
    assert rows["scaf/random"].aubc == pytest.approx(10.5) and rows["scaf/random"].seeds == 3
    assert rows["scaf/nnm"].aubc == pytest.approx(11.5)
    # nnm - random: at 10 (0, 0, 0), no test -> n.s.; at 20 (2, 1, 3): t = 2 / (1 / sqrt(3))
    # = 3.46, df = 2, p = 1 - 3.46 / sqrt(14) = 0.074, Holm over a family of 1 -> n.s.
    assert st.family == 1
    assert rows["scaf/nnm"].text() == "n.s. 2/2" and rows["scaf/random"].text() == "reference"
    buf = io.StringIO()
    assert watch(exp, once=True, console=Console(file=buf, width=80)) == 0
    lines = buf.getvalue().splitlines()
    head = lines.index(next(line for line in lines if line.startswith(HEAD)))
    assert lines[head].endswith("Holm over 1")
    assert lines[head + 1].split() == ["scaf/random", "10.50%", "3", "reference"]
    assert lines[head + 2].split() == ["scaf/nnm", "11.50%", "3", "n.s.", "2/2"]
    assert max(len(line) for line in lines) <= 80
    # The HTML page's progress section shows the same.
    page = progress_section(take_snapshot(exp))
    assert "<td>scaf/nnm</td><td>11.50 ± 0.50</td><td>3</td><td>n.s. 2/2</td>" in page
