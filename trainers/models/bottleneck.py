"""SCAF's skip bottleneck: Bulat & Tzimiropoulos' hierarchical, parallel, multi-scale block.

Used by SCAF (Dornier et al., ICIAP 2022) to project an encoder stage's output before
adding it to the matching ITL input. Parameter names follow the reference `ConvBlock`
(bn1, conv1, bn2, conv2, bn3, conv3, downsample.0 (BN), downsample.2 (1x1 conv)).
"""

from __future__ import annotations

import torch
from torch import nn


def _conv3x3(cin: int, cout: int) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, kernel_size=3, stride=1, padding=1, bias=False)


class BulatBlock(nn.Module):
    """Pre-activation block: three chained 3x3 convs (C/2, C/4, C/4), concatenated, plus residual.

    No BN or ReLU after the sum (as in the reference block).
    """

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        if cout % 4:
            raise ValueError(f"BulatBlock output channels must be divisible by 4, got {cout}")
        half, quarter = cout // 2, cout // 4
        self.bn1 = nn.BatchNorm2d(cin)
        self.conv1 = _conv3x3(cin, half)
        self.bn2 = nn.BatchNorm2d(half)
        self.conv2 = _conv3x3(half, quarter)
        self.bn3 = nn.BatchNorm2d(quarter)
        self.conv3 = _conv3x3(quarter, quarter)
        self.downsample: nn.Sequential | None = None
        if cin != cout:
            self.downsample = nn.Sequential(
                nn.BatchNorm2d(cin),
                nn.ReLU(),
                nn.Conv2d(cin, cout, kernel_size=1, stride=1, bias=False),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        o1 = self.conv1(torch.relu(self.bn1(x)))
        o2 = self.conv2(torch.relu(self.bn2(o1)))
        o3 = self.conv3(torch.relu(self.bn3(o2)))
        residual = x if self.downsample is None else self.downsample(x)
        return torch.cat((o1, o2, o3), dim=1) + residual
