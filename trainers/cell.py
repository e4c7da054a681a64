"""The configuration of one experiment cell: one active-learning run.

A cell fixes architecture, data, model size, pre-training, supervised trainer, budget
schedule, acquisition and seed. Cells are plain frozen dataclasses that round-trip through
dicts (and so through TOML and Tune's param_space); the hash of that dict is the cell id.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from trainers.supervised import TrainerConfig

ARCHITECTURES = ("3fabrec", "scaf")
DATASETS = ("synthetic", "300w", "wflw", "folder")
DEFAULT_TEST_SPLITS = {
    "synthetic": ("test",),
    "300w": ("common", "challenging", "full"),
    "wflw": ("test",),
    "folder": ("test",),
}
DEFAULT_TRAIN_SPLIT = {"synthetic": "pool", "300w": "train", "wflw": "train", "folder": "train"}


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
        if self.name not in DATASETS:
            raise ValueError(f"data.name must be one of {DATASETS}, got {self.name!r}")
        if self.name != "synthetic" and not self.root:
            raise ValueError(
                f"data.root is required for data set {self.name!r} (the download folder)"
            )
        if self.train_split is None:
            object.__setattr__(self, "train_split", DEFAULT_TRAIN_SPLIT[self.name])
        if self.test_splits is None:
            object.__setattr__(self, "test_splits", DEFAULT_TEST_SPLITS[self.name])
        else:
            object.__setattr__(self, "test_splits", tuple(self.test_splits))
        if self.pool_size is not None and self.pool_size < 1:
            raise ValueError(f"data.pool_size must be >= 1, got {self.pool_size}")


@dataclass(frozen=True)
class ModelSettings:
    """Model size and where its auto-encoder comes from.

    `pretrained` names an auto-encoder checkpoint (the official `saae.mdl` or one of ours);
    when it is None the unsupervised stage runs with `pretrain` settings (cached by hash).
    """

    input_size: int = 64
    width: float = 0.25
    pretrained: str | None = None
    pretrain: dict[str, Any] = field(default_factory=lambda: {"steps": 600, "batch_size": 32})

    def __post_init__(self) -> None:
        if self.input_size not in (64, 128, 256):
            raise ValueError(
                f"model.input_size must be one of 64, 128, 256, got {self.input_size}"
            )
        if not 0 < self.width <= 4:
            raise ValueError(f"model.width must be in (0, 4], got {self.width}")


@dataclass(frozen=True)
class AcquisitionConfig:
    name: str = "random"
    params: dict[str, Any] = field(default_factory=dict)

    def label(self) -> str:
        """Short display name, e.g. `nnm(discard_top=0.1)` (nested: `acquisition.label`)."""
        import acquisition  # here, so that this edit stays inside the method

        return acquisition.label(self.name, self.params)


@dataclass(frozen=True)
class BudgetSchedule:
    """Labeled-set sizes per round: sizes[0] = L0, the last one is the final budget."""

    sizes: tuple[int, ...] = (10, 20, 30, 40)

    def __post_init__(self) -> None:
        sizes = tuple(int(s) for s in self.sizes)
        object.__setattr__(self, "sizes", sizes)
        if not sizes or sizes[0] < 1:
            raise ValueError(f"budget sizes must start with a positive L0, got {list(sizes)}")
        if any(b <= a for a, b in zip(sizes, sizes[1:], strict=False)):
            raise ValueError(f"budget sizes must be strictly increasing, got {list(sizes)}")

    @classmethod
    def from_final(cls, final: int, step: int, initial: int = 10) -> BudgetSchedule:
        """L0 = initial, then +step per round until `final` (the last step may be shorter)."""
        if final < initial:
            raise ValueError(f"budget final={final} is smaller than L0={initial}")
        if step < 1:
            raise ValueError(f"budget step K must be >= 1, got {step}")
        sizes = list(range(initial, final, step)) + [final]
        return cls(tuple(dict.fromkeys(sizes)))

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

    def __post_init__(self) -> None:
        if self.arch not in ARCHITECTURES:
            raise ValueError(f"arch must be one of {ARCHITECTURES}, got {self.arch!r}")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["data"]["test_splits"] = list(self.data.test_splits or ())
        d["budget"]["sizes"] = list(self.budget.sizes)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CellConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown cell fields {sorted(unknown)}; allowed: {sorted(known)}")
        return cls(
            arch=d.get("arch", "scaf"),
            data=DataConfig(**d.get("data", {})),
            model=ModelSettings(**d.get("model", {})),
            trainer=TrainerConfig(**d.get("trainer", {})),
            acquisition=AcquisitionConfig(**d.get("acquisition", {})),
            budget=BudgetSchedule(tuple(d.get("budget", {}).get("sizes", (10, 20, 30, 40)))),
            seed=int(d.get("seed", 0)),
        )

    def cell_id(self) -> str:
        return config_hash(self.to_dict())


def config_hash(obj: Any, length: int = 16) -> str:
    """Stable short hash of a JSON-able object (sorted keys, no whitespace)."""
    blob = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:length]
