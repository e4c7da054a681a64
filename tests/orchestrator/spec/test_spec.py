"""Spec parsing: presets load, grids expand, cell ids are stable, TOML round-trips."""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

import pytest

from orchestrator.spec.experiment import SpecError, load_spec, parse_spec, preset_names, preset_text
from tests.helpers.specs import OLD_QUICKSTART
from trainers.caches.autoencoder import autoencoder_key
from trainers.config.cell import CellConfig, ModelSettings
from trainers.config.pretrain import PretrainConfig
from trainers.models.config import ModelConfig


def test_every_preset_parses() -> None:
    assert {"quickstart", "300w_table2", "wflw_table3", "wflw_table4"} <= set(preset_names())
    for name in preset_names():
        spec = load_spec(name)
        assert spec.cells()


def test_quickstart_grid() -> None:
    spec = load_spec("quickstart")
    cells = spec.cells()
    assert len(cells) == 3 * 3
    assert {c.arch for c in cells} == {"scaf"}
    assert {c.model.input_size for c in cells} == {64}
    assert [c.seed for c in cells[:3]] == [0, 1, 2]  # seeds vary fastest: side-by-side trials
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
        ({"data": {"name": "300w"}}, "data.root"),
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


def _quickstart_with(**tables: dict) -> dict:
    doc = tomllib.loads(preset_text("quickstart"))
    for name, table in tables.items():
        doc[name] = {**doc.get(name, {}), **table}
    return doc


@pytest.mark.parametrize(
    ("tables", "message"),
    [
        ({"model": {"pretrain": {"step": 300}}},
         "model.pretrain.step: unknown key; allowed: steps, batch_size, lr, betas, "),
        ({"model": {"pretrain": {"steps": "many"}}},
         "model.pretrain.steps: must be an integer, got 'many'"),
        ({"model": {"pretrain": {"steps": 0}}}, "model.pretrain.steps: must be an int >= 1"),
        ({"model": {"pretrain": {"betas": [0.5]}}},
         "model.pretrain.betas: must be a list of 2 values, got [0.5]"),
        ({"model": {"pretrain": {"seed": 3}}}, "model.pretrain.seed: unknown key"),
        ({"model": {"pretrain": 300}}, "model.pretrain: must be a table, got 300"),
        ({"trainer": {"sigma": "wide"}}, "trainer.sigma: must be a number, got 'wide'"),
        ({"trainer": {"amp": 1}}, "trainer.amp: must be true or false, got 1"),
        ({"experiment": {"seeds": [0, "one"]}},
         "experiment.seeds[1]: must be an integer, got 'one'"),
        ({"data": {"pool_size": 0}}, "data.pool_size: must be >= 1, got 0"),
        ({"data": {"crop_source": "eyes"}}, "data.crop_source: 'eyes' is not a crop source"),
        ({"data": {"options": {"n_pool": "many"}}},
         "data.options.n_pool: must be an integer, got 'many'"),
        ({"data": {"options": {"n_poool": 10}}}, "data.options.n_poool: unknown key; allowed: "),
        ({"resources": {"max_failures": 1.5}},
         "resources.max_failures: must be an integer, got 1.5"),
    ],
)
def test_nested_errors_name_the_full_path(tables: dict, message: str) -> None:
    with pytest.raises(SpecError) as err:
        parse_spec(_quickstart_with(**tables), "my.toml")
    assert str(err.value).startswith(f"my.toml: {message}"), str(err.value)


def test_pretrain_table_is_typed_with_the_spec_defaults() -> None:
    doc = _quickstart_with()
    del doc["model"]["pretrain"]
    settings = parse_spec(doc).model.pretrain
    assert (settings.steps, settings.batch_size, settings.lr) == (600, 32, 2e-5)
    # The stage config adds what the spec does not set: the model size.
    config = PretrainConfig.from_settings(settings, input_size=64, width=0.25)
    assert (config.steps, config.input_size, config.width, config.seed) == (600, 64, 0.25, 0)


