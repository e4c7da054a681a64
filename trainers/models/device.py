"""Memory-format helpers for the CUDA fast path; the CPU path is left untouched.

Device choice and bf16 autocast live in `trainers.device` (`resolve_device`,
`autocast_context`); these two add channels_last, which lets cuDNN use tensor-core
convolution kernels without layout conversions.
"""

from __future__ import annotations

import torch
from torch import nn


def prepare_model(model: nn.Module, device: torch.device) -> nn.Module:
    """Move `model` to `device`, in channels_last on CUDA (default layout on CPU)."""
    if torch.device(device).type == "cuda":
        return model.to(device=device, memory_format=torch.channels_last)
    return model.to(device)


def channels_last(x: torch.Tensor) -> torch.Tensor:
    """A 4-D CUDA batch in channels_last; anything else unchanged (CPU stays exact)."""
    if x.is_cuda and x.dim() == 4:
        return x.contiguous(memory_format=torch.channels_last)
    return x
