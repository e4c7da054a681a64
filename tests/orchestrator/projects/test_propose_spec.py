"""The `propose` spec: every table optional, the paper's defaults, errors by field path."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.projects.settings import read_propose_spec
from orchestrator.spec.experiment import SpecError


def test_no_spec_gives_the_papers_settings(tmp_path: Path) -> None:
    s = read_propose_spec({}, tmp_path)
    cell = s.cell
    assert (cell.model.input_size, cell.model.width) == (256, 1.0)
    assert (cell.trainer.steps, cell.trainer.batch_size, cell.trainer.augment_level) == (
        4000, 40, 6)
    assert cell.acquisition.name == "nnm"
    assert cell.acquisition.params == {"window": 7, "discard_top": 0.10}
    assert s.l0 == 10
    assert (cell.data.name, cell.data.root) == ("folder", str(tmp_path))
    assert (cell.arch, cell.seed, s.device) == ("scaf", 0, "auto")


def test_a_spec_with_only_model_and_trainer_is_valid(tmp_path: Path) -> None:
    s = read_propose_spec({"model": {"input_size": 64, "width": 0.25},
                           "trainer": {"steps": 5}}, tmp_path)
    assert (s.cell.model.input_size, s.cell.model.width, s.cell.trainer.steps) == (64, 0.25, 5)
    assert s.cell.trainer.batch_size == 40  # left out: the paper's


def test_first_seed_acquisition_and_budget_apply(tmp_path: Path) -> None:
    doc = {"experiment": {"seeds": [7, 8], "architectures": ["3fabrec", "scaf"]},
           "acquisitions": [{"name": "random"}, {"name": "nnm"}],
           "budgets": [{"final": 50, "step": 10, "initial": 20}, {"sizes": [5]}],
           "data": {"name": "300w", "root": "/elsewhere",
                    "options": {"flip_perm": [1, 0], "eye_idx": [0, 1]}},
           "resources": {"device": "cpu"}}
    s = read_propose_spec(doc, tmp_path, device="cuda:1")
    assert (s.cell.seed, s.cell.arch, s.cell.acquisition.name, s.l0) == (7, "3fabrec",
                                                                         "random", 20)
    assert s.cell.data.root == str(tmp_path)  # the image folder is the data
    assert s.cell.data.options == {"flip_perm": [1, 0], "eye_idx": [0, 1]}
    assert s.device == "cuda:1"  # --device wins over [resources]


@pytest.mark.parametrize(("doc", "path"), [
    ({"model": {"input_size": 100}}, "model.input_size"),
    ({"model": {"depth": 3}}, "model.depth"),
    ({"trainer": {"steps": 0}}, "trainer.steps"),
    ({"acquisitions": [{"name": "no_such_thing"}]}, "acquisitions[0]"),
    ({"data": {"options": {"colour": 1}}}, "data.options.colour"),
    ({"experiment": {"seeds": ["a"]}}, "experiment.seeds[0]"),
    ({"budgets": [{"sizes": [0]}]}, "budgets[0].sizes"),
    ({"grid": {}}, "grid"),
])
def test_errors_name_the_file_and_field(tmp_path: Path, doc: dict, path: str) -> None:
    with pytest.raises(SpecError) as err:
        read_propose_spec(doc, tmp_path, source="laptop.toml")
    assert err.value.path == path
    assert str(err.value).startswith(f"laptop.toml: {path}: ")
