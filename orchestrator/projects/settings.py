"""The spec of `scaf-al propose`: the grid spec format, where only some tables apply.

Applied: `[experiment]` (`name`, the first of `seeds`, the first of `architectures`,
`cache_dir`), `[data] options` (the `folder` data set's `flip_perm`, `eye_idx`,
`box_adjust`), `[model]`, `[trainer]`, the first `[[acquisitions]]`, `[resources] device`,
and L0 from the first `[[budgets]]` (written as in a grid spec: its first size). Every
table is optional; the other `[data]` fields and later budgets are read past (the image
folder is the data).
Fields left out take the paper's values: 256 px, width 1.0, the official recipe (4000
steps, batch 40, augmentation level 6), NNM with window 7 and the top 10 % discarded,
L0 = 10.

Errors name the field path, as the grid spec's do (`orchestrator.spec.experiment.SpecError`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orchestrator.spec.checks import check_data_options
from orchestrator.spec.experiment import TOP_LEVEL, parse_acquisition
from orchestrator.spec.tables import BudgetTable, ExperimentTable, Resources, SpecError
from trainers.config.cell import BudgetSchedule, CellConfig, DataConfig, ModelSettings
from trainers.config.trainer import TrainerConfig
from trainers.config.typed import ConfigError, check_keys, from_table

PAPER_MODEL: dict[str, Any] = {"input_size": 256, "width": 1.0}
PAPER_TRAINER: dict[str, Any] = {"steps": 4000, "batch_size": 40, "augment_level": 6}
DEFAULT_ACQUISITION: dict[str, Any] = {"name": "nnm", "window": 7, "discard_top": 0.10}
DEFAULT_L0 = 10
LAYOUT_OPTIONS = ("flip_perm", "eye_idx", "box_adjust")


@dataclass(frozen=True)
class ProposeSettings:
    """What one `propose` call runs with.

    Attributes:
        name: the project's name (experiment name in the result store).
        cell: the project's one live cell (data: the `folder` data set on the images).
        l0: below this many labeled images, a round proposes without a trained head.
        device: "auto", "cpu" or "cuda[:i]".
        cache_dir: the spec's cache_dir, or None for the default.
        doc: the spec document as given (kept as the project's spec.toml).
    """

    name: str
    cell: CellConfig
    l0: int
    device: str
    cache_dir: str | None
    doc: dict[str, Any]


def _table(doc: dict[str, Any], key: str) -> dict[str, Any]:
    value = doc.get(key, {})
    if not isinstance(value, dict):
        raise SpecError(key, f"must be a table, got {value!r}")
    return value


def _first_entry(doc: dict[str, Any], key: str, default: Any) -> Any:
    entries = doc.get(key)
    if entries is None:
        return default
    if not isinstance(entries, list) or not entries:
        raise SpecError(key, f"must be a non-empty array of tables ([[{key}]])")
    return entries[0]


def _l0(doc: dict[str, Any]) -> int:
    """L0: the first size of the first budget, parsed as the grid spec parses it (`initial`
    with final + step, or the first of `sizes`)."""
    first = _first_entry(doc, "budgets", None)
    if first is None:
        return DEFAULT_L0
    return from_table(BudgetTable, first, "budgets[0]").schedule("budgets[0]").sizes[0]


def _data(doc: dict[str, Any], images: Path) -> DataConfig:
    """The `folder` data set on the images, with the layout options of `[data] options`
    (the other `[data]` fields are the grid's and do not apply)."""
    options = _table(doc, "data").get("options", {})
    data = from_table(DataConfig, {"name": "folder", "root": str(images),
                                   "train_split": "all", "test_splits": [],
                                   "options": options}, "data")
    check_data_options(data, 0)
    used = {k: v for k, v in data.options.items() if k in LAYOUT_OPTIONS}
    return from_table(DataConfig, {"name": "folder", "root": str(images), "train_split": "all",
                                   "test_splits": [], "options": used}, "data")


def read_propose_spec(doc: dict[str, Any], images: Path, *, source: str | None = None,
                      device: str | None = None) -> ProposeSettings:
    """The settings of a `propose` call from a spec document (`{}`: the paper's defaults).

    Args:
        doc: the parsed TOML.
        images: the image folder (the project's data).
        source: the spec file, for error messages.
        device: `--device`, which wins over `[resources] device`.

    Raises:
        SpecError: naming the file and the field path.
    """
    try:
        check_keys(doc, TOP_LEVEL, "")
        exp = from_table(ExperimentTable, {"name": "project", **_table(doc, "experiment")},
                         "experiment")
        cell = CellConfig(
            arch=exp.architectures[0], data=_data(doc, images),
            model=from_table(ModelSettings, {**PAPER_MODEL, **_table(doc, "model")}, "model"),
            trainer=from_table(TrainerConfig, {**PAPER_TRAINER, **_table(doc, "trainer")},
                               "trainer"),
            acquisition=parse_acquisition(_first_entry(doc, "acquisitions", DEFAULT_ACQUISITION),
                                     "acquisitions[0]"),
            budget=BudgetSchedule((_l0(doc),)), seed=exp.seeds[0])
        dev = device or from_table(Resources, _table(doc, "resources"), "resources").device
    except ConfigError as e:
        raise SpecError(e.path, e.message, source) from None
    return ProposeSettings(exp.name, cell, cell.budget.sizes[0], str(dev), exp.cache_dir, doc)
