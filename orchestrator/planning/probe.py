"""`scaf-al plan --probe`: measured speed and memory per configuration, and what they imply.

For each distinct (architecture, input size, width, batch size) of a grid, a few real
training steps (`trainers.training.supervised.fit`, after one warm-up step) and a timed
scoring pass (`trainers.training.supervised.predict`, as the loop's selection and
evaluation use it) run on random crops of the grid's shape, on this machine's device. Memory:

- CUDA: `torch.cuda.max_memory_allocated` (the issue's figure), and what one trial holds:
  the allocator's peak reservation plus the device memory the process uses outside it
  (the CUDA context; from `mem_get_info`, so on a shared GPU it also counts other users).
- CPU: peak RSS (VmHWM, else `ru_maxrss`) of a fresh child process per configuration, so
  one probe's high-water mark never hides in another's (nor in the parent's); the peak
  before the model was built is kept too.
  A trial also holds its pool and test crops, added from the plan's image counts.

From these: device-hours for the grid (one trial at a time, pre-training and start-up not
counted) and how many trials fit one GPU (or this node) at once.
"""

from __future__ import annotations

import concurrent.futures
import math
import multiprocessing
import os
import resource
import time
from collections.abc import Callable
from dataclasses import replace
from fractions import Fraction
from typing import TYPE_CHECKING, Any

import numpy as np

from orchestrator.planning.grid_plan import ConfigKey, GridPlan, plan_grid, plan_json

if TYPE_CHECKING:
    from orchestrator.spec.experiment import ExperimentSpec
    from trainers.datasets.cropset import CropSet
    from trainers.training.supervised import TrainerConfig

DEFAULT_MARGIN = 0.15  # share of the memory kept free: allocator fragmentation, spikes
DEFAULT_MAX_TRIALS = 16  # beyond this many trials per GPU they mostly wait on each other
# Keys `--probe` adds to the `--json` object (next to the counts and `per_config`).
ESTIMATE_KEYS = ("device", "device_hours", "trial_bytes", "device_total_bytes", "gpu_fraction",
                 "trials_per_device", "trials_limited_by")


def choose_gpu_fraction(
    peak_bytes: int,
    gpu_total_bytes: int,
    margin: float = DEFAULT_MARGIN,
    *,
    max_trials: int = DEFAULT_MAX_TRIALS,
) -> float:
    """The GPU share of one trial: 1/n for the largest n <= max_trials such that n trials
    of `peak_bytes` each fit in the GPU's memory less a `margin` share.

    Args:
        peak_bytes: memory one trial holds at its peak.
        gpu_total_bytes: the GPU's memory.
        margin: share of the memory kept free, in [0, 1).
        max_trials: most trials put on one GPU.

    Raises:
        ValueError: an argument out of range, or one trial does not fit even alone.
    """
    if peak_bytes <= 0 or gpu_total_bytes <= 0:
        raise ValueError(f"peak_bytes and gpu_total_bytes must be > 0, got {peak_bytes}, "
                         f"{gpu_total_bytes}")
    if not 0 <= margin < 1:
        raise ValueError(f"margin must be in [0, 1), got {margin}")
    if max_trials < 1:
        raise ValueError(f"max_trials must be >= 1, got {max_trials}")
    # Exact arithmetic, so a trial count that fits exactly is never lost to rounding.
    usable = Fraction(gpu_total_bytes) * (1 - Fraction(str(margin)))
    n = math.floor(usable / peak_bytes)
    if n < 1:
        raise ValueError(
            f"one trial needs {peak_bytes / 2**30:.2f} GiB, more than the "
            f"{float(usable) / 2**30:.2f} GiB usable on this GPU ({margin:.0%} kept free); "
            "lower trainer.batch_size or model.input_size / width, or use a larger GPU")
    return 1.0 / min(n, max_trials)


def probe_cropset(n: int, input_size: int, num_landmarks: int, seed: int = 0) -> CropSet:
    """`n` random crops of the grid's shape (speed and memory do not depend on content)."""
    from trainers.datasets.cropset import CropSet, centre_offset, margin_size
    from trainers.datasets.layouts import LAYOUTS

    rng = np.random.default_rng(seed)
    m, o = margin_size(input_size), centre_offset(input_size)
    layout = {lay.num_landmarks: lay for lay in LAYOUTS.values()}.get(num_landmarks)
    flip = layout.flip_perm if layout else np.arange(num_landmarks)
    return CropSet(
        images=rng.integers(0, 256, (n, m, m, 3), dtype=np.uint8),
        landmarks=rng.uniform(o, o + input_size - 1, (n, num_landmarks, 2)).astype(np.float32),
        input_size=input_size, flip_perm=flip, eye_idx=layout.eye_idx if layout else (0, 1),
        to_original=np.tile(np.array([[1.0, 0, 0], [0, 1.0, 0]]), (n, 1, 1)),
        names=[f"probe-{i}" for i in range(n)],
    )


