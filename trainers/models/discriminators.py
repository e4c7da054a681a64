"""3FabRec's discriminators for the unsupervised stage: latent `D_z` and image `D`.

Names match the official state-dict keys (`lin1..lin3`; `main.<index>`).
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from trainers.models.config import ModelConfig


class LatentDiscriminator(nn.Module):
    """MLP z -> P(z drawn from N(0, I)): Linear-dropout(0.2)-ReLU x2, Linear, sigmoid."""

    def __init__(self, config: ModelConfig, hidden: int = 1000) -> None:
        super().__init__()
        h = config.channels(hidden)
        self.lin1 = nn.Linear(config.z_dim, h)
        self.lin2 = nn.Linear(h, h)
        self.lin3 = nn.Linear(h, 1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        # Dropout before ReLU, as in 3FabRec (equivalent up to where zeros appear).
        x = F.relu(F.dropout(self.lin1(z), p=0.2, training=self.training))
        x = F.relu(F.dropout(self.lin2(x), p=0.2, training=self.training))
        return torch.sigmoid(self.lin3(x)).squeeze(1)


class ImageDiscriminator(nn.Module):
    """DCGAN-like image discriminator (ndf 32) -> (B,) probabilities of "real".

    Stride-2 Conv4x4 stages (the first without BN) bring the image to 8x8, then a
    Conv4x4 (s1, p0) to 1 channel, global average pool and sigmoid. At 256 that is five
    stages 32, 64, 128, 256, 256 as in 3FabRec; smaller inputs use the first log2(S/8).
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
                   nn.AdaptiveAvgPool2d((1, 1)), nn.Sigmoid()]
        self.main = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.main(x).flatten()
