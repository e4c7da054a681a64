"""Timing helpers of the benchmarks: interleaved best-of-n runs and one row per ratio."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import torch


def interleaved(
    functions: dict[str, Callable[[], object]], repeats: int, device: torch.device | None
) -> dict[str, float]:
    """Fastest of ``repeats`` wall-clock runs of each function, runs interleaved.

    Interleaving and taking the minimum keeps background load on a shared machine from
    favouring one side of a ratio.
    """
    best = dict.fromkeys(functions, math.inf)
    for function in functions.values():  # warm-up: allocator, kernels, caches
        function()
    for _ in range(repeats):
        for name, function in functions.items():
            synchronize(device)
            start = time.perf_counter()
            function()
            synchronize(device)
            best[name] = min(best[name], time.perf_counter() - start)
    return best


def synchronize(device: torch.device | None) -> None:
    if device is not None and device.type == "cuda":
        torch.cuda.synchronize(device)


def record(
    name: str,
    value: float,
    unit: str,
    baseline_name: str,
    baseline_value: float,
    target_ratio: float,
    **context: Any,
) -> dict[str, Any]:
    """One benchmark row; ratio = value / baseline_value, met when ratio <= target_ratio."""
    ratio = value / baseline_value
    return {
        "name": name,
        "value": value,
        "unit": unit,
        "baseline_name": baseline_name,
        "baseline_value": baseline_value,
        "ratio": ratio,
        "target_ratio": target_ratio,
        "meets_target": bool(ratio <= target_ratio),
        **context,
    }
