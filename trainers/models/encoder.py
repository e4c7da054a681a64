"""Encoder Q: 3FabRec's ResNet-18 with an extra stride-1 stage, ending in a 99-d latent.

Layer order, padding and BatchNorm placement follow the official 3FabRec encoder so that,
with the same weights, eval-mode outputs are equal. Module names match the official
state-dict keys (`conv1`, `bn1`, `layer0`..`layer4`, `fc`).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from trainers.models.config import ModelConfig
from trainers.models.init import init_fabrec_weights


def _conv3x3(cin: int, cout: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, kernel_size=3, stride=stride, padding=1, bias=False)


class BasicBlock(nn.Module):
    """conv3x3(s)-BN-ReLU-conv3x3-BN + shortcut, then ReLU."""

    def __init__(self, cin: int, cout: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = _conv3x3(cin, cout, stride)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = _conv3x3(cout, cout)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample: nn.Sequential | None = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(
                nn.Conv2d(cin, cout, kernel_size=1, stride=stride, bias=False),
                nn.BatchNorm2d(cout),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        shortcut = x if self.downsample is None else self.downsample(x)
        return torch.relu(out + shortcut)


def _stage(cin: int, cout: int, stride: int) -> nn.Sequential:
    """Two BasicBlocks; the first carries the stride.

    A strided first block gets a 1x1 projection even at equal channel counts (the official
    layer1 is 64->64 at stride 2 and has `downsample`).
    """
    return nn.Sequential(BasicBlock(cin, cout, stride), BasicBlock(cout, cout, 1))


class Encoder(nn.Module):
    """ResNet encoder: (B, 3, S, S) -> z (B, z_dim).

    Spatial sizes at input S: stem S/4 (conv s2 + maxpool), layer0 S/4, layer1 S/8,
    layer2 S/16, layer3 S/32, layer4 S/64; then global average pool and fc.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        c64, c128, c256, c512 = (config.channels(c) for c in (64, 128, 256, 512))
        self.conv1 = nn.Conv2d(3, c64, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(c64)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer0 = _stage(c64, c64, 1)
        self.layer1 = _stage(c64, c64, 2)
        self.layer2 = _stage(c64, c128, 2)
        self.layer3 = _stage(c128, c256, 2)
        self.layer4 = _stage(c256, c512, 2)
        self.fc = nn.Linear(c512, config.z_dim)
        self._init_weights()

    def _init_weights(self) -> None:
        init_fabrec_weights(self)

    def features(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Latent plus the stage outputs SCAF's skips need.

        Returns:
            z (B, z_dim) and [layer0 (S/4), layer1 (S/8), layer2 (S/16), layer3 (S/32)].
        """
        x = self.maxpool(torch.relu(self.bn1(self.conv1(x))))
        f0 = self.layer0(x)
        f1 = self.layer1(f0)
        f2 = self.layer2(f1)
        f3 = self.layer3(f2)
        f4 = self.layer4(f3)
        z = self.fc(torch.flatten(F.adaptive_avg_pool2d(f4, 1), 1))
        return z, [f0, f1, f2, f3]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)[0]
