"""Landmark head `LMH`: 3FabRec's interleaved transfer layers (ITLs), plus SCAF's skips.

The head owns only its own weights: t1..t4 (plain 3x3 convs, no bias/BN/activation), the
final ConvT to L heatmaps (`lin`), and for SCAF the four skip bottlenecks. It borrows the
frozen generator blocks layer2..layer4 at run time, so the state dict never duplicates them.
"""

from __future__ import annotations

import torch
from torch import nn

from trainers.models.bottleneck import BulatBlock
from trainers.models.config import ModelConfig
from trainers.models.generator import Generator

# SCAF skip names by the side they work at in the published 256 network; the same
# names are used at every input size so checkpoints keep one key layout.
SKIP_NAMES = ("skip8", "skip16", "skip32", "skip64")


def _itl(c: int) -> nn.Conv2d:
    return nn.Conv2d(c, c, kernel_size=3, stride=1, padding=1, bias=False)


class LandmarkHead(nn.Module):
    """ITL head; with `with_skips` it is SCAF's head.

    Data flow (sizes at 256): x1 (8) [+ skip8(Q.layer3)] -> t1 -> P.layer2 (16)
    [+ skip16(Q.layer2)] -> t2 -> P.layer3 (32) [+ skip32(Q.layer1)] -> t3 -> P.layer4 (64)
    [+ skip64(Q.layer0)] -> t4 -> lin -> heatmaps (128), no output activation.
    """

    def __init__(self, config: ModelConfig, with_skips: bool) -> None:
        super().__init__()
        c64, c128, c256 = (config.channels(c) for c in (64, 128, 256))
        self.t1 = _itl(c256)
        self.t2 = _itl(c128)
        self.t3 = _itl(c64)
        self.t4 = _itl(c64)
        self.lin = nn.ConvTranspose2d(c64, config.num_landmarks, kernel_size=4, stride=2,
                                      padding=1, bias=False)
        self.with_skips = with_skips
        if with_skips:
            # Encoder stage channels equal the generator's at the same side, so each
            # bottleneck is C->C with an identity residual.
            self.skip8 = BulatBlock(c256, c256)
            self.skip16 = BulatBlock(c128, c128)
            self.skip32 = BulatBlock(c64, c64)
            self.skip64 = BulatBlock(c64, c64)

    def skip_blocks(self) -> list[BulatBlock]:
        """The SCAF bottlenecks, coarse to fine (empty for 3FabRec)."""
        return [getattr(self, n) for n in SKIP_NAMES] if self.with_skips else []

    def itl_parameters(self) -> list[nn.Parameter]:
        """ITLs and the final ConvT (the 3FabRec head proper)."""
        return [p for m in (self.t1, self.t2, self.t3, self.t4, self.lin) for p in m.parameters()]

    def forward(self, x1: torch.Tensor, generator: Generator,
                enc_feats: list[torch.Tensor] | None = None) -> torch.Tensor:
        """Heatmaps (B, L, S/2, S/2) from the generator's layer1 output.

        Args:
            x1: generator layer1 output (B, C256, S/32, S/32).
            generator: the (frozen) generator whose layer2..layer4 the head runs through.
            enc_feats: encoder stage outputs [layer0, layer1, layer2, layer3]; required
                for SCAF, ignored for 3FabRec.
        """
        stages = (generator.layer2, generator.layer3, generator.layer4)
        itls = (self.t1, self.t2, self.t3, self.t4)
        if self.with_skips:
            if enc_feats is None:
                raise ValueError("SCAF head needs the encoder features (enc_feats)")
            # skip8 <- layer3, skip16 <- layer2, skip32 <- layer1, skip64 <- layer0
            skips = list(zip(self.skip_blocks(), reversed(enc_feats), strict=True))
        x = x1
        for i, itl in enumerate(itls):
            if i > 0:
                x = stages[i - 1](x)
            if self.with_skips:
                block, feat = skips[i]
                x = x + block(feat)
            x = itl(x)
        return self.lin(x)
