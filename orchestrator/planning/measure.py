"""One probe configuration measured in this process: what a trial of the grid holds.

`measure_config` builds the model of one (architecture, input size, width, batch size) on
random crops of the grid's shape and runs what a trial runs, on this machine's device:

- a few steps of the unsupervised stage (when the grid pre-trains its auto-encoder: a
  trial does so when the cache has none for its device), freed before the rest;
- real training steps (`trainers.training.supervised.fit`, after one warm-up step);
- a timed evaluation pass (`supervised.predict`);
- the pool pass of each of the grid's acquisitions, as the loop runs it
  (`trainers.loop.cell_loop.score_pool` with the acquisition's `needs`: heatmaps, flipped
  and test-time-augmented passes, labeled-set features, and the acquisition's own scoring
  of each chunk), timed.

Memory is the peak over all of it (see `orchestrator.planning.probe`).
"""

from __future__ import annotations

import os
import resource
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from orchestrator.planning.grid_plan import ConfigKey

if TYPE_CHECKING:
    from trainers.config.pretrain import PretrainSettings
    from trainers.datasets.cropset import CropSet
    from trainers.training.supervised import TrainerConfig

#: An acquisition of the grid as the probe passes it: (name, params).
AcquisitionSpec = tuple[str, dict[str, Any]]


def probe_cropset(n: int, input_size: int, num_landmarks: int, seed: int = 0) -> CropSet:
    """`n` random crops of the grid's shape (speed and memory do not depend on content)."""
    from trainers.datasets.cropset import CropSet, centre_offset, margin_size
    from trainers.datasets.layouts import standard_layout

    rng = np.random.default_rng(seed)
    m, o = margin_size(input_size), centre_offset(input_size)
    layout = standard_layout(num_landmarks)
    flip = layout.flip_perm if layout else np.arange(num_landmarks)
    return CropSet(
        images=rng.integers(0, 256, (n, m, m, 3), dtype=np.uint8),
        landmarks=rng.uniform(o, o + input_size - 1, (n, num_landmarks, 2)).astype(np.float32),
        input_size=input_size, flip_perm=flip, eye_idx=layout.eye_idx if layout else (0, 1),
        to_original=np.tile(np.array([[1.0, 0, 0], [0, 1.0, 0]]), (n, 1, 1)),
        names=[f"probe-{i}" for i in range(n)],
    )


def peak_rss_bytes() -> int:
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


def _timed(run: Any, warm_up: Any, device: Any, images: int) -> float:
    """Images per second of `run()` over `images` images, after `warm_up()`."""
    warm_up()
    _sync(device)
    start = time.perf_counter()
    run()
    _sync(device)
    return images / max(time.perf_counter() - start, 1e-9)


def _timed_scoring(model: Any, data: CropSet, n: int, trainer: TrainerConfig,
                   device: Any) -> float:
    """Images per second of a streamed evaluation pass over `n` crops, after a one-chunk
    warm-up."""
    from trainers.training.supervised import predict

    def one_pass(count: int) -> None:
        for chunk in predict(model, data, np.arange(count), batch_size=trainer.eval_batch_size,
                             device=device, amp=trainer.amp):
            chunk["landmarks"].cpu()  # what the loop keeps; also waits for the device

    return _timed(lambda: one_pass(n), lambda: one_pass(min(n, trainer.eval_batch_size)),
                  device, n)


def pool_passes(model: Any, data: CropSet, trainer: TrainerConfig, device: Any,
                acquisitions: tuple[AcquisitionSpec, ...]) -> dict[str, float]:
    """Images per second of each acquisition's pool pass over `data` (its first batch
    labeled), as the loop streams it, after one untimed pass; acquisitions that need no
    pass (random) are left out."""
    import acquisition
    from trainers.loop.cell_loop import score_pool
    from trainers.loop.pool_inputs import PassSettings

    n = len(data)
    labeled = np.zeros(n, dtype=bool)
    labeled[:max(1, min(n - 1, trainer.batch_size))] = True
    rates: dict[str, float] = {}
    for name, params in acquisitions:
        acq = acquisition.get(name, **params)
        if not acq.needs:
            continue
        settings = PassSettings(needs=frozenset(acq.needs), batch_size=trainer.eval_batch_size,
                                device=device, amp=trainer.amp,
                                tta_samples=int(acq.tta_samples),
                                augment_level=trainer.augment_level)

        def one_pass(a: Any = acq, s: PassSettings = settings) -> None:
            score_pool(model, data, labeled, a, s)

        streamed = n if "features" in acq.needs else int((~labeled).sum())
        rates[acquisition.label(name, params)] = _timed(one_pass, one_pass, device, streamed)
    return rates


