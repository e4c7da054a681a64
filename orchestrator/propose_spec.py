"""The spec of `scaf-al propose`: the grid spec format, where only some tables apply.

Applied: `[experiment]` (`name`, the first of `seeds`, the first of `architectures`,
`cache_dir`), `[data] options` (the `folder` data set's `flip_perm`, `eye_idx`,
`box_adjust`), `[model]`, `[trainer]`, the first `[[acquisitions]]`, `[resources] device`,
and L0 from the first `[[budgets]]` (its first size or `initial`). Every table is optional;
the other `[data]` fields and later budgets are read past (the image folder is the data).
Fields left out take the paper's values: 256 px, width 1.0, the official recipe (4000
steps, batch 40, augmentation level 6), NNM with window 7 and the top 10 % discarded,
L0 = 10.

Errors name the field path, as the grid spec's do (`orchestrator.spec.SpecError`).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from orchestrator.spec import SpecError
from trainers.cell import (
    ARCHITECTURES,
    AcquisitionConfig,
    BudgetSchedule,
    CellConfig,
    DataConfig,
    ModelSettings,
)
from trainers.supervised import TrainerConfig

PAPER_MODEL: dict[str, Any] = {"input_size": 256, "width": 1.0}
PAPER_TRAINER: dict[str, Any] = {"steps": 4000, "batch_size": 40, "augment_level": 6}
DEFAULT_ACQUISITION: dict[str, Any] = {"name": "nnm", "window": 7, "discard_top": 0.10}
DEFAULT_L0 = 10
LAYOUT_OPTIONS = ("flip_perm", "eye_idx", "box_adjust")
TOP_LEVEL = ("experiment", "data", "model", "trainer", "budgets", "acquisitions", "resources")


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


def _typed(cls: type, values: dict[str, Any], path: str) -> Any:
    """`cls(**values)`, with unknown keys and validation errors named by field path."""
    allowed = {f.name for f in fields(cls)}
    for key in values:
        if key not in allowed:
            raise SpecError(f"{path}.{key}",
                            f"unknown field; allowed: {', '.join(sorted(allowed))}")
    try:
        return cls(**values)
    except (TypeError, ValueError) as e:
        raise SpecError(path, str(e)) from None


def _first(values: Any, path: str) -> Any:
    if isinstance(values, list):
        if not values:
            raise SpecError(path, "must not be empty")
        return values[0]
    return values


def _acquisition(doc: dict[str, Any]) -> AcquisitionConfig:
    import acquisition

    entries = doc.get("acquisitions", [DEFAULT_ACQUISITION])
    entry = _first(entries, "acquisitions")
    if isinstance(entry, str):
        entry = {"name": entry}
    if not isinstance(entry, dict) or "name" not in entry:
        raise SpecError("acquisitions[0]", f'must be a table with a name, e.g. {{name = "nnm"}}; '
                                           f"got {entry!r}")
    params = {k: v for k, v in entry.items() if k != "name"}
    try:
        acquisition.get(entry["name"], **params)
    except (KeyError, TypeError, ValueError) as e:
        raise SpecError("acquisitions[0]", str(e.args[0] if e.args else e)) from None
    return AcquisitionConfig(name=entry["name"], params=params)


def _l0(doc: dict[str, Any]) -> int:
    budgets = doc.get("budgets")
    if budgets is None:
        return DEFAULT_L0
    first = _first(budgets, "budgets")
    if not isinstance(first, dict):
        raise SpecError("budgets[0]", f"must be a table, got {first!r}")
    value = first.get("initial", (first.get("sizes") or [DEFAULT_L0])[0])
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise SpecError("budgets[0]", f"L0 must be a positive integer, got {value!r}")
    return value


def _data(doc: dict[str, Any], images: Path) -> DataConfig:
    options = _table(doc, "data").get("options", {})
    if not isinstance(options, dict):
        raise SpecError("data.options", f"must be a table, got {options!r}")
    from trainers.datasets import dataset_options

    allowed = dataset_options("folder")
    for key in options:
        if key not in allowed:
            raise SpecError(f"data.options.{key}", "not an option of the folder data set; "
                                                   f"allowed: {', '.join(sorted(allowed))}")
    used = {k: v for k, v in options.items() if k in LAYOUT_OPTIONS}
    return _typed(DataConfig, {"name": "folder", "root": str(images), "train_split": "all",
                               "test_splits": (), "options": used}, "data")


def _experiment(doc: dict[str, Any]) -> tuple[str, str, int, str | None]:
    exp = _table(doc, "experiment")
    name = exp.get("name", "project")
    if not isinstance(name, str) or not name or "/" in name:
        raise SpecError("experiment.name", f"must be a non-empty name without '/', got {name!r}")
    arch = _first(exp.get("architectures", ["scaf"]), "experiment.architectures")
    if arch not in ARCHITECTURES:
        raise SpecError("experiment.architectures[0]",
                        f"{arch!r} is not an architecture; allowed: {', '.join(ARCHITECTURES)}")
    seed = _first(exp.get("seeds", [0]), "experiment.seeds")
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise SpecError("experiment.seeds[0]", f"must be an integer, got {seed!r}")
    return name, arch, seed, exp.get("cache_dir")


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
        for key in doc:
            if key not in TOP_LEVEL:
                raise SpecError(key, f"unknown field; allowed: {', '.join(TOP_LEVEL)}")
        name, arch, seed, cache_dir = _experiment(doc)
        cell = CellConfig(
            arch=arch, data=_data(doc, images),
            model=_typed(ModelSettings, {**PAPER_MODEL, **_table(doc, "model")}, "model"),
            trainer=_typed(TrainerConfig, {**PAPER_TRAINER, **_table(doc, "trainer")},
                           "trainer"),
            acquisition=_acquisition(doc), budget=BudgetSchedule((_l0(doc),)), seed=seed)
        dev = device or _table(doc, "resources").get("device", "auto")
    except SpecError as e:
        if source:
            raise SpecError(e.path, str(e).split(": ", 1)[1], source) from None
        raise
    return ProposeSettings(name, cell, cell.budget.sizes[0], str(dev), cache_dir, doc)
