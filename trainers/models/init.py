"""3FabRec's weight initialisation, shared by the encoder and the generator."""

from __future__ import annotations

import math

from torch import nn


def init_fabrec_weights(module: nn.Module) -> None:
    """He-normal by fan-out for every plain Conv2d, identity BatchNorm.

    As in 3FabRec (and torchvision-era ResNets): ConvTranspose2d is not a Conv2d subclass,
    so the generator's transposed convolutions keep PyTorch's default init.
    """
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            fan_out = m.kernel_size[0] * m.kernel_size[1] * m.out_channels
            nn.init.normal_(m.weight, 0.0, math.sqrt(2.0 / fan_out))
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