def pretrain_steps(key: ConfigKey, settings: PretrainSettings, data: CropSet, device: Any,
                   steps: int = 2) -> None:
    """A few steps of the unsupervised stage at the grid's settings (its model, its four
    optimizers, its batch) on `data`, into a file that is thrown away."""
    from trainers.config.pretrain import PretrainConfig
    from trainers.training.pretrain import pretrain_autoencoder

    _, input_size, width, _ = key
    config = replace(PretrainConfig.from_settings(settings, input_size=input_size,
                                                  width=width, device=str(device)),
                     steps=steps, log_every=steps, checkpoint_every=steps)
    with tempfile.TemporaryDirectory(prefix="scaf-al-probe-") as tmp:
        pretrain_autoencoder(data, config, Path(tmp) / "ae.pt", resume=False)


def measure_config(key: ConfigKey, trainer: TrainerConfig, *, num_landmarks: int, device: str,
                   steps: int, score_images: int, threads: int,
                   acquisitions: tuple[AcquisitionSpec, ...] = (),
                   pretrain: PretrainSettings | None = None,
                   deterministic: bool = True) -> dict[str, Any]:
    """Probe one configuration here (see the module docstring); returns its record."""
    import torch

    from trainers.models import build_model
    from trainers.training.device import determinism, resolve_device
    from trainers.training.supervised import fit

    arch, input_size, width, batch_size = key
    torch.set_num_threads(threads)
    dev = resolve_device(device)
    rss_before = peak_rss_bytes()
    if dev.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(dev)
    n = max(batch_size, score_images, pretrain.batch_size if pretrain else 0)
    data = probe_cropset(n, input_size, num_landmarks)
    with determinism(deterministic):
        if pretrain is not None:
            pretrain_steps(key, pretrain, data, dev)
        model = build_model(arch, num_landmarks=num_landmarks, input_size=input_size,
                            width=width)
        labeled = np.arange(len(data))
        fit(model, data, labeled, replace(trainer, steps=1), seed=0, device=dev)  # warm-up
        stats = fit(model, data, labeled, replace(trainer, steps=steps), seed=1, device=dev)
        score_ips = _timed_scoring(model, data, score_images, trainer, dev)
        passes = pool_passes(model, data, trainer, dev, acquisitions)
    return {
        "arch": arch, "input_size": input_size, "width": width, "batch_size": batch_size,
        "num_landmarks": num_landmarks, "device": str(dev), "threads": threads,
        "seconds_per_step": stats["train_seconds"] / steps,
        "train_images_per_s": steps * batch_size / max(stats["train_seconds"], 1e-9),
        "score_images_per_s": score_ips,
        "pool_pass_images_per_s": passes,
        **memory_record(dev, rss_before),
    }


def memory_record(device: Any, rss_before: int) -> dict[str, Any]:
    """The memory keys of a probe record, measured now (see `probe` for what they mean)."""
    import torch

    if device.type == "cuda":
        free, total = torch.cuda.mem_get_info(device)
        outside = max(0, (total - free) - torch.cuda.memory_reserved(device))
        return dict(memory_measure="cuda_max_memory_allocated",
                    peak_memory_bytes=int(torch.cuda.max_memory_allocated(device)),
                    trial_bytes=int(torch.cuda.max_memory_reserved(device)) + outside,
                    device_total_bytes=int(total),
                    device_name=torch.cuda.get_device_name(device))
    peak = peak_rss_bytes()
    return dict(memory_measure="cpu_peak_rss", peak_memory_bytes=peak,
                rss_before_bytes=rss_before, trial_bytes=peak,
                device_total_bytes=os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
