"""ModelConfig: the few numbers that fix a 3FabRec / SCAF network's shape."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

ARCHS = ("3fabrec", "scaf")
INPUT_SIZES = (64, 128, 256)
Z_DIM = 99

# RGB channel means 3FabRec subtracts from [0, 1] images (no division by a std).
IMAGE_MEAN = (0.518, 0.418, 0.361)


def scaled_channels(channels: int, width: float) -> int:
    """Channel count `channels` scaled by `width`, at least 4 and divisible by 4.

    Divisibility by 4 keeps the Bulat bottleneck's C/2 and C/4 branches whole.
    """
    return max(4, 4 * round(channels * width / 4))


@dataclass(frozen=True)
class ModelConfig:
    """Shape of a 3FabRec or SCAF network.

    Attributes:
        arch: "3fabrec" (ITL head) or "scaf" (ITL head plus encoder skip bottlenecks).
        num_landmarks: heatmap channels L; 0 builds the auto-encoder alone (no head),
            as the unsupervised stage and the official `aae` snapshot do.
        input_size: network input side S; 256 is the published network. The encoder's
            last stage is S/64 px, so S must be a power of two of at least 64.
        width: channel multiplier (1.0 = published network); small widths make tests fast.
        z_dim: latent size (99 in 3FabRec).
    """

    arch: str = "3fabrec"
    num_landmarks: int = 68
    input_size: int = 256
    width: float = 1.0
    z_dim: int = Z_DIM

    def __post_init__(self) -> None:
        if self.arch not in ARCHS:
            raise ValueError(f"ModelConfig.arch={self.arch!r} is not one of {ARCHS}")
        if not isinstance(self.num_landmarks, int) or self.num_landmarks < 0:
            raise ValueError(
                f"ModelConfig.num_landmarks={self.num_landmarks!r} must be an int >= 0 "
                "(0 = auto-encoder without landmark head)"
            )
        if self.input_size not in INPUT_SIZES:
            raise ValueError(
                f"ModelConfig.input_size={self.input_size!r} must be one of {INPUT_SIZES}: the "
                "encoder halves the image six times (its last stage is S/64 px) and the "
                "generator doubles it six times, so S=32 has no valid shape"
            )
        if not (isinstance(self.width, int | float) and 0.0 < self.width <= 4.0):
            raise ValueError(f"ModelConfig.width={self.width!r} must be a number in (0, 4]")
        if not isinstance(self.z_dim, int) or self.z_dim < 1:
            raise ValueError(f"ModelConfig.z_dim={self.z_dim!r} must be a positive int")

    @property
    def heatmap_size(self) -> int:
        """Side of the predicted heatmaps (S/2; 128 at 256)."""
        return self.input_size // 2

    def channels(self, c: int) -> int:
        """`c` channels of the published network at this config's width."""
        return scaled_channels(c, self.width)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> ModelConfig:
        """Rebuild from `to_dict` output; unknown keys are an error naming them."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(
                f"ModelConfig.from_dict: unknown keys {unknown}; allowed {sorted(known)}"
            )
        kw = dict(d)
        if "width" in kw:
            kw["width"] = float(kw["width"])
        return cls(**kw)
