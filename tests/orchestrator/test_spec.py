"""Spec parsing: presets load, grids expand, cell ids are stable, TOML round-trips."""

from __future__ import annotations

import tomllib

import pytest

from orchestrator.spec import SpecError, load_spec, parse_spec, preset_names, preset_text
from trainers.cell import CellConfig


def test_every_preset_parses() -> None:
    assert {"quickstart", "300w_table2", "wflw_table3", "wflw_table4"} <= set(preset_names())
    for name in preset_names():
        spec = load_spec(name)
        assert spec.cells()


def test_quickstart_grid() -> None:
    spec = load_spec("quickstart")
    cells = spec.cells()
    assert len(cells) == 3 * 2
    assert {c.arch for c in cells} == {"scaf"}
    assert {c.model.input_size for c in cells} == {64}
    assert [c.seed for c in cells[:2]] == [0, 1]  # seeds vary fastest: side-by-side trials
    assert len({c.cell_id() for c in cells}) == len(cells)


def test_table4_preset_is_the_paper_grid() -> None:
    spec = load_spec("wflw_table4")
    assert len(spec.architectures) == 2 and len(spec.acquisitions) == 6
    assert [b.final for b in spec.budgets] == [50, 100, 200, 375, 750]
    assert [b.sizes[1] - b.sizes[0] for b in spec.budgets] == [10, 20, 40, 75, 100]


def test_one_round_budgets_run_once_per_seed() -> None:
    spec = load_spec("300w_table2")
    single = [c for c in spec.cells() if len(c.budget.sizes) == 1]
    assert {c.acquisition.name for c in single} == {"random"}
    assert len(single) == 2 * 4 * 3


def test_cell_round_trip_and_stable_id() -> None:
    cell = load_spec("quickstart").cells()[2]
    again = CellConfig.from_dict(cell.to_dict())
    assert again == cell and again.cell_id() == cell.cell_id()


def test_config_show_text_is_the_preset() -> None:
    doc = tomllib.loads(preset_text("quickstart"))
    assert parse_spec(doc).cells() == load_spec("quickstart").cells()


@pytest.mark.parametrize(
    ("patch", "path"),
    [
        ({"budgets": [{"final": 0, "step": 10}]}, "budgets[0].final"),
        ({"budgets": [{"final": 500, "step": 10}]}, "budgets[0]"),
        ({"budgets": [{"final": 60, "step": 395}]}, "budgets[0]"),
        ({"acquisitions": [{"name": "nope"}]}, "acquisitions[0]"),
        ({"acquisitions": [{"name": "nnm", "radius": 3}]}, "acquisitions[0]"),
        ({"trainer": {"stepz": 3}}, "trainer.stepz"),
        ({"data": {"name": "300w"}}, "data"),
        ({"experiment": {"architectures": ["hourglass"]}}, "experiment.architectures[0]"),
        ({"resources": {"gpus_per_trial": 1.5}}, "resources.gpus_per_trial"),
    ],
)
def test_errors_name_the_field(patch: dict, path: str) -> None:
    doc = tomllib.loads(preset_text("quickstart"))
    doc.update(patch)
    with pytest.raises(SpecError) as err:
        parse_spec(doc)
    assert str(err.value).startswith(path)
