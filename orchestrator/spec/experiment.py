"""Experiment specs: a TOML file -> validated ExperimentSpec -> one CellConfig per grid cell.

A spec names the grid axes (architectures x budgets x seeds x acquisitions) and the shared
settings (data, model, trainer, resources). Every table is a typed dataclass built by one
parser (`trainers.config.typed.from_table`); every error names the field path, the bad
value and what is allowed, and is raised before anything starts.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomli_w

from orchestrator.spec.checks import (
    check_budgets_fit,
    check_data_options,
    known_pool_size,
)
from orchestrator.spec.tables import (
    BudgetTable,
    ExperimentTable,
    Resources,
    SpecError,
    TrackingTable,
)
from trainers.config.cell import (
    AcquisitionConfig,
    BudgetSchedule,
    CellConfig,
    DataConfig,
    ModelSettings,
)
from trainers.config.trainer import TrainerConfig
from trainers.config.typed import ConfigError, check_keys, from_table

__all__ = ["ExperimentSpec", "Resources", "SpecError", "load_spec", "parse_acquisition",
           "parse_spec", "preset_names", "preset_text"]

PRESET_DIR = Path(__file__).parent / "presets"


@dataclass(frozen=True)
class ExperimentSpec:
    """A validated spec: the grid axes and the settings its cells share (`raw`: the TOML
    document as read, written back into the experiment folder)."""

    name: str
    architectures: tuple[str, ...]
    seeds: tuple[int, ...]
    budgets: tuple[BudgetSchedule, ...]
    acquisitions: tuple[AcquisitionConfig, ...]
    data: DataConfig
    model: ModelSettings
    trainer: TrainerConfig
    resources: Resources = field(default_factory=Resources)
    cache_dir: str | None = None
    l0: str = "random"
    tracking: TrackingTable = field(default_factory=TrackingTable)
    raw: dict[str, Any] = field(default_factory=dict, compare=False)

    def cells(self) -> list[CellConfig]:
        """The grid, ordered so that trials running side by side differ by seed (and the
        round-0 model of each seed is ready when the next acquisition needs it)."""
        out = []
        for arch in self.architectures:
            for budget in self.budgets:
                for acq in self._acquisitions_for(budget):
                    for seed in self.seeds:
                        out.append(
                            CellConfig(
                                arch=arch,
                                data=self.data,
                                model=self.model,
                                trainer=self.trainer,
                                acquisition=acq,
                                budget=budget,
                                seed=seed,
                                l0=self.l0,
                            )
                        )
        return out

    def _acquisitions_for(self, budget: BudgetSchedule) -> tuple[AcquisitionConfig, ...]:
        """A one-round schedule never acquires (its whole budget is L0, drawn at random), so
        it runs once per seed, under "random" when listed, not once per acquisition."""
        if len(budget.sizes) > 1:
            return self.acquisitions
        randoms = [a for a in self.acquisitions if a.name == "random"]
        return (randoms[0] if randoms else self.acquisitions[0],)

    def to_toml(self) -> str:
        """The spec as TOML, as it was read."""
        return tomli_w.dumps(self.raw)


def parse_acquisition(entry: Any, path: str) -> AcquisitionConfig:
    import acquisition

    if isinstance(entry, str):
        entry = {"name": entry}
    if not isinstance(entry, dict) or "name" not in entry:
        raise SpecError(path, f'must be a table with a name, e.g. {{name = "nnm"}}; got {entry!r}')
    params = {k: v for k, v in entry.items() if k != "name"}
    try:
        acquisition.get(entry["name"], **params)
    except (KeyError, TypeError, ValueError) as e:
        msg = e.args[0] if e.args else str(e)
        raise SpecError(path, str(msg)) from None
    return AcquisitionConfig(name=entry["name"], params=params)


TOP_LEVEL = ("experiment", "data", "model", "trainer", "budgets", "acquisitions", "resources",
             "tracking")


def parse_spec(doc: dict[str, Any], source: str | None = None) -> ExperimentSpec:
    """Validate a spec document (the parsed TOML) into an ExperimentSpec.

    Raises:
        SpecError: `<source>: <field path>: <what is wrong; what is allowed>`.
    """
    try:
        return _parse(doc)
    except ConfigError as e:
        raise SpecError(e.path, e.message, source) from None


def _parse(doc: dict[str, Any]) -> ExperimentSpec:
    check_keys(doc, TOP_LEVEL, "")
    exp = from_table(ExperimentTable, doc.get("experiment", {}), "experiment")
    data = from_table(DataConfig, doc.get("data", {}), "data")
    budgets = tuple(table.schedule(path) for path, table in _budget_tables(doc))
    acqs = _acquisitions(doc.get("acquisitions", [{"name": "random"}]))
    model = from_table(ModelSettings, doc.get("model", {}), "model")
    check_data_options(data, model.input_size)
    pool = known_pool_size(data)
    if pool:
        check_budgets_fit(budgets, pool)
    return ExperimentSpec(
        name=exp.name,
        architectures=exp.architectures,
        seeds=exp.seeds,
        budgets=budgets,
        acquisitions=acqs,
        data=data,
        model=model,
        trainer=from_table(TrainerConfig, doc.get("trainer", {}), "trainer"),
        resources=from_table(Resources, doc.get("resources", {}), "resources"),
        cache_dir=exp.cache_dir,
        l0=exp.l0,
        tracking=from_table(TrackingTable, doc.get("tracking", {}), "tracking"),
        raw=doc,
    )


def _budget_tables(doc: dict[str, Any]) -> list[tuple[str, BudgetTable]]:
    raw = doc.get("budgets", [{"final": 40, "step": 10}])
    if not isinstance(raw, list) or not raw:
        raise SpecError("budgets", "must be a non-empty array of tables ([[budgets]])")
    return [(f"budgets[{i}]", from_table(BudgetTable, b, f"budgets[{i}]"))
            for i, b in enumerate(raw)]


def _acquisitions(raw: Any) -> tuple[AcquisitionConfig, ...]:
    if not isinstance(raw, list) or not raw:
        raise SpecError("acquisitions", "must be a non-empty array of tables ([[acquisitions]])")
    acqs = tuple(parse_acquisition(a, f"acquisitions[{i}]") for i, a in enumerate(raw))
    labels = [a.label() for a in acqs]
    for i, lab in enumerate(labels):
        if labels.index(lab) != i:
            raise SpecError(
                f"acquisitions[{i}]", f"duplicates acquisitions[{labels.index(lab)}] ({lab})"
            )
    return acqs


def load_spec(path: str | Path) -> ExperimentSpec:
    """Read and validate a spec file (a preset name such as "quickstart" also works)."""
    p = Path(path)
    if not p.exists() and (PRESET_DIR / f"{path}.toml").exists():
        p = PRESET_DIR / f"{path}.toml"
    if not p.is_file():
        raise SpecError("spec", f"no such file {str(path)!r}; presets: {', '.join(preset_names())}")
    try:
        doc = tomllib.loads(p.read_text())
    except tomllib.TOMLDecodeError as e:
        raise SpecError("spec", f"not valid TOML: {e}", str(p)) from None
    return parse_spec(doc, str(p))


def preset_names() -> list[str]:
    """Names of the built-in specs (`scaf-al run NAME`)."""
    return sorted(f.stem for f in PRESET_DIR.glob("*.toml"))


def preset_text(name: str = "quickstart") -> str:
    f = PRESET_DIR / f"{name}.toml"
    if not f.is_file():
        raise SpecError(
            "preset", f"unknown preset {name!r}; available: {', '.join(preset_names())}"
        )
    return f.read_text()
