"""FabRec: the 3FabRec / SCAF network (encoder Q, generator P, landmark head LMH).

Top-level attribute names (`Q`, `P`, `D_z`, `D`, `LMH`) are the official state-dict
prefixes, so official snapshots map onto this module without renaming.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import nn

from trainers.models.config import ModelConfig
from trainers.models.discriminators import ImageDiscriminator, LatentDiscriminator
from trainers.models.encoder import Encoder
from trainers.models.generator import Generator
from trainers.models.itl_head import LandmarkHead


class FabRec(nn.Module):
    """Adversarial auto-encoder with an ITL landmark head (SCAF: plus encoder skips).

    Inputs `x` are (B, 3, S, S) RGB in [0, 1] minus IMAGE_MEAN.
    """

    def __init__(self, config: ModelConfig, with_discriminators: bool = False) -> None:
        super().__init__()
        self.config = config
        self.Q = Encoder(config)
        self.P = Generator(config)
        self.LMH: LandmarkHead | None = None
        if config.num_landmarks > 0:
            self.LMH = LandmarkHead(config, with_skips=config.arch == "scaf")
        self.D_z: LatentDiscriminator | None = None
        self.D: ImageDiscriminator | None = None
        if with_discriminators:
            self.D_z = LatentDiscriminator(config)
            self.D = ImageDiscriminator(config)

    @property
    def has_discriminators(self) -> bool:
        return self.D_z is not None

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, S, S) -> z (B, z_dim)."""
        return self.Q(x)

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """P(Q(x)): (B, 3, S, S), tanh output (compared with the mean-subtracted input)."""
        return self.P(self.Q(x))

    def heatmaps_and_features(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Raw heatmaps (B, L, S/2, S/2) and the latent z (B, z_dim), one encoder pass."""
        head = self._require_head()
        z, feats = self.Q.features(x)
        # Only P's stem and layer1 are needed before the head; layer5 and the RGB
        # ConvT do not feed it (eval outputs equal running the whole generator first).
        hm = head(self.P.head_input(z), self.P, feats if head.with_skips else None)
        return hm, z

    def heatmaps(self, x: torch.Tensor) -> torch.Tensor:
        """Raw head output (B, L, S/2, S/2), before any smoothing."""
        return self.heatmaps_and_features(x)[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Heatmaps when the model has a head, else the reconstruction."""
        return self.heatmaps(x) if self.LMH is not None else self.reconstruct(x)

    def head_parameters(self) -> list[nn.Parameter]:
        """ITLs, final ConvT and SCAF bottlenecks (3FabRec/SCAF train these at lr 1e-3)."""
        return list(self._require_head().parameters())

    def encoder_parameters(self) -> list[nn.Parameter]:
        """Encoder Q (fine-tuned at lr 2e-5)."""
        return list(self.Q.parameters())

    def generator_parameters(self) -> Iterator[nn.Parameter]:
        return self.P.parameters()

    def set_supervised_mode(self) -> FabRec:
        """3FabRec's supervised-stage modes: everything eval, head train, generator frozen.

        Q and P BatchNorms then use running statistics even while Q is fine-tuned; the SCAF
        bottlenecks live in the head, so their BatchNorms train. Gradients still flow
        through P's frozen layers into Q.
        """
        head = self._require_head()
        self.eval()
        head.train()
        for p in self.P.parameters():
            p.requires_grad_(False)
        return self

    def _require_head(self) -> LandmarkHead:
        if self.LMH is None:
            raise ValueError(
                "this model has no landmark head (num_landmarks=0, an auto-encoder only); "
                "build it with num_landmarks > 0 to predict heatmaps"
            )
        return self.LMH
