"""`scaf-al watch`: snapshots built from the experiment folder (result store written through
the real writer, experiment.json) and Tune's view of the trials; the state file Tune writes
is read from real runs in test_end_to_end and test_faults."""

from __future__ import annotations

import io
import threading
import time
from pathlib import Path

import pytest
from rich.console import Console

from orchestrator.cli.watch import ViewOptions, watch
from orchestrator.progress.render import render_plain, render_rich
from orchestrator.progress.snapshot import take_snapshot
from orchestrator.progress.tune_state import TrialStatus, error_line
from tests.helpers.cells import make_cell
from tests.helpers.store import write_info, write_round

CELLS = [make_cell("random", 0, sizes=(10, 20)), make_cell("nnm", 0, sizes=(10, 20))]


@pytest.fixture
def exp(tmp_path: Path) -> Path:
    exp = tmp_path / "exp"
    write_info(exp, CELLS)
    write_round(exp, CELLS[0], 0, {"test": 0.12}, selected=list(range(10, 20)))
    write_round(exp, CELLS[0], 1, {"test": 0.09})
    write_round(exp, CELLS[1], 0, {"test": 0.11}, selected=list(range(20, 30)))
    return exp


def _plain(exp: Path, interval: float, once: bool, cells: bool = True) -> str:
    buf = io.StringIO()
    assert watch(exp, interval=interval, once=once, options=ViewOptions(cells=cells),
                 console=Console(file=buf, width=200)) == 0
    return buf.getvalue()


def test_once_plain_snapshot(exp: Path) -> None:
    out = _plain(exp, 1.0, True)
    lines = out.splitlines()
    assert lines[0].startswith("test-exp: 3/4 trial-rounds (75%), 1/2 cells complete, elapsed ")
    assert "\x1b[" not in out  # not a terminal: no colour codes
    rnd = next(line for line in lines if line.startswith("scaf/random/b20/s0"))
    assert rnd.split()[1:5] == ["DONE", "2/2", "20", "9.00%"]
    nnm = next(line for line in lines if line.startswith("scaf/nnm/b20/s0"))
    # No Tune state: a cell with some rounds in the store is running.
    assert nnm.split()[1:5] == ["RUNNING", "1/2", "10", "11.00%"]
    assert len(lines) == 4


def test_errors_and_retries_render(exp: Path) -> None:
    # Tune's view of the trials (read from a real run's state file in test_end_to_end and
    # test_faults); here set directly, to check what each view makes of it.
    tb_line = "ValueError: boom at round 1"
    trials = {CELLS[0].cell_id(): TrialStatus("a_00000", "TERMINATED"),
              CELLS[1].cell_id(): TrialStatus("a_00001", "ERROR", 3, tb_line,
                                              node="10.0.0.7")}
    snap = take_snapshot(exp, trials=trials)
    assert [c.state for c in snap.cells] == ["DONE", "ERROR"]
    assert snap.ended and not snap.complete
    text = render_plain(snap)
    err = next(line for line in text.splitlines() if line.startswith("scaf/nnm"))
    assert "ERROR" in err and "10.0.0.7" in err
    assert err.endswith("! 3 failures: ValueError: boom at round 1")
    assert "scaf-al resume DIR" in text
    # A trial that failed and is running again is a retry.
    trials[CELLS[1].cell_id()] = TrialStatus("a_00001", "RUNNING", 1,
                                             "The actor died unexpectedly.")
    snap = take_snapshot(exp, trials=trials)
    assert snap.cells[1].state == "RETRY" and not snap.ended
    con = Console(file=io.StringIO(), width=160, record=True)
    con.print(render_rich(snap))
    rich_text = con.export_text()
    assert "trial-rounds" in rich_text and "3/4" in rich_text
    assert "RETRY" in rich_text and "1 failure: The actor died unexpectedly." in rich_text


def test_error_line_of_tune_error_files() -> None:
    # Tune's error file: its header, the colour-coded actor line, then the traceback.
    text = ("Failure # 1 (occurred at 2026-01-01_00-00-10)\n\x1b[36mray::ImplicitFunc.train()"
            "\x1b[39m (pid=7, ip=10.0.0.7)\n  File \"loop.py\", line 9, in run\n"
            "orchestrator.tune.trainable.InjectedFault: injected failure at round 1\n")
    assert error_line(text) == ("orchestrator.tune.trainable.InjectedFault: injected failure at "
                                "round 1")
    assert error_line("Failure # 2\nThe actor died unexpectedly.\n") == (
        "The actor died unexpectedly.")


def test_refreshes_until_complete(exp: Path) -> None:
    def finish() -> None:
        time.sleep(0.5)
        write_round(exp, CELLS[1], 1, {"test": 0.08})

    th = threading.Thread(target=finish)
    th.start()
    t0 = time.time()
    out = _plain(exp, 0.05, False)
    th.join()
    assert time.time() - t0 < 30
    blocks = [line for line in out.splitlines() if line.startswith("test-exp:")]
    # Printed when something changed only: the first view and the finished one.
    assert len(blocks) == 2
    assert blocks[0].startswith("test-exp: 3/4") and blocks[1].startswith("test-exp: 4/4")
    assert "ETA -" in blocks[1]


def test_errors(tmp_path: Path, exp: Path) -> None:
    with pytest.raises(ValueError, match="is not an experiment folder"):
        take_snapshot(tmp_path / "nothing")
    with pytest.raises(ValueError, match="--interval must be > 0"):
        watch(exp, interval=-1.0, once=True)
