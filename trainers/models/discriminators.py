"""3FabRec's discriminators for the unsupervised stage: latent `D_z` and image `D`.

Names match the official state-dict keys (`lin1..lin3`; `main.<index>`).

Each gives fp32 logits (`logits`): its last layer runs outside autocast, so that under bf16
a logit of 6 is not a probability rounded to exactly 1.0 (bf16 keeps 8 significant bits).
`forward` is the probability, the sigmoid of those logits.
"""

from __future__ import annotations

import contextlib
import math
from contextlib import AbstractContextManager

import torch
from torch import nn
from torch.nn import functional as F

from trainers.models.config import ModelConfig


def _fp32(x: torch.Tensor) -> AbstractContextManager[object]:
    """Autocast off for the block when it is on for `x`'s device (a no-op otherwise)."""
    kind = x.device.type
    if kind in ("cpu", "cuda") and torch.is_autocast_enabled(kind):
        return torch.autocast(kind, enabled=False)
    return contextlib.nullcontext()


class LatentDiscriminator(nn.Module):
    """MLP z -> P(z drawn from N(0, I)): Linear-dropout(0.2)-ReLU x2, Linear, sigmoid."""

    def __init__(self, config: ModelConfig, hidden: int = 1000) -> None:
        super().__init__()
        h = config.channels(hidden)
        self.lin1 = nn.Linear(config.z_dim, h)
        self.lin2 = nn.Linear(h, h)
        self.lin3 = nn.Linear(h, 1)

    def logits(self, z: torch.Tensor) -> torch.Tensor:
        """(B,) float32 logits; the last layer in fp32 even under autocast."""
        # Dropout before ReLU, as in 3FabRec (equivalent up to where zeros appear).
        x = F.relu(F.dropout(self.lin1(z), p=0.2, training=self.training))
        x = F.relu(F.dropout(self.lin2(x), p=0.2, training=self.training))
        with _fp32(x):
            return self.lin3(x.float()).squeeze(1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.logits(z))


class ImageDiscriminator(nn.Module):
    """DCGAN-like image discriminator (ndf 32) -> (B,) probabilities of "real".

    Stride-2 Conv4x4 stages (the first without BN) bring the image to 8x8, then a
    Conv4x4 (s1, p0) to 1 channel, global average pool and sigmoid. At 256 that is five
    stages 32, 64, 128, 256, 256 as in 3FabRec; smaller inputs use the first log2(S/8).
    The sigmoid is not a layer of `main` (it has no weights, so the keys are unchanged).
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        n_stages = int(math.log2(config.input_size // 8))
        chans = [config.channels(c) for c in (32, 64, 128, 256, 256)][:n_stages]
        layers: list[nn.Module] = []
        cin = 3
        for i, cout in enumerate(chans):
            layers.append(nn.Conv2d(cin, cout, kernel_size=4, stride=2, padding=1, bias=False))
            if i > 0:
                layers.append(nn.BatchNorm2d(cout))
            layers.append(nn.LeakyReLU(0.2))
            cin = cout
        layers += [nn.Conv2d(cin, 1, kernel_size=4, stride=1, padding=0, bias=False),
                   nn.AdaptiveAvgPool2d((1, 1))]
        self.main = nn.Sequential(*layers)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """(B,) float32 logits; the last convolution and the pool in fp32 even under
        autocast."""
        h = self.main[:-2](x)
        with _fp32(h):
            return self.main[-1](self.main[-2](h.float())).flatten()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.logits(x))
