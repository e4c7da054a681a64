"""ModelConfig: the few numbers that fix a 3FabRec / SCAF network's shape."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from trainers.config.typed import ConfigError, from_table

# The one home of the allowed architectures, input sizes and widths (specs, cells, the
# unsupervised stage and the networks all check against these).
ARCHITECTURES = ("3fabrec", "scaf")
INPUT_SIZES = (64, 128, 256)
MAX_WIDTH = 4.0  # width is a channel multiplier in (0, MAX_WIDTH]
Z_DIM = 99

# RGB channel means 3FabRec subtracts from [0, 1] images (no division by a std).
IMAGE_MEAN = (0.518, 0.418, 0.361)


def check_architecture(arch: object, field: str = "arch") -> None:
    """Raise ConfigError(field, ...) unless `arch` is one of ARCHITECTURES."""
    if arch not in ARCHITECTURES:
        raise ConfigError(field, f"{arch!r} is not an architecture; allowed: "
                                 f"{', '.join(ARCHITECTURES)}")


def check_input_size(size: object, field: str = "input_size") -> None:
    """Raise ConfigError(field, ...) unless `size` is one of INPUT_SIZES."""
    if size not in INPUT_SIZES:
        raise ConfigError(
            field,
            f"must be one of {', '.join(map(str, INPUT_SIZES))}, got {size!r} (the encoder "
            "halves the image six times and the generator doubles it six times)",
        )


def check_width(width: object, field: str = "width") -> None:
    """Raise ConfigError(field, ...) unless `width` is a number in (0, MAX_WIDTH]."""
    if not (isinstance(width, int | float) and not isinstance(width, bool)
            and 0.0 < width <= MAX_WIDTH):
        raise ConfigError(field, f"must be a number in (0, {MAX_WIDTH:g}], got {width!r}")


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
        check_architecture(self.arch)
        if not isinstance(self.num_landmarks, int) or self.num_landmarks < 0:
            raise ConfigError("num_landmarks", "must be an int >= 0 (0 = auto-encoder without "
                                               f"landmark head), got {self.num_landmarks!r}")
        check_input_size(self.input_size)
        check_width(self.width)
        if not isinstance(self.z_dim, int) or self.z_dim < 1:
            raise ConfigError("z_dim", f"must be a positive int, got {self.z_dim!r}")

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
        """Rebuild from `to_dict` output; an unknown key is an error naming it."""
        kw = dict(d)
        if "width" in kw and isinstance(kw["width"], int | float):
            kw["width"] = float(kw["width"])
        return from_table(cls, kw, "model_config")