def _peak_rss_bytes() -> int:
    """Peak RSS of this process's own memory map.

    Linux's `ru_maxrss` carries the high-water mark across exec, so a child spawned from a
    big parent would start at the parent's size; VmHWM belongs to the current map only.
    """
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


def _sync(device: Any) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed_scoring(model: Any, data: CropSet, n: int, trainer: TrainerConfig,
                   device: Any) -> float:
    """Images per second of a streamed pass over `n` crops, after a one-chunk warm-up."""
    from trainers.training.supervised import predict

    def one_pass(count: int) -> None:
        for chunk in predict(model, data, np.arange(count), batch_size=trainer.eval_batch_size,
                             device=device, amp=trainer.amp):
            chunk["landmarks"].cpu()  # what the loop keeps; also waits for the device

    one_pass(min(n, trainer.eval_batch_size))
    _sync(device)
    start = time.perf_counter()
    one_pass(n)
    _sync(device)
    return n / max(time.perf_counter() - start, 1e-9)


def measure_config(key: ConfigKey, trainer: TrainerConfig, *, num_landmarks: int, device: str,
                   steps: int, score_images: int, threads: int) -> dict[str, Any]:
    """Probe one configuration here (see the module docstring); returns its record."""
    import torch

    from trainers.models import build_model
    from trainers.training.device import resolve_device
    from trainers.training.supervised import fit

    arch, input_size, width, batch_size = key
    torch.set_num_threads(threads)
    dev = resolve_device(device)
    rss_before = _peak_rss_bytes()
    if dev.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(dev)
    data = probe_cropset(max(batch_size, score_images), input_size, num_landmarks)
    model = build_model(arch, num_landmarks=num_landmarks, input_size=input_size, width=width)
    labeled = np.arange(len(data))
    fit(model, data, labeled, replace(trainer, steps=1), seed=0, device=dev)  # warm-up
    stats = fit(model, data, labeled, replace(trainer, steps=steps), seed=1, device=dev)
    score_ips = _timed_scoring(model, data, score_images, trainer, dev)
    record: dict[str, Any] = {
        "arch": arch, "input_size": input_size, "width": width, "batch_size": batch_size,
        "num_landmarks": num_landmarks, "device": str(dev), "threads": threads,
        "seconds_per_step": stats["train_seconds"] / steps,
        "train_images_per_s": steps * batch_size / max(stats["train_seconds"], 1e-9),
        "score_images_per_s": score_ips,
    }
    if dev.type == "cuda":
        free, total = torch.cuda.mem_get_info(dev)
        outside = max(0, (total - free) - torch.cuda.memory_reserved(dev))
        record.update(memory_measure="cuda_max_memory_allocated",
                      peak_memory_bytes=int(torch.cuda.max_memory_allocated(dev)),
                      trial_bytes=int(torch.cuda.max_memory_reserved(dev)) + outside,
                      device_total_bytes=int(total), device_name=torch.cuda.get_device_name(dev))
    else:
        peak = _peak_rss_bytes()
        record.update(memory_measure="cpu_peak_rss", peak_memory_bytes=peak,
                      rss_before_bytes=rss_before, trial_bytes=peak,
                      device_total_bytes=os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    return record


def _measure_in_child(*args: Any, **kwargs: Any) -> dict[str, Any]:
    """`measure_config` in a fresh process, so its peak RSS is its own."""
    ctx = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(1, mp_context=ctx) as pool:
        return pool.submit(measure_config, *args, **kwargs).result()


def landmarks_of(spec: ExperimentSpec) -> int:
    """Landmarks per face of the spec's data set; where only its files tell (a folder
    without `num_landmarks`), the probe measures with iBUG's 68."""
    from trainers.datasets import IBUG_68, get_dataset

    count = get_dataset(spec.data.name).num_landmarks(spec.data.options)
    return IBUG_68.num_landmarks if count is None else count


def probe_plan(plan: GridPlan, spec: ExperimentSpec, *, device: str = "auto", steps: int = 3,
               score_images: int | None = None,
               log: Callable[[str], None] | None = None) -> None:
    """Fill `plan.per_config` and `plan.estimate` by probing each configuration here.

    Args:
        plan: the counted plan (`plan_grid` without probe).
        spec: its spec (trainer settings, landmarks, resources).
        device: "auto", "cpu" or "cuda[:i]".
        steps: timed training steps per configuration (after one warm-up step).
        score_images: crops in the timed scoring pass (default: two evaluation batches).
        log: optional progress messages.
    """
    from trainers.training.device import resolve_device

    dev = resolve_device(device)
    n_score = score_images or 2 * spec.trainer.eval_batch_size
    threads = max(1, int(spec.resources.cpus_per_trial))
    measure = measure_config if dev.type == "cuda" else _measure_in_child
    for key in plan.by_config:
        if log:
            log(f"probing {key[0]} {key[1]} px width {key[2]:g} batch {key[3]} on {dev}")
        trainer = replace(spec.trainer, batch_size=key[3])
        plan.per_config.append(measure(key, trainer, num_landmarks=landmarks_of(spec),
                                       device=str(dev), steps=steps, score_images=n_score,
                                       threads=threads))
    data_bytes = _data_bytes(plan, spec)
    if dev.type == "cpu" and data_bytes is not None:
        for rec in plan.per_config:
            rec["trial_bytes"] += data_bytes
    plan.estimate = estimate(plan, spec, data_bytes)


def _data_bytes(plan: GridPlan, spec: ExperimentSpec) -> int | None:
    """Host memory of a trial's pool and test crops (uint8, M x M x 3 each)."""
    from trainers.datasets.cropset import margin_size

    if plan.pool_images is None or plan.test_images is None:
        return None
    m = margin_size(spec.model.input_size)
    return (plan.pool_images + plan.test_images) * m * m * 3


def _config_seconds(plan: GridPlan, key: ConfigKey, rec: dict[str, Any]) -> float | None:
    c = plan.by_config[key]
    if c.scored_images is None or c.eval_images is None:
        return None
    train = c.trainings * plan.steps * rec["seconds_per_step"]
    return train + (c.scored_images + c.eval_images) / rec["score_images_per_s"]


def estimate(plan: GridPlan, spec: ExperimentSpec, data_bytes: int | None) -> dict[str, Any]:
    """The device-hour estimate keys of `plan_json` from the probe records."""
    seconds = [_config_seconds(plan, key, rec)
               for key, rec in zip(plan.by_config, plan.per_config, strict=True)]
    known = [s for s in seconds if s is not None]
    hours = sum(known) / 3600 if len(known) == len(seconds) else None
    trial_bytes = max(rec["trial_bytes"] for rec in plan.per_config)
    total = plan.per_config[0]["device_total_bytes"]
    out: dict[str, Any] = {"device": plan.per_config[0]["device"], "device_hours": hours,
                           "trial_bytes": trial_bytes, "device_total_bytes": total}
    if out["device"].startswith("cuda"):
        try:
            fraction: float | None = choose_gpu_fraction(trial_bytes, total)
        except ValueError as e:
            fraction = None
            plan.unknown.append(f"gpu_fraction: {e}")
        out["gpu_fraction"] = fraction
        out["trials_per_device"] = 0 if fraction is None else round(1 / fraction)
        capped = out["trials_per_device"] == DEFAULT_MAX_TRIALS
        out["trials_limited_by"] = "max_trials" if capped else "memory"
    else:
        usable = Fraction(total) * (1 - Fraction(str(DEFAULT_MARGIN)))
        by_memory = math.floor(usable / trial_bytes)
        by_cpus = math.floor((os.cpu_count() or 1) / spec.resources.cpus_per_trial)
        out["gpu_fraction"] = None
        out["trials_per_device"] = max(0, min(by_memory, by_cpus))
        out["trials_limited_by"] = "memory" if by_memory < by_cpus else "cpus"
        if data_bytes is None:
            plan.unknown.append("trial memory: data set size unknown, crops not counted")
    return out




def auto_gpu_fraction(spec: ExperimentSpec, *, device: str = "cuda",
                      steps: int = 2) -> tuple[float, dict[str, Any]]:
    """`resources.gpus_per_trial = "auto"`: probe the spec's configurations on a GPU of this
    process and pick the share of one trial (`choose_gpu_fraction` with the default margin).

    Returns:
        (the fraction, the `plan_json` object of the probe, to record with the run).

    Raises:
        ValueError: no CUDA device here, or one trial does not fit the GPU.
    """
    from trainers.training.device import resolve_device

    if resolve_device(device).type != "cuda":
        raise ValueError(f"resources.gpus_per_trial = 'auto' needs a CUDA device to probe; "
                         f"got device {device!r} (give a fraction instead)")
    plan = plan_grid(spec)
    probe_plan(plan, spec, device=device, steps=steps)
    fraction = plan.estimate["gpu_fraction"]
    if fraction is None:
        raise ValueError(f"resources.gpus_per_trial = 'auto': {plan.unknown[-1]}")
    return float(fraction), plan_json(plan)
