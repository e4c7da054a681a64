"""What a trial's node is using, sampled with each finished round (Linux `/proc`, CUDA).

The numbers are node-wide, not per process: the CPU busy share since the previous sample
(all cores), memory in use (MemTotal - MemAvailable), and on a GPU the device memory in use
(every process) and its utilisation when NVML is there. Fields that cannot be measured on
this machine are None, never guessed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

NODE_USAGE_FIELDS = ("node_cpu_percent", "node_mem_used_gb", "node_mem_total_gb",
                     "gpu_mem_used_gb", "gpu_mem_total_gb", "gpu_util_percent")
GB = 1024**3


def parse_cpu_times(stat_text: str) -> tuple[int, int]:
    """(busy, total) jiffies from the aggregate `cpu` line of /proc/stat (idle = idle +
    iowait; guest time is already inside user/nice and is not counted twice)."""
    for line in stat_text.splitlines():
        if line.startswith("cpu "):
            vals = [int(v) for v in line.split()[1:]]
            total = sum(vals[:8])  # user nice system idle iowait irq softirq steal
            idle = vals[3] + (vals[4] if len(vals) > 4 else 0)
            return total - idle, total
    raise ValueError("no aggregate 'cpu' line in /proc/stat")


def cpu_percent(before: tuple[int, int], after: tuple[int, int]) -> float | None:
    """Busy share of all cores between two samples, in percent (None: no time passed)."""
    busy, total = after[0] - before[0], after[1] - before[1]
    return 100.0 * busy / total if total > 0 else None


def parse_meminfo(text: str) -> tuple[float, float]:
    """(used, total) bytes from /proc/meminfo (used = MemTotal - MemAvailable)."""
    kb = {}
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        if key in ("MemTotal", "MemAvailable"):
            kb[key] = int(rest.split()[0])
    if len(kb) < 2:
        raise ValueError("/proc/meminfo lacks MemTotal or MemAvailable")
    return (kb["MemTotal"] - kb["MemAvailable"]) * 1024.0, kb["MemTotal"] * 1024.0


def _read(path: str) -> str | None:
    try:
        return Path(path).read_text()
    except OSError:
        return None


def _gpu(device: Any) -> dict[str, float | None]:
    out: dict[str, float | None] = {"gpu_mem_used_gb": None, "gpu_mem_total_gb": None,
                                    "gpu_util_percent": None}
    if device is None or getattr(device, "type", str(device)) != "cuda":
        return out
    import torch

    free, total = torch.cuda.mem_get_info(device)
    out["gpu_mem_used_gb"], out["gpu_mem_total_gb"] = (total - free) / GB, total / GB
    try:
        out["gpu_util_percent"] = float(torch.cuda.utilization(device))
    except Exception:  # noqa: BLE001 - NVML (pynvml) is optional
        out["gpu_util_percent"] = None
    return out


class NodeUsageMeter:
    """Samples node use; each sample covers the time since the previous one."""

    def __init__(self) -> None:
        stat = _read("/proc/stat")
        self._last = parse_cpu_times(stat) if stat else None

    def sample(self, device: Any = None) -> dict[str, float | None]:
        """One sample: the NODE_USAGE_FIELDS (None where not measurable)."""
        out: dict[str, float | None] = dict.fromkeys(NODE_USAGE_FIELDS)
        stat = _read("/proc/stat")
        if stat and self._last is not None:
            now = parse_cpu_times(stat)
            out["node_cpu_percent"] = cpu_percent(self._last, now)
            self._last = now
        mem = _read("/proc/meminfo")
        if mem:
            used, total = parse_meminfo(mem)
            out["node_mem_used_gb"], out["node_mem_total_gb"] = used / GB, total / GB
        out.update(_gpu(device))
        return out
