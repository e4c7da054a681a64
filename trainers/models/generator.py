"""Generator P: 3FabRec's inverted ResNet, z (99) -> RGB image (tanh).

Module names match the official state-dict keys (`fc`, `conv1`, `bn1`, `layer1`..`layer5`,
`lin`; each layer is a Sequential holding one InvBasicBlock). Layer order, padding and
BatchNorm placement follow the official generator.
"""

from __future__ import annotations

import torch
from torch import nn

from trainers.models.config import ModelConfig
from trainers.models.init import init_fabrec_weights


def _deconv4x4(cin: int, cout: int) -> nn.ConvTranspose2d:
    """Stride-2 transposed conv that exactly doubles the side."""
    return nn.ConvTranspose2d(cin, cout, kernel_size=4, stride=2, padding=1, bias=False)


class InvBasicBlock(nn.Module):
    """Upsampling residual block: ConvT4x4(s2)-BN-ReLU-conv3x3-BN + (ConvT4x4(s2)+BN), ReLU."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv1 = _deconv4x4(cin, cout)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, kernel_size=3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.upsample = nn.Sequential(_deconv4x4(cin, cout), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return torch.relu(out + self.upsample(x))


def _layer(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(InvBasicBlock(cin, cout))


class Generator(nn.Module):
    """Inverted ResNet: (B, z_dim) -> (B, 3, S, S) in (-1, 1).

    Sizes at input S: fc -> (C, 1, 1) -> ConvT(kernel S/64) -> S/64 (x0); layer1 S/32 (x1),
    layer2 S/16, layer3 S/8, layer4 S/4, layer5 S/2, lin S. At 256 the stem kernel is 4,
    as in 3FabRec; at 64 it is 1.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        c64, c128, c256, c512 = (config.channels(c) for c in (64, 128, 256, 512))
        stem_kernel = max(1, config.input_size // 64)
        self.fc = nn.Linear(config.z_dim, c512)
        self.conv1 = nn.ConvTranspose2d(c512, c512, kernel_size=stem_kernel, stride=1,
                                        padding=0, bias=False)
        self.bn1 = nn.BatchNorm2d(c512)
        self.layer1 = _layer(c512, c256)
        self.layer2 = _layer(c256, c128)
        self.layer3 = _layer(c128, c64)
        self.layer4 = _layer(c64, c64)
        self.layer5 = _layer(c64, c64)
        self.lin = _deconv4x4(c64, 3)
        self._init_weights()

    def _init_weights(self) -> None:
        init_fabrec_weights(self)

    def stem(self, z: torch.Tensor) -> torch.Tensor:
        """z (B, z_dim) -> x0 (B, C512, S/64, S/64)."""
        x = self.fc(z).view(z.shape[0], -1, 1, 1)
        return torch.relu(self.bn1(self.conv1(x)))

    def head_input(self, z: torch.Tensor) -> torch.Tensor:
        """x1 = layer1(stem(z)) (B, C256, S/32, S/32): where the landmark head starts."""
        return self.layer1(self.stem(z))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = self.head_input(z)
        x = self.layer5(self.layer4(self.layer3(self.layer2(x))))
        return torch.tanh(self.lin(x))
