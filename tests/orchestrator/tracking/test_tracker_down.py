"""The driver's tracker thread with a real MLflow server that is unreachable when tracking
starts, comes up, goes away mid-run and comes back: each outage is reported once, rounds
written meanwhile arrive when it is back, and no run or point is written twice.

The server is taken off the network by a TCP relay in front of it (its port refuses
connections while down, as a stopped server's does), so the test needs no server restart
(half a minute each)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from orchestrator.results.experiment_folder import ExperimentFolder
from orchestrator.tracking.background import BackgroundTracker
from orchestrator.tracking.mlflow_sink import MlflowSink
from orchestrator.tracking.tensorboard_sink import TensorboardSink
from tests.helpers.cells import make_cell
from tests.helpers.servers.mlflow import TcpRelay
from tests.helpers.store import STORE_SIZES, write_info, write_round
from tests.helpers.tracking import (
    mlflow_artefacts,
    mlflow_history,
    mlflow_run_count,
    mlflow_runs,
    tb_scalars,
    wait_until,
)

NAME = "tracker-down"
LABELS = ("scaf/random/b14/s0", "scaf/random/b14/s1")
NME = (0.3, 0.2, 0.1)  # per round, both cells


def _points(uri: str) -> int:
    runs = mlflow_runs(uri, NAME)
    return sum(len(mlflow_history(uri, runs[lab], "nme_test")) for lab in LABELS if lab in runs)


def _round(exp: Path, cells: list[Any], r: int, tracker: BackgroundTracker) -> None:
    for cell in cells:
        write_round(exp, cell, r, {"test": NME[r]})
    tracker.poke()


def test_tracker_down_at_start_and_mid_run_loses_and_doubles_nothing(
        tmp_path: Path, mlflow_server: Any) -> None:
    uri, exp = mlflow_server.uri, tmp_path / "exp"
    cells = [make_cell("random", s, sizes=STORE_SIZES) for s in (0, 1)]
    write_info(exp, cells, name=NAME)
    notices: list[str] = []
    relay = TcpRelay(mlflow_server.port)  # down at start: nothing listens on its port
    tracker = BackgroundTracker(
        ExperimentFolder(exp), [MlflowSink(relay.uri), TensorboardSink(tmp_path / "tb")],
        notices.append, interval=0.2, retry=0.5).start()
    try:
        _round(exp, cells, 0, tracker)
        wait_until(lambda: any("failed" in n for n in notices), what="the outage notice")
        # TensorBoard is a folder: it is not held up by the MLflow server being away.
        wait_until(lambda: len(tb_scalars(tmp_path / "tb" / NAME / LABELS[1], "nme_test")) == 1,
                   what="round 0 in TensorBoard")
        relay.up()
        wait_until(lambda: _points(uri) == 2, what="round 0 in MLflow once reachable")
        relay.down()  # away mid-run
        _round(exp, cells, 1, tracker)
        wait_until(lambda: sum("failed" in n for n in notices) == 2, what="the second notice")
        relay.up()
        _round(exp, cells, 2, tracker)
        assert tracker.finish(timeout=120)
    finally:
        tracker.finish(timeout=1)
        relay.down()
    failed = [n for n in notices if "failed" in n]
    back = [n for n in notices if "reachable again" in n]
    assert len(failed) == 2 and len(back) == 2, notices  # each outage once, each return once
    assert all(relay.uri in n for n in failed)
    runs = mlflow_runs(uri, NAME)
    assert mlflow_run_count(uri, NAME) == 3
    for label in LABELS:
        assert mlflow_history(uri, runs[label], "nme_test") == list(
            zip(STORE_SIZES, NME, strict=True))
        assert tb_scalars(tmp_path / "tb" / NAME / label, "nme_test") == [
            (s, round(v, 6)) for s, v in zip(STORE_SIZES, NME, strict=True)]
    assert {"report.html", "report.md", "learning_curves.png"} <= mlflow_artefacts(
        uri, runs[NAME])
