"""What trackers are given of an experiment folder: labels, tags, params, points."""

from __future__ import annotations

from pathlib import Path

from orchestrator.results.experiment_folder import ExperimentFolder
from orchestrator.spec.tables import TrackingTable
from orchestrator.tracking.records import flatten, read_experiment
from orchestrator.tracking.sync import Targets
from tests.helpers.cells import make_cell
from tests.helpers.store import write_info, write_round


def test_flatten_gives_dotted_keys_and_json_values() -> None:
    assert flatten({"a": {"b": 1, "c": [1, 2]}, "d": "x", "e": None, "f": {}}) == {
        "a.b": "1", "a.c": "[1, 2]", "d": "x", "e": "null", "f": "{}"}


def test_cells_of_one_label_get_distinct_run_names(tmp_path: Path) -> None:
    # Two budgets ending at 14 (10 -> 14 in one step, or in two): one label for both.
    one, two = make_cell(sizes=(10, 14)), make_cell(sizes=(10, 12, 14))
    write_info(tmp_path, [one, two], name="labels")
    write_round(tmp_path, two, 1, {"test": 0.3})
    write_round(tmp_path, two, 0, {"test": 0.4})
    rec = read_experiment(ExperimentFolder(tmp_path))
    assert [c.label for c in rec.cells] == ["scaf/random/b14/s0",
                                            f"scaf/random/b14/s0-{two.cell_id()[:8]}"]
    assert rec.cells[0].points == [] and not rec.complete
    points = rec.cells[1].points
    assert [(p.round, p.step, p.metrics["nme_test"]) for p in points] == [(0, 10, 0.4),
                                                                          (1, 12, 0.3)]
    assert rec.cells[1].tags["budget"] == "14" and rec.cells[1].rounds_total == 3


def test_tensorboard_true_is_the_folders_tensorboard(tmp_path: Path) -> None:
    folder = ExperimentFolder(tmp_path)
    assert Targets.from_table(TrackingTable(tensorboard=True), folder) == Targets(
        None, str(tmp_path / "tensorboard"))
    assert Targets.from_table(TrackingTable(mlflow="http://h:5000"), folder) == Targets(
        "http://h:5000", None)