def test_cell_ids_and_autoencoder_keys_are_those_of_earlier_versions() -> None:
    """Hashes computed by the version before typed pretrain settings (commit 51c378f):
    existing experiments resume and existing auto-encoder caches are found."""
    # The quickstart preset of that version (2 seeds, 500 steps from scratch), kept as a file.
    doc = tomllib.loads(OLD_QUICKSTART.read_text())
    cell = parse_spec(doc).cells()[0]
    assert (cell.cell_id(), autoencoder_key(cell)) == ("1b6f31af63d4df21", "b57dfeef42433aa9")
    assert cell.to_dict()["model"]["pretrain"] == {"steps": 300, "batch_size": 32, "lr": 1e-3}
    del doc["model"]["pretrain"]
    cell = parse_spec(doc).cells()[0]
    assert (cell.cell_id(), autoencoder_key(cell)) == ("4ceb07cfb02b5ebf", "aeafbc3fd5ca256f")


def test_cell_from_dict_names_the_path() -> None:
    d = load_spec("quickstart").cells()[0].to_dict()
    d["model"]["pretrain"]["step"] = 3
    with pytest.raises(ValueError, match=r"^cell\.model\.pretrain\.step: unknown key"):
        CellConfig.from_dict(d)


@pytest.mark.parametrize("width", [4.0, 0.01])
def test_width_range_is_the_same_everywhere(width: float) -> None:
    """(0, 4] for the spec's model, the networks and the unsupervised stage alike."""
    assert ModelSettings(width=width).width == width
    assert ModelConfig(width=width).width == width
    assert PretrainConfig(width=width).width == width


@pytest.mark.parametrize("width", [4.5, 0.0])
def test_width_outside_the_range_is_refused_everywhere(width: float) -> None:
    for make in (ModelSettings, ModelConfig, PretrainConfig):
        with pytest.raises(ValueError, match=r"width: must be a number in \(0, 4\]"):
            make(width=width)


ROOT = Path(__file__).resolve().parents[3]
ALLOWED_VALUE_SETS = {
    "architectures": {"3fabrec", "scaf"},
    "input sizes": {64, 128, 256},
    "data sets": {"300w", "wflw", "folder", "synthetic"},
}


def _module_level_constants(path: Path) -> list[tuple[str, set]]:
    """(name, set of values) of every module-level NAME = (literal, ...) in `path`."""
    out = []
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Tuple | ast.List):
            try:
                values = set(ast.literal_eval(node.value))
            except (ValueError, TypeError):
                continue
            out.extend((ast.unparse(t), values) for t in node.targets)
    return out


def test_allowed_values_have_one_home() -> None:
    homes: dict[str, list[str]] = {what: [] for what in ALLOWED_VALUE_SETS}
    for package in ("trainers", "orchestrator", "acquisition"):
        for path in sorted((ROOT / package).rglob("*.py")):
            for name, values in _module_level_constants(path):
                for what, allowed in ALLOWED_VALUE_SETS.items():
                    if values == allowed:
                        homes[what].append(f"{path.relative_to(ROOT)}:{name}")
    # The data sets are no constant at all: each registers itself (the registry is their
    # one home, and a plugin's data set joins it the same way).
    assert homes == {
        "architectures": ["trainers/models/config.py:ARCHITECTURES"],
        "input sizes": ["trainers/models/config.py:INPUT_SIZES"],
        "data sets": [],
    }
    from trainers.datasets.registry import dataset_names

    assert set(dataset_names()) >= ALLOWED_VALUE_SETS["data sets"]


def test_protocol_settings_parse_into_every_cell(tiny_spec) -> None:
    spec = tiny_spec(experiment={"l0": "kcenter"},
                     trainer={"init": "warm", "warm_steps": 2},
                     budgets=[{"final": 25, "step": 10, "remainder": "merge"}])
    (cell,) = spec.cells()
    assert (cell.l0, cell.trainer.init, cell.trainer.warm_steps) == ("kcenter", "warm", 2)
    assert cell.budget.sizes == (10, 25) and cell.budget.remainder == "merge"
    for over, path in (({"experiment": {"l0": "far"}}, "experiment.l0"),
                       ({"trainer": {"init": "hot"}}, "trainer.init"),
                       ({"budgets": [{"final": 25, "step": 10, "remainder": "x"}]},
                        "budgets[0].remainder"),
                       ({"budgets": [{"sizes": [10, 20], "remainder": "merge"}]},
                        "budgets[0].remainder")):
        with pytest.raises(ValueError, match=re.escape(path)):
            tiny_spec(**over)
