"""The typed tables of a spec that are not part of a cell: `[experiment]`, `[[budgets]]`,
`[resources]` and `[tracking]`. Each checks its own values and raises ConfigError naming the field;
the generic parser (`trainers.config.typed.from_table`) adds the table's path."""

from __future__ import annotations

import math
from dataclasses import dataclass

from trainers.config.cell import L0_METHODS, REMAINDERS, BudgetSchedule
from trainers.config.typed import ConfigError, build, join_path
from trainers.models.config import check_architecture


class SpecError(ConfigError):
    """A spec value is invalid; the message starts with the file (when known) and the path."""

    def __init__(self, path: str, message: str, source: str | None = None) -> None:
        super().__init__(path, message)
        if source:
            self.args = (f"{source}: {self.args[0]}",)
        self.source = source


@dataclass(frozen=True)
class ExperimentTable:
    """`[experiment]`: the run's name, the seeds and architectures of the grid, the cache.

    A single value stands for a one-element list (`seeds = 0`, `architectures = "scaf"`).
    """

    name: str = "experiment"
    seeds: tuple[int, ...] = (0,)
    architectures: tuple[str, ...] = ("scaf",)
    cache_dir: str | None = None
    l0: str = "random"  # L0 drawn at random from the seed (the paper's), or "kcenter"

    def __post_init__(self) -> None:
        if self.l0 not in L0_METHODS:
            raise ConfigError("l0", f"{self.l0!r} is not an L0 method; allowed: "
                                    f"{', '.join(L0_METHODS)}")
        if not self.name or "/" in self.name:
            raise ConfigError("name", f"must be a non-empty name without '/', got {self.name!r}")
        for key in ("seeds", "architectures"):
            values = getattr(self, key)
            if not values:
                raise ConfigError(key, "must be a non-empty list")
            if len(set(values)) != len(values):
                raise ConfigError(key, f"has duplicates: {list(values)!r}")
        for i, arch in enumerate(self.architectures):
            check_architecture(arch, f"architectures[{i}]")


@dataclass(frozen=True)
class BudgetTable:
    """`[[budgets]]`: L0 = initial, +step per round up to final; or the sizes themselves."""

    final: int | None = None
    step: int | None = None
    initial: int = 10
    sizes: tuple[int, ...] | None = None
    remainder: str = "round"  # final - L0 not a multiple of K: a short last round, or "merge"

    def __post_init__(self) -> None:
        if self.remainder not in REMAINDERS:
            raise ConfigError("remainder", f"{self.remainder!r} is not allowed; allowed: "
                                           f"{', '.join(REMAINDERS)}")
        if self.sizes is not None:
            if self.remainder != "round":
                raise ConfigError("remainder", "applies to final + step, not to sizes = [...]")
            if self.final is not None or self.step is not None:
                raise ConfigError("sizes", "give either sizes = [...] or final + step, not both")
            return
        for key in ("final", "step", "initial"):
            value = getattr(self, key)
            if value is None:
                raise ConfigError(key, "missing (give final and step, or sizes = [...])")
            if value <= 0:
                raise ConfigError(key, f"must be a positive integer, got {value!r}")
        assert self.final is not None and self.step is not None  # checked just above
        if self.final > self.initial and self.step > self.final - self.initial:
            raise ConfigError("step", f"K = {self.step} is larger than the images to acquire "
                                      f"(final {self.final} - L0 {self.initial})")

    def schedule(self, path: str = "") -> BudgetSchedule:
        """The labeled-set sizes per round; `path` is this table's path for errors.

        Raises:
            ConfigError: the sizes are not a valid schedule (e.g. final below L0).
        """
        if self.sizes is not None:
            return build(BudgetSchedule, path, sizes=self.sizes)
        assert self.final is not None and self.step is not None  # checked in __post_init__
        try:
            return BudgetSchedule.from_final(self.final, self.step, self.initial,
                                             self.remainder)
        except ValueError as e:
            raise ConfigError(join_path(path, "final"), str(e)) from None


#: Ray keeps fractional resources in fixed-point units of 1/10000 of one.
RAY_RESOURCE_UNITS = 10_000


def round_down_share(share: float) -> float:
    """A GPU share below one rounded down to Ray's 0.0001 units (1/6 -> 0.1666), so that
    n shares of 1/n never add up to more than one GPU; 0 and whole numbers unchanged."""
    if not 0 < share < 1:
        return share
    # round() first: 0.29 * 10000 is 2899.9999999999995 in binary floating point.
    return math.floor(round(share * RAY_RESOURCE_UNITS, 6)) / RAY_RESOURCE_UNITS


@dataclass(frozen=True)
class Resources:
    """How trials are placed: per-trial CPUs/GPUs (fractions allowed, a GPU share rounded
    down to Ray's 0.0001 units), concurrency, retries;
    and whether they run deterministic algorithms (`deterministic`, on by default: torch's
    deterministic kernels and cuBLAS's fixed workspace; off trades reproducibility on CUDA
    for speed)."""

    cpus_per_trial: float = 1.0
    gpus_per_trial: float | str = 0.0  # or "auto": a probe on a GPU picks the share
    max_concurrent_trials: int = 0
    max_failures: int = 2
    device: str = "auto"
    num_cpus: int | None = None
    num_gpus: float | None = None
    object_store_mb: int = 512
    deterministic: bool = True

    def __post_init__(self) -> None:
        if self.cpus_per_trial <= 0:
            raise ConfigError("cpus_per_trial", f"must be > 0, got {self.cpus_per_trial}")
        gpus = self.gpus_per_trial
        if isinstance(gpus, str):
            if gpus != "auto":
                raise ConfigError("gpus_per_trial",
                                  f"must be a number or \"auto\", got {gpus!r}")
        elif gpus < 0 or (gpus > 1 and gpus != int(gpus)):
            raise ConfigError("gpus_per_trial",
                              f"must be a fraction in [0, 1] or a whole number, got {gpus}")
        elif 0 < gpus < 1:
            if round_down_share(gpus) == 0:
                raise ConfigError("gpus_per_trial",
                                  f"{gpus} is below Ray's smallest share, 0.0001")
            object.__setattr__(self, "gpus_per_trial", round_down_share(gpus))


@dataclass(frozen=True)
class TrackingTable:
    """`[tracking]`: where the driver mirrors the store as it fills. `mlflow`: a tracking
    server URI (http://host:5000) or a local folder; `tensorboard`: true (the experiment
    folder's tensorboard/) or a folder. Not part of any cell: adding it changes no cell id."""

    mlflow: str | None = None
    tensorboard: bool | str = False

    def __post_init__(self) -> None:
        if self.mlflow is not None and not self.mlflow.strip():
            raise ConfigError("mlflow", "must be a tracking URI or a folder, got an empty string")
        if isinstance(self.tensorboard, str) and not self.tensorboard.strip():
            raise ConfigError("tensorboard", "must be true, false or a folder, got an empty "
                                             "string")

    @property
    def enabled(self) -> bool:
        return self.mlflow is not None or self.tensorboard is not False
