"""Device choice and mixed precision: bf16 autocast on CUDA only, exact fp32 on the CPU."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch


def resolve_device(device: torch.device | str = "auto") -> torch.device:
    """"auto" -> the first CUDA device when there is one, else the CPU."""
    if isinstance(device, torch.device):
        return device
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} was asked for, but torch sees no CUDA device")
    return dev


@contextlib.contextmanager
def autocast_context(device: torch.device, enabled: bool = True) -> Iterator[None]:
    """bf16 autocast on CUDA when enabled; a no-op on the CPU so CPU results stay fp32-exact."""
    if enabled and device.type == "cuda":
        with torch.autocast("cuda", dtype=torch.bfloat16):
            yield
    else:
        yield
