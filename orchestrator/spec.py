"""Experiment specs: a TOML file -> validated ExperimentSpec -> one CellConfig per grid cell.

A spec names the grid axes (architectures x budgets x seeds x acquisitions) and the shared
settings (data, model, trainer, resources). Every error names the field path, the bad
value and what is allowed, and is raised before anything starts.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import tomli_w

from trainers.cell import (
    ARCHITECTURES,
    AcquisitionConfig,
    BudgetSchedule,
    CellConfig,
    DataConfig,
    ModelSettings,
)
from trainers.supervised import TrainerConfig

PRESET_DIR = Path(__file__).parent / "presets"


class SpecError(ValueError):
    """A spec value is invalid; the message starts with the field path."""

    def __init__(self, path: str, message: str, source: str | None = None) -> None:
        where = f"{source}: " if source else ""
        super().__init__(f"{where}{path}: {message}")
        self.path = path


@dataclass(frozen=True)
class Resources:
    """How trials are placed: per-trial CPUs/GPUs (fractions allowed), concurrency, retries."""

    cpus_per_trial: float = 1.0
    gpus_per_trial: float = 0.0
    max_concurrent_trials: int = 0
    max_failures: int = 2
    device: str = "auto"
    num_cpus: int | None = None
    num_gpus: float | None = None
    object_store_mb: int = 512


@dataclass(frozen=True)
class ExperimentSpec:
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
        return tomli_w.dumps(self.raw)


def _check_keys(table: dict, allowed: set[str], path: str) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise SpecError(
            f"{path}.{unknown[0]}" if path else unknown[0],
            f"unknown field; allowed: {', '.join(sorted(allowed))}",
        )


def _dataclass_from(cls: type, table: Any, path: str, **extra: Any) -> Any:
    if not isinstance(table, dict):
        raise SpecError(path, f"must be a table, got {table!r}")
    allowed = {f.name for f in fields(cls)} - set(extra)
    _check_keys(table, allowed, path)
    try:
        return cls(**table, **extra)
    except (TypeError, ValueError) as e:
        raise SpecError(path, str(e)) from None


def _budget(entry: Any, path: str) -> BudgetSchedule:
    if not isinstance(entry, dict):
        raise SpecError(path, f"must be a table like {{final = 50, step = 10}}, got {entry!r}")
    _check_keys(entry, {"final", "step", "initial", "sizes"}, path)
    try:
        if "sizes" in entry:
            if {"final", "step"} & entry.keys():
                raise ValueError("give either sizes = [...] or final + step, not both")
            return BudgetSchedule(tuple(entry["sizes"]))
        for k in ("final", "step"):
            if k not in entry:
                raise ValueError(f"missing {k!r} (or give sizes = [...])")
            if not isinstance(entry[k], int) or entry[k] <= 0:
                raise SpecError(f"{path}.{k}", f"must be a positive integer, got {entry[k]!r}")
        initial = entry.get("initial", 10)
        if not isinstance(initial, int) or initial <= 0:
            raise SpecError(f"{path}.initial", f"must be a positive integer, got {initial!r}")
        if entry["final"] > initial and entry["step"] > entry["final"] - initial:
            raise SpecError(
                f"{path}.step",
                f"K = {entry['step']} is larger than the images to "
                f"acquire (final {entry['final']} - L0 {initial})",
            )
        return BudgetSchedule.from_final(entry["final"], entry["step"], initial)
    except SpecError:
        raise
    except (TypeError, ValueError) as e:
        raise SpecError(path, str(e)) from None


def _acquisition(entry: Any, path: str) -> AcquisitionConfig:
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


def _int_list(value: Any, path: str) -> tuple[int, ...]:
    if isinstance(value, int):
        value = [value]
    if not isinstance(value, list) or not value or not all(isinstance(v, int) for v in value):
        raise SpecError(path, f"must be a non-empty list of integers, got {value!r}")
    if len(set(value)) != len(value):
        raise SpecError(path, f"has duplicates: {value!r}")
    return tuple(value)


TOP_LEVEL = {"experiment", "data", "model", "trainer", "budgets", "acquisitions", "resources"}
EXPERIMENT_KEYS = {"name", "seeds", "architectures", "cache_dir"}


def parse_spec(doc: dict[str, Any], source: str | None = None) -> ExperimentSpec:
    """Validate a spec document (the parsed TOML) into an ExperimentSpec."""
    try:
        _check_keys(doc, TOP_LEVEL, "")
        exp = doc.get("experiment", {})
        _check_keys(exp, EXPERIMENT_KEYS, "experiment")
        name = exp.get("name", "experiment")
        if not isinstance(name, str) or not name or "/" in name:
            raise SpecError(
                "experiment.name", f"must be a non-empty name without '/', got {name!r}"
            )
        archs = exp.get("architectures", ["scaf"])
        if isinstance(archs, str):
            archs = [archs]
        for i, a in enumerate(archs):
            if a not in ARCHITECTURES:
                raise SpecError(
                    f"experiment.architectures[{i}]",
                    f"{a!r} is not an architecture; allowed: {', '.join(ARCHITECTURES)}",
                )
        seeds = _int_list(exp.get("seeds", [0]), "experiment.seeds")
        data = _dataclass_from(DataConfig, doc.get("data", {}), "data")
        model = _dataclass_from(ModelSettings, doc.get("model", {}), "model")
        trainer = _dataclass_from(TrainerConfig, doc.get("trainer", {}), "trainer")
        resources = _dataclass_from(Resources, doc.get("resources", {}), "resources")
        if resources.cpus_per_trial <= 0:
            raise SpecError(
                "resources.cpus_per_trial", f"must be > 0, got {resources.cpus_per_trial}"
            )
        if resources.gpus_per_trial < 0 or (
            resources.gpus_per_trial > 1
            and resources.gpus_per_trial != int(resources.gpus_per_trial)
        ):
            raise SpecError(
                "resources.gpus_per_trial",
                f"must be a fraction in [0, 1] or a whole number, got {resources.gpus_per_trial}",
            )
        budgets_raw = doc.get("budgets", [{"final": 40, "step": 10}])
        if not isinstance(budgets_raw, list) or not budgets_raw:
            raise SpecError("budgets", "must be a non-empty array of tables ([[budgets]])")
        budgets = tuple(_budget(b, f"budgets[{i}]") for i, b in enumerate(budgets_raw))
        acq_raw = doc.get("acquisitions", [{"name": "random"}])
        if not isinstance(acq_raw, list) or not acq_raw:
            raise SpecError(
                "acquisitions", "must be a non-empty array of tables ([[acquisitions]])"
            )
        acqs = tuple(_acquisition(a, f"acquisitions[{i}]") for i, a in enumerate(acq_raw))
        labels = [a.label() for a in acqs]
        for i, lab in enumerate(labels):
            if labels.index(lab) != i:
                raise SpecError(
                    f"acquisitions[{i}]", f"duplicates acquisitions[{labels.index(lab)}] ({lab})"
                )
        _check_data_options(data)
        _check_pool_size(data, budgets)
    except SpecError as e:
        if source and not str(e).startswith(source):
            raise SpecError(e.path, str(e).split(": ", 1)[1], source) from None
        raise
    return ExperimentSpec(
        name=name,
        architectures=tuple(archs),
        seeds=seeds,
        budgets=budgets,
        acquisitions=acqs,
        data=data,
        model=model,
        trainer=trainer,
        resources=resources,
        cache_dir=exp.get("cache_dir"),
        raw=doc,
    )


def _data_option_names(name: str) -> set[str] | None:
    """Options the data set's loader accepts (None: it takes any keyword)."""
    import inspect

    if name == "synthetic":
        from trainers.datasets.synthetic import SyntheticConfig

        return {f.name for f in fields(SyntheticConfig)} - {"input_size"}
    from trainers.datasets.folder import open_folder
    from trainers.datasets.w300 import open_300w
    from trainers.datasets.wflw import open_wflw

    loader = {"300w": open_300w, "wflw": open_wflw, "folder": open_folder}[name]
    params = inspect.signature(loader).parameters.values()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return None
    return {p.name for p in params} - {"root", "split", "strict"}


