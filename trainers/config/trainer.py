"""Settings of the supervised stage: a plain dataclass, importable without torch (specs,
cells and progress views read it; the training code is `trainers.training.supervised`)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from trainers.config.typed import ConfigError

SCHEDULES = ("joint", "two_step")
#: How each round's model starts: from the auto-encoder with a fresh head (the paper's
#: protocol), or from the previous round's trained model (round 0 is the same either way).
INITS = ("scratch", "warm")


@dataclass(frozen=True)
class TrainerConfig:
    """Settings of the supervised stage (one training run on one labeled set)."""

    steps: int = 400
    batch_size: int = 16
    lr_head: float = 1e-3
    lr_encoder: float = 2e-5
    train_encoder: bool = True
    schedule: str = "joint"
    head_only_steps: int = 0
    sigma: float = 7.0
    loss_scale: float = 300.0
    augment_level: int = 0
    eval_batch_size: int = 64
    subpixel: bool = False
    amp: bool = True
    max_loss: float = 1e6
    init: str = "scratch"
    warm_steps: int | None = None  # steps of a warm-started round (None: `steps`)

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "eval_batch_size"):
            if getattr(self, name) < 1:
                raise ConfigError(name, f"must be >= 1, got {getattr(self, name)}")
        if self.schedule not in SCHEDULES:
            raise ConfigError("schedule", f"{self.schedule!r} is not a schedule; allowed: "
                                          f"{', '.join(SCHEDULES)}")
        if self.schedule == "two_step" and not 0 < self.head_only_steps < self.steps:
            raise ConfigError(
                "head_only_steps",
                f"must be in (0, steps) for schedule='two_step', got {self.head_only_steps} "
                f"with steps={self.steps}",
            )
        for name in ("lr_head", "lr_encoder", "sigma", "loss_scale"):
            if getattr(self, name) <= 0:
                raise ConfigError(name, f"must be > 0, got {getattr(self, name)}")
        if self.init not in INITS:
            raise ConfigError("init", f"{self.init!r} is not a start; allowed: "
                                      f"{', '.join(INITS)}")
        if self.warm_steps is not None and self.warm_steps < 1:
            raise ConfigError("warm_steps", f"must be >= 1, got {self.warm_steps}")
        if self.warm_steps is not None and self.init != "warm":
            raise ConfigError("warm_steps", 'applies only with init = "warm"')
        if (self.init == "warm" and self.schedule == "two_step"
                and (self.warm_steps or self.steps) <= self.head_only_steps):
            raise ConfigError("warm_steps", f"must be > head_only_steps "
                                            f"({self.head_only_steps}) for schedule='two_step'")
        if not 0 <= self.augment_level <= 7:
            raise ConfigError("augment_level", f"must be in 0..7, got {self.augment_level}")

    def to_dict(self) -> dict:
        return asdict(self)
