"""Device choice, the fast path (reduced-precision autocast and channels_last layouts),
determinism, and moving a step's host tensors to the device in one copy.

On CUDA the trainers take the fast path: autocast (when the config's `amp` is on) and
channels_last tensors, which let cuDNN use tensor-core convolution kernels without layout
conversions. On the CPU they stay in exact fp32 and the default layout, so CPU results are
reproducible bit for bit.

Precision on CUDA (`autocast_dtype`): bf16 on compute capability 8.0 and newer (A100, H100,
RTX 30xx/40xx...), which have bf16 tensor cores and cuDNN convolutions. Older GPUs (V100
7.0, T4 7.5) have no bf16 convolutions, so they run fp32: fp16 autocast would be faster
there but needs a GradScaler in both training stages (the auto-encoder's four optimizers
included) and risks overflow in the x300 heatmap loss, for a path that no test can check
without such a GPU. Correct and slower was chosen over fast and unverified.

`cpu_fast_path()` opts the CPU into the same path. torch supports bf16 autocast and
channels_last there too, so the GPU code paths can run (and be checked) on a machine
without a GPU, such as CI; results are then no longer fp32-exact.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from contextvars import ContextVar
from typing import TypeVar

import torch
from torch import nn

# A context variable, not a module flag: the opt-in ends with its `with` block, even when
# the block raises, and does not leak into other threads.
_CPU_FAST_PATH: ContextVar[bool] = ContextVar("cpu_fast_path", default=False)
#: The oldest compute capability with bf16 tensor-core convolutions (Ampere).
BF16_MIN_CAPABILITY = (8, 0)
#: cuBLAS's fixed workspace that makes its results deterministic (CUDA docs, "Results
#: reproducibility"); read once, when the process first uses cuBLAS.
CUBLAS_WORKSPACE_CONFIG = ":4096:8"
_ALIGN = 64  # bytes: each tensor packed by `to_device` starts on such a boundary


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


def autocast_dtype(device: torch.device | str) -> torch.dtype | None:
    """The autocast dtype of the fast path on `device`, None where it runs in fp32: bf16 on
    the CPU fast path and on CUDA of compute capability >= 8.0; None off the fast path and
    on older GPUs (see the module docstring)."""
    dev = torch.device(device)
    if not uses_fast_path(dev):
        return None
    if dev.type == "cuda" and torch.cuda.get_device_capability(dev) < BF16_MIN_CAPABILITY:
        return None
    return torch.bfloat16


@contextlib.contextmanager
def autocast_context(device: torch.device, enabled: bool = True) -> Iterator[None]:
    """Autocast to `autocast_dtype(device)` when `enabled` and there is one; a no-op
    otherwise (exact fp32)."""
    dtype = autocast_dtype(device) if enabled else None
    if dtype is not None:
        with torch.autocast(torch.device(device).type, dtype=dtype):
            yield
    else:
        yield


def precision_tag(device: torch.device | str, amp: bool) -> str | None:
    """How a model trained on `device` with `amp` computes, for cache keys: None for the
    exact CPU path (the keys of earlier versions), else e.g. "cuda-bf16", "cuda-tf32"
    (fp32 with TF32 convolutions, torch's default on Ampere and newer), "cuda-fp32",
    "cpu-fast-bf16". A model trained one way is never reused by a run of another."""
    dev = torch.device(device)
    if not uses_fast_path(dev):
        return None
    dtype = autocast_dtype(dev) if amp else None
    if dtype is not None:
        name = {torch.bfloat16: "bf16", torch.float16: "fp16"}[dtype]
        return f"{dev.type}{'-fast' if dev.type == 'cpu' else ''}-{name}"
    if dev.type == "cuda":
        tf32 = (torch.backends.cudnn.allow_tf32
                and torch.cuda.get_device_capability(dev) >= BF16_MIN_CAPABILITY)
        return "cuda-tf32" if tf32 else "cuda-fp32"
    return f"{dev.type}-fast-fp32"


def set_determinism(deterministic: bool) -> None:
    """Deterministic algorithms on or off, as a trial runs (call before CUDA's first use).

    On: cuBLAS gets its fixed workspace (`CUBLAS_WORKSPACE_CONFIG`, unless already set),
    torch picks deterministic kernels (warning where it has none) and cuDNN does not
    benchmark. Off: torch's defaults.
    """
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", CUBLAS_WORKSPACE_CONFIG)
    torch.use_deterministic_algorithms(deterministic, warn_only=True)
    torch.backends.cudnn.benchmark = False


@contextlib.contextmanager
def determinism(deterministic: bool) -> Iterator[None]:
    """`set_determinism` for the block; torch's settings before it are restored after."""
    before = (torch.are_deterministic_algorithms_enabled(),
              torch.is_deterministic_algorithms_warn_only_enabled(),
              torch.backends.cudnn.benchmark)
    set_determinism(deterministic)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(before[0], warn_only=before[1])
        torch.backends.cudnn.benchmark = before[2]


def to_device(tensors: Sequence[torch.Tensor], device: torch.device | str
              ) -> list[torch.Tensor]:
    """CPU tensors on `device` in one host-to-device copy (pinned and non-blocking on CUDA).

    Their bytes are packed into one buffer (each at a 64-byte boundary), copied once and
    viewed back as the original dtypes and shapes. On the CPU the tensors are returned as
    they are. Per-step batches go through here: every separate `.to(cuda)` of a pageable
    tensor is a copy that blocks the host.
    """
    device = torch.device(device)
    if device.type == "cpu":
        return list(tensors)
    flat = [t.detach().contiguous().reshape(-1).view(torch.uint8) for t in tensors]
    offsets, total = [], 0
    for f in flat:
        offsets.append(total)
        total += -(-f.numel() // _ALIGN) * _ALIGN
    buffer = torch.empty(max(total, 1), dtype=torch.uint8, pin_memory=device.type == "cuda")
    for f, start in zip(flat, offsets, strict=True):
        buffer[start:start + f.numel()].copy_(f)
    moved = buffer.to(device, non_blocking=True)
    return [moved[start:start + f.numel()].view(t.dtype).view(t.shape)
            for t, f, start in zip(tensors, flat, offsets, strict=True)]


_ModuleT = TypeVar("_ModuleT", bound=nn.Module)


def prepare_model(model: _ModuleT, device: torch.device) -> _ModuleT:
    """Move `model` to `device`, in channels_last on the fast path (default layout else)."""
    if uses_fast_path(device):
        # torch's stub of Module.to leaves out memory_format, which Module.to accepts.
        return model.to(device=device, memory_format=torch.channels_last)  # type: ignore[call-overload]
    return model.to(device)


def channels_last(x: torch.Tensor) -> torch.Tensor:
    """A 4-D batch in channels_last on the fast path; anything else unchanged."""
    if x.dim() == 4 and uses_fast_path(x.device):
        return x.contiguous(memory_format=torch.channels_last)
    return x
