"""Device choice and the fast path: bf16 autocast and channels_last layouts.

On CUDA the trainers take the fast path: bf16 autocast (when the config's `amp` is on) and
channels_last tensors, which let cuDNN use tensor-core convolution kernels without layout
conversions. On the CPU they stay in exact fp32 and the default layout, so CPU results are
reproducible bit for bit.

`cpu_fast_path()` opts the CPU into the same path. torch supports bf16 autocast and
channels_last there too, so the GPU code paths can run (and be checked) on a machine
without a GPU, such as CI; results are then no longer fp32-exact.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from typing import TypeVar

import torch
from torch import nn

# A context variable, not a module flag: the opt-in ends with its `with` block, even when
# the block raises, and does not leak into other threads.
_CPU_FAST_PATH: ContextVar[bool] = ContextVar("cpu_fast_path", default=False)


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
def cpu_fast_path(enabled: bool = True) -> Iterator[None]:
    """Within this block, CPU work takes the CUDA fast path too (bf16 autocast where `amp`
    is on, channels_last models and batches).

    Args:
        enabled: False keeps the default (exact fp32, default layout on the CPU).
    """
    token = _CPU_FAST_PATH.set(enabled)
    try:
        yield
    finally:
        _CPU_FAST_PATH.reset(token)


def uses_fast_path(device: torch.device | str) -> bool:
    """True on CUDA, and on the CPU inside `cpu_fast_path()`."""
    kind = torch.device(device).type
    return kind == "cuda" or (kind == "cpu" and _CPU_FAST_PATH.get())


@contextlib.contextmanager
def autocast_context(device: torch.device, enabled: bool = True) -> Iterator[None]:
    """bf16 autocast on the fast path when `enabled`; a no-op otherwise (exact fp32)."""
    if enabled and uses_fast_path(device):
        with torch.autocast(torch.device(device).type, dtype=torch.bfloat16):
            yield
    else:
        yield


_ModuleT = TypeVar("_ModuleT", bound=nn.Module)


def prepare_model(model: _ModuleT, device: torch.device) -> _ModuleT:
    """Move `model` to `device`, in channels_last on the fast path (default layout else)."""
    if uses_fast_path(device):
        # Module.to takes memory_format (see its docstring); torch's overloads leave it out.
        return model.to(device=device, memory_format=torch.channels_last)  # type: ignore[call-overload]
    return model.to(device)


def channels_last(x: torch.Tensor) -> torch.Tensor:
    """A 4-D batch in channels_last on the fast path; anything else unchanged."""
    if x.dim() == 4 and uses_fast_path(x.device):
        return x.contiguous(memory_format=torch.channels_last)
    return x
