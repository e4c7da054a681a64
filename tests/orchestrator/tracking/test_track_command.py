"""`scaf-al track DIR` against a real MLflow server and TensorBoard files: one parent run,
one run per cell named by its label with its config and tags, one point per round at
step = labeled images; tracking again after more rounds adds only those, and tracking a
finished experiment again adds nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from orchestrator.cli.commands import main
from tests.helpers.cells import make_cell
from tests.helpers.store import STORE_SIZES, write_info, write_round
from tests.helpers.tracking import (
    mlflow_artefacts,
    mlflow_history,
    mlflow_run_count,
    mlflow_runs,
    tb_scalars,
    tb_tags,
)

NAME = "track-cmd"
LABELS = ("scaf/random/b14/s0", "scaf/nnm(window=3)/b14/s1")
# NME per cell and round (fractions), as written into the store below.
NME = {LABELS[0]: [0.20, 0.18, 0.15], LABELS[1]: [0.25, 0.17, 0.12]}


def _track(exp: Path, uri: str, tb: Path) -> None:
    assert main(["track", str(exp), "--mlflow", uri, "--tensorboard", str(tb)]) == 0


def _write(exp: Path, cells: list[Any], rounds: range) -> None:
    for label, cell in zip(LABELS, cells, strict=True):
        for r in rounds:
            write_round(exp, cell, r, {"test": NME[label][r]})


def _check_mlflow(uri: str, cells: list[Any], rounds: int) -> None:
    runs = mlflow_runs(uri, NAME)
    assert set(runs) == {NAME, *LABELS}
    assert mlflow_run_count(uri, NAME) == 3  # no run twice
    parent = runs[NAME].info.run_id
    for label, cell in zip(LABELS, cells, strict=True):
        run = runs[label]
        tags = run.data.tags
        assert tags["mlflow.parentRunId"] == parent
        assert {k: tags[k] for k in ("experiment", "cell_id", "arch", "acquisition", "seed")} \
            == {"experiment": NAME, "cell_id": cell.cell_id(), "arch": "scaf",
                "acquisition": label.split("/")[1], "seed": label[-1]}
        assert run.data.params["trainer.steps"] == "400"  # CellConfig's default
        assert run.data.params["acquisition.name"] == label.split("/")[1].split("(")[0]
        steps = list(STORE_SIZES[:rounds])
        assert mlflow_history(uri, run, "nme_test") == list(
            zip(steps, NME[label][:rounds], strict=True))
        assert mlflow_history(uri, run, "train_seconds") == [(s, 1.0) for s in steps]
        assert mlflow_history(uri, run, "score_seconds") == [(s, 0.5) for s in steps]
        assert mlflow_history(uri, run, "auc_test") == [(s, 0.5) for s in steps]
        assert mlflow_history(uri, run, "fr_test") == [(s, 0.0) for s in steps]
    assert runs[LABELS[1]].data.params["acquisition.params.window"] == "3"


def _check_tensorboard(tb: Path, rounds: int) -> None:
    steps = list(STORE_SIZES[:rounds])
    for label in LABELS:
        run_dir = tb / NAME / label
        assert tb_scalars(run_dir, "nme_test") == [
            (s, round(v, 6)) for s, v in zip(steps, NME[label][:rounds], strict=True)]
        assert tb_scalars(run_dir, "train_seconds") == [(s, 1.0) for s in steps]
        assert {"params/text_summary", "tags/text_summary"} <= set(tb_tags(run_dir)["tensors"])
    assert "spec/text_summary" in tb_tags(tb / NAME)["tensors"]


def test_track_writes_what_is_missing_once(tmp_path: Path, mlflow_server: Any) -> None:
    uri, tb, exp = mlflow_server.uri, tmp_path / "tb", tmp_path / "exp"
    cells = [make_cell("random", 0, sizes=STORE_SIZES),
             make_cell("nnm", 1, {"window": 3}, sizes=STORE_SIZES)]
    write_info(exp, cells, name=NAME)
    _write(exp, cells, range(1))
    _track(exp, uri, tb)
    _check_mlflow(uri, cells, rounds=1)
    _check_tensorboard(tb, rounds=1)
    assert "report.html" not in mlflow_artefacts(uri, mlflow_runs(uri, NAME)[NAME])

    _write(exp, cells, range(1, 3))  # the experiment goes on (or is resumed)
    _track(exp, uri, tb)
    _track(exp, uri, tb)  # and is tracked once more: nothing doubles
    _check_mlflow(uri, cells, rounds=3)
    _check_tensorboard(tb, rounds=3)
    parent = mlflow_runs(uri, NAME)[NAME]
    assert {"spec.toml", "report.html", "report.md", "learning_curves.png",
            "learning_curves.svg"} <= mlflow_artefacts(uri, parent)
    assert parent.info.status == "FINISHED"
    assert (tb / NAME / "artefacts" / "report.html").is_file()
    assert "learning_curves" in tb_tags(tb / NAME)["images"]


def test_track_refuses_without_a_tracker(tmp_path: Path, capsys: Any) -> None:
    exp = tmp_path / "exp"
    write_info(exp, [make_cell(sizes=STORE_SIZES)], name=NAME)
    assert main(["track", str(exp)]) == 2
    out = capsys.readouterr().out
    assert "has no [tracking] table" in out and "--mlflow" in out
