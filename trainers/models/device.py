"""Device helpers: the CUDA fast path (bf16 autocast, channels_last, pinned copies).

The CPU path is left exact: fp32, default memory format, no autocast.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import nn


def pick_device(device: str | torch.device | None = "auto") -> torch.device:
    """`"auto"`/None -> CUDA when available, else CPU; anything else as given.

    Raises:
        ValueError: CUDA was asked for but is not available, or the name is not a device.
    """
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except RuntimeError as e:
        raise ValueError(f"device={device!r} is not a torch device (use 'auto', 'cpu', "
                         "'cuda' or 'cuda:N')") from e
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={device!r} asked for CUDA but torch.cuda.is_available() is "
                         "False; use 'cpu' or 'auto'")
    return dev


def is_cuda(device: torch.device) -> bool:
    return torch.device(device).type == "cuda"


@contextlib.contextmanager
def autocast(device: torch.device, enabled: bool = True) -> Iterator[None]:
    """bf16 autocast on CUDA (when `enabled`); a no-op on CPU so CPU results stay fp32-exact."""
    if enabled and is_cuda(device):
        with torch.autocast(device_type="cuda", dtype=torch.bfloat16):
            yield
    else:
        yield


def prepare_model(model: nn.Module, device: torch.device) -> nn.Module:
    """Move `model` to `device`; channels_last on CUDA (faster convs with tensor cores)."""
    if is_cuda(device):
        return model.to(device=device, memory_format=torch.channels_last)
    return model.to(device)


def to_device(x: torch.Tensor, device: torch.device) -> torch.Tensor:
    """Copy a CPU batch to `device`: pinned + non-blocking + channels_last on CUDA.

    Non-blocking copies from pinned memory let the host queue the next step without
    waiting for the transfer (no host sync in the step loop).
    """
    if not is_cuda(device):
        return x.to(device)
    if x.device.type == "cpu" and not x.is_pinned():
        x = x.pin_memory()
    x = x.to(device, non_blocking=True)
    return x.contiguous(memory_format=torch.channels_last) if x.dim() == 4 else x
