"""`scaf-al plan --probe`: measured speed and memory per configuration, and what they imply.

For each distinct (architecture, input size, width, batch size) of a grid, what a trial
runs is run on random crops of the grid's shape, on this machine's device
(`orchestrator.planning.measure`): a few steps of the unsupervised stage when the grid
pre-trains, real training steps (`trainers.training.supervised.fit`, after one warm-up
step), a timed evaluation pass, and the pool pass of each of the grid's acquisitions with
what it `needs` (flipped and test-time-augmented passes included). Memory is the peak of it:

- CUDA: `torch.cuda.max_memory_allocated` (the issue's figure), and what one trial holds:
  the allocator's peak reservation plus the device memory the process uses outside it
  (the CUDA context; from `mem_get_info`, so on a shared GPU it also counts other users).
- CPU: peak RSS (VmHWM, else `ru_maxrss`) of a fresh child process per configuration, so
  one probe's high-water mark never hides in another's (nor in the parent's); the peak
  before the model was built is kept too.
  A trial also holds its pool and test crops, added from the plan's image counts.

From these: device-hours for the grid (one trial at a time, pre-training and start-up not
counted) and how many trials fit one GPU (or this node) at once. A GPU share is rounded
down to Ray's resource unit (0.0001), so that n shares never add up to more than one GPU.
"""

from __future__ import annotations

import concurrent.futures
import math
import multiprocessing
import os
from collections.abc import Callable
from dataclasses import replace
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from orchestrator.planning.grid_plan import ConfigKey, GridPlan, plan_grid, plan_json
from orchestrator.planning.measure import measure_config
from orchestrator.spec.tables import RAY_RESOURCE_UNITS

if TYPE_CHECKING:
    from orchestrator.spec.experiment import ExperimentSpec

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
    of `peak_bytes` each fit in the GPU's memory less a `margin` share, rounded down to
    Ray's 0.0001 units (`share_of`).

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
    return share_of(min(n, max_trials))


def share_of(trials: int) -> float:
    """1/trials rounded down to Ray's 0.0001 units, so that `trials` such shares add up
    to at most one GPU (1/6 -> 0.1666: six make 0.9996)."""
    if trials < 1:
        raise ValueError(f"trials must be >= 1, got {trials}")
    return (RAY_RESOURCE_UNITS // trials) / RAY_RESOURCE_UNITS


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
        score_images: crops in the timed evaluation pass and in each acquisition's pool
            pass (default: two evaluation batches).
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
        plan.per_config.append(measure(
            key, trainer, num_landmarks=landmarks_of(spec), device=str(dev), steps=steps,
            score_images=n_score, threads=threads,
            acquisitions=tuple((a.name, dict(a.params)) for a in spec.acquisitions),
            pretrain=None if spec.model.pretrained else spec.model.pretrain,
            deterministic=spec.resources.deterministic))
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
    """Device seconds of one configuration: its trainings, its evaluations, and its pool
    passes at the rate of the grid's slowest acquisition (an upper bound)."""
    c = plan.by_config[key]
    if c.scored_images is None or c.eval_images is None:
        return None
    train = c.trainings * plan.steps * rec["seconds_per_step"]
    rates = rec.get("pool_pass_images_per_s") or {"evaluation": rec["score_images_per_s"]}
    pass_rate = min(rates.values())
    return train + c.eval_images / rec["score_images_per_s"] + c.scored_images / pass_rate


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
