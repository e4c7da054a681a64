"""Settings of the unsupervised stage: the part a spec sets (`model.pretrain`) and the
whole stage config, which adds what comes from elsewhere (model size, seed, device)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from trainers.config.typed import ConfigError, from_table
from trainers.models.config import check_input_size, check_width

# Settings every spec serialises, even at their defaults: the `model.pretrain` dict (and
# so the cell id and the auto-encoder cache key) has always held them.
ALWAYS_SERIALISED = ("steps", "batch_size")


@dataclass(frozen=True)
class PretrainSettings:
    """The `model.pretrain` table of a spec (defaults: a laptop-sized stage).

    Attributes:
        steps: total optimisation steps (a resumed run continues up to this count).
        batch_size: images per step (3FabRec: 50).
        lr: Adam learning rate of Q, P and D_z.
        betas: Adam betas.
        disc_lr_factor: the image discriminator D's lr = lr * this.
        w_rec: weight of the L1 pixel loss (pixels on the 0..255 scale).
        w_latent_adv: weight of Q's latent adversarial loss; 0 disables D_z entirely.
        w_image_adv: weight of the image adversarial loss; 0 disables D entirely.
        w_ssim: weight of the structural loss 1 - cs; 0 = off (3FabRec uses 60 when on).
        augmentation: 3FabRec augmentation level 0..7 (flip always on).
        mixed_precision: bf16 autocast on CUDA GPUs of compute capability 8.0 and newer
            (fp32 on older ones and on the CPU; see `trainers.training.device`).
        checkpoint_every: write the checkpoint every this many steps (and at the end).
        log_every: call `progress` every this many steps (the only host syncs).
        latent_disc_every, latent_enc_every, image_disc_every: update periods (3FabRec: 4,
            2, 2).
    """

    steps: int = 600
    batch_size: int = 32
    lr: float = 2e-5
    betas: tuple[float, float] = (0.0, 0.999)
    disc_lr_factor: float = 0.5
    w_rec: float = 1.0
    w_latent_adv: float = 1.0
    w_image_adv: float = 1.0
    w_ssim: float = 0.0
    augmentation: int = 4
    mixed_precision: bool = True
    checkpoint_every: int = 500
    log_every: int = 10
    latent_disc_every: int = 4
    latent_enc_every: int = 2
    image_disc_every: int = 2

    def __post_init__(self) -> None:
        positive = ("steps", "batch_size", "checkpoint_every", "log_every",
                    "latent_disc_every", "latent_enc_every", "image_disc_every")
        for name in positive:
            v = getattr(self, name)
            if not isinstance(v, int) or v < 1:
                raise ConfigError(name, f"must be an int >= 1, got {v!r}")
        for name in ("lr", "disc_lr_factor"):
            if not getattr(self, name) > 0:
                raise ConfigError(name, f"must be > 0, got {getattr(self, name)!r}")
        for name in ("w_rec", "w_latent_adv", "w_image_adv", "w_ssim"):
            if not getattr(self, name) >= 0:
                raise ConfigError(name, f"must be >= 0, got {getattr(self, name)!r}")
        if len(self.betas) != 2 or not all(0.0 <= b < 1.0 for b in self.betas):
            raise ConfigError("betas", f"must be two numbers in [0, 1), got {self.betas!r}")
        if self.augmentation not in range(8):
            raise ConfigError("augmentation", f"must be 0..7, got {self.augmentation!r}")

    def to_dict(self) -> dict[str, Any]:
        """The table as a spec writes it: steps and batch_size, plus every setting that
        differs from its default (so existing specs keep their cell ids and caches)."""
        defaults = PretrainSettings()
        out: dict[str, Any] = {}
        for f in fields(PretrainSettings):
            value = getattr(self, f.name)
            if f.name in ALWAYS_SERIALISED or value != getattr(defaults, f.name):
                out[f.name] = list(value) if isinstance(value, tuple) else value
        return out


@dataclass(frozen=True)
class PretrainConfig(PretrainSettings):
    """Settings of the unsupervised stage (defaults: 3FabRec's, model.md section 1).

    The fields of PretrainSettings, with 3FabRec's steps and batch size as defaults, plus:

    Attributes:
        input_size: network input side S (64, 128 or 256).
        width: channel multiplier of the networks.
        seed: seeds model init, batch order, augmentation and dropout.
        device: "auto", "cpu", "cuda" or "cuda:N".
    """

    steps: int = 1000
    batch_size: int = 50
    input_size: int = 256
    width: float = 1.0
    seed: int = 0
    device: str = "auto"

    def __post_init__(self) -> None:
        object.__setattr__(self, "betas", tuple(float(b) for b in self.betas))
        check_input_size(self.input_size)
        check_width(self.width)
        object.__setattr__(self, "width", float(self.width))
        super().__post_init__()

    @classmethod
    def from_settings(cls, settings: PretrainSettings, *, input_size: int, width: float,
                      seed: int = 0, device: str = "auto") -> PretrainConfig:
        """The stage config of a spec's `model.pretrain` table for one model size."""
        return cls(**asdict(settings), input_size=input_size, width=width, seed=seed,
                   device=device)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PretrainConfig:
        """Rebuild from `to_dict` output; an unknown key is an error naming it."""
        return from_table(cls, d, "pretrain_config")