def _check_data_options(data: DataConfig) -> None:
    allowed = _data_option_names(data.name)
    if allowed is None:
        return
    for key in data.options:
        if key not in allowed:
            raise SpecError(
                f"data.options.{key}",
                f"not an option of the {data.name} data set; allowed: {', '.join(sorted(allowed))}",
            )


# Official training-split sizes, to reject impossible budgets before any work starts.
KNOWN_POOL_SIZES = {("300w", "train"): 3148, ("wflw", "train"): 7500}


def _check_pool_size(data: DataConfig, budgets: tuple[BudgetSchedule, ...]) -> None:
    if data.name == "synthetic":
        pool = int(data.options.get("n_pool", 600))
    else:
        pool = KNOWN_POOL_SIZES.get((data.name, data.train_split or ""), 0)
    if data.pool_size:
        pool = min(pool, data.pool_size) if pool else data.pool_size
    if not pool:
        return
    for i, b in enumerate(budgets):
        if b.final > pool:
            raise SpecError(
                f"budgets[{i}]", f"final size {b.final} is larger than the pool ({pool} images)"
            )
        steps = [y - x for x, y in zip(b.sizes, b.sizes[1:], strict=False)]
        if steps and max(steps) > pool - b.sizes[0]:
            raise SpecError(
                f"budgets[{i}].step",
                f"K = {max(steps)} is larger than the unlabeled pool ({pool - b.sizes[0]})",
            )


def check_paths(spec: ExperimentSpec) -> None:
    """The folders and files the spec names must exist (checked before a local run starts)."""
    if spec.data.name != "synthetic" and not Path(str(spec.data.root)).expanduser().is_dir():
        raise SpecError(
            "data.root",
            f"no such folder {spec.data.root!r} (the {spec.data.name} "
            "download; see `scaf-al datasets check`)",
        )
    if spec.model.pretrained and not Path(spec.model.pretrained).expanduser().is_file():
        raise SpecError(
            "model.pretrained",
            f"no such file {spec.model.pretrained!r} (the "
            "official saae.mdl or a scaf-al checkpoint)",
        )


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
    return sorted(f.stem for f in PRESET_DIR.glob("*.toml"))


def preset_text(name: str = "quickstart") -> str:
    f = PRESET_DIR / f"{name}.toml"
    if not f.is_file():
        raise SpecError(
            "preset", f"unknown preset {name!r}; available: {', '.join(preset_names())}"
        )
    return f.read_text()
