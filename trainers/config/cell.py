"""The configuration of one experiment cell: one active-learning run.

A cell fixes architecture, data, model size, pre-training, supervised trainer, budget
schedule, acquisition and seed. Cells are plain frozen dataclasses that round-trip through
dicts (and so through TOML and Tune's param_space); the hash of that dict is the cell id.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from trainers.config.pretrain import PretrainSettings
from trainers.config.trainer import TrainerConfig
from trainers.config.typed import ConfigError, from_table
from trainers.datasets import CROP_SOURCES, dataset_names, find_dataset
from trainers.models.config import check_architecture, check_input_size, check_width


@dataclass(frozen=True)
class DataConfig:
    """Where the pool and the test sets come from."""

    name: str = "synthetic"
    root: str | None = None
    train_split: str | None = None
    test_splits: tuple[str, ...] | None = None
    crop_source: str = "bb_ground_truth"
    pool_size: int | None = None
    options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        info = find_dataset(self.name)
        if info is None:
            raise ConfigError("name", f"{self.name!r} is not a data set; allowed: "
                                      f"{', '.join(dataset_names())}")
        if info.needs_root() and not self.root:
            raise ConfigError("root", f"missing; data set {self.name!r} needs its "
                                      "download folder")
        if self.crop_source not in CROP_SOURCES:
            raise ConfigError("crop_source", f"{self.crop_source!r} is not a crop source; "
                                             f"allowed: {', '.join(CROP_SOURCES)}")
        if self.train_split is None:
            object.__setattr__(self, "train_split", info.train_split)
        if self.test_splits is None:
            object.__setattr__(self, "test_splits", info.test_splits)
        else:
            object.__setattr__(self, "test_splits", tuple(self.test_splits))
        if self.pool_size is not None and self.pool_size < 1:
            raise ConfigError("pool_size", f"must be >= 1, got {self.pool_size}")

    @property
    def pool_split(self) -> str:
        """The split the pool comes from (the data set's train split unless the spec names
        another)."""
        assert self.train_split is not None  # filled in by __post_init__
        return self.train_split

    @property
    def tests(self) -> tuple[str, ...]:
        """The test splits (the data set's unless the spec names others)."""
        assert self.test_splits is not None  # filled in by __post_init__
        return self.test_splits


@dataclass(frozen=True)
class ModelSettings:
    """Model size and where its auto-encoder comes from.

    `pretrained` names an auto-encoder checkpoint (the official `saae.mdl` or one of ours);
    when it is None the unsupervised stage runs with `pretrain` settings (cached by hash).
    A plain table given as `pretrain` is parsed into PretrainSettings.
    """

    input_size: int = 64
    width: float = 0.25
    pretrained: str | None = None
    pretrain: PretrainSettings = field(default_factory=PretrainSettings)

    def __post_init__(self) -> None:
        check_input_size(self.input_size)
        check_width(self.width)
        if isinstance(self.pretrain, Mapping):
            object.__setattr__(self, "pretrain",
                               from_table(PretrainSettings, self.pretrain, "pretrain"))


@dataclass(frozen=True)
class AcquisitionConfig:
    name: str = "random"
    params: dict[str, Any] = field(default_factory=dict)

    def label(self) -> str:
        """Short display name, e.g. `nnm(discard_top=0.1)` (nested: `acquisition.label`)."""
        import acquisition  # here, so that this edit stays inside the method

        return acquisition.label(self.name, self.params)


REMAINDERS = ("round", "merge")
L0_METHODS = ("random", "kcenter")


@dataclass(frozen=True)
class BudgetSchedule:
    """Labeled-set sizes per round: sizes[0] = L0, the last one is the final budget."""

    sizes: tuple[int, ...] = (10, 20, 30, 40)
    remainder: str = "round"  # how `from_final` placed a remainder (recorded with results)

    def __post_init__(self) -> None:
        if self.remainder not in REMAINDERS:
            raise ConfigError("remainder", f"{self.remainder!r} is not allowed; allowed: "
                                           f"{', '.join(REMAINDERS)}")
        sizes = tuple(int(s) for s in self.sizes)
        object.__setattr__(self, "sizes", sizes)
        if not sizes or sizes[0] < 1:
            raise ConfigError("sizes", f"must start with a positive L0, got {list(sizes)}")
        if any(b <= a for a, b in zip(sizes, sizes[1:], strict=False)):
            raise ConfigError("sizes", f"must be strictly increasing, got {list(sizes)}")

    @classmethod
    def from_final(cls, final: int, step: int, initial: int = 10,
                   remainder: str = "round") -> BudgetSchedule:
        """L0 = initial, then +step per round until `final`. When `final - initial` is not a
        multiple of the step, `remainder="round"` acquires what is left in a last, shorter
        round (315 with K = 60: ..., 250, 310, 315); "merge" adds it to the last full round
        instead (..., 250, 315)."""
        if final < initial:
            raise ValueError(f"budget final={final} is smaller than L0={initial}")
        if step < 1:
            raise ValueError(f"budget step K must be >= 1, got {step}")
        if remainder not in REMAINDERS:
            raise ValueError(f"remainder {remainder!r} is not one of {', '.join(REMAINDERS)}")
        sizes = list(range(initial, final, step))
        if remainder == "merge" and len(sizes) > 1 and final - sizes[-1] < step:
            sizes.pop()
        return cls(tuple(dict.fromkeys([*sizes, final])), remainder)

    @property
    def final(self) -> int:
        return self.sizes[-1]


@dataclass(frozen=True)
class CellConfig:
    """Everything one active-learning run needs; `cell_id()` is the hash of `to_dict()`."""

    arch: str = "scaf"
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelSettings = field(default_factory=ModelSettings)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    acquisition: AcquisitionConfig = field(default_factory=AcquisitionConfig)
    budget: BudgetSchedule = field(default_factory=BudgetSchedule)
    seed: int = 0
    l0: str = "random"  # how L0 is drawn: at random from the seed, or by k-center-greedy

    def __post_init__(self) -> None:
        check_architecture(self.arch)
        if self.l0 not in L0_METHODS:
            raise ConfigError("l0", f"{self.l0!r} is not an L0 method; allowed: "
                                    f"{', '.join(L0_METHODS)}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict (lists for tuples); its hash is the cell id. Protocol settings at
        their defaults (the paper's protocol) are left out, so cells written before the
        settings existed keep their ids."""
        d = asdict(self)
        d["data"]["test_splits"] = list(self.data.tests)
        d["model"]["pretrain"] = self.model.pretrain.to_dict()
        d["budget"]["sizes"] = list(self.budget.sizes)
        for table, key, default in PROTOCOL_DEFAULTS:
            where = d[table] if table else d
            if where.get(key) == default:
                del where[key]
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> CellConfig:
        """Rebuild from `to_dict` output; errors name the field path (`cell.model.width`)."""
        return from_table(cls, d, "cell")

    def cell_id(self) -> str:
        return config_hash(self.to_dict())


#: (table, key, default) of the protocol settings that `to_dict` leaves out at their default.
PROTOCOL_DEFAULTS = (("trainer", "init", "scratch"), ("trainer", "warm_steps", None),
                     ("", "l0", "random"), ("budget", "remainder", "round"))


def config_hash(obj: Any, length: int = 16) -> str:
    """Stable short hash of a JSON-able object (sorted keys, no whitespace)."""
    blob = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:length]
