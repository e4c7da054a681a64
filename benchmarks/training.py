"""Training speed against same-run baselines.

* ``training.tiny`` / ``training.full256``: images per second of the supervised trainer's
  loop (`trainers.training.supervised.fit`: batch gather, flip, network input, Gaussian targets,
  forward, loss, backward, Adam step, loss check) against the bare model doing forward +
  loss + backward + Adam step on one fixed, ready-made batch. Target: the trainer reaches
  at least 90 % of the bare rate (data handling and bookkeeping cost under 10 %).
* ``training.crop_cache.*``: reading crops from the on-disk crop cache (a memory map, as
  training reads it) against reading the same bytes from a numpy array in memory.

Run: ``python -m benchmarks.training [--quick]`` or through ``scaf-al bench``.
"""

from __future__ import annotations

import json
import math
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["best_of", "make_record", "run", "trainer_vs_bare", "crop_cache_records"]

TRAINER_TARGET = 0.9  # trainer rate / bare rate, at least


def make_record(
    name: str,
    value: float,
    unit: str,
    baseline_name: str,
    baseline_value: float,
    target_ratio: float | None,
    *,
    better: str = "lower",
    **context: Any,
) -> dict[str, Any]:
    """One benchmark row; ratio = value / baseline_value.

    Args:
        target_ratio: the bound on the ratio, or None for an informational row.
        better: "lower" (met when ratio <= target) or "higher" (met when ratio >= target);
            kept in the row so readers know which way the target points.
        **context: extra keys kept in the JSON (shapes, threads, notes).
    """
    if better not in ("lower", "higher"):
        raise ValueError(f"better must be 'lower' or 'higher', got {better!r}")
    ratio = value / baseline_value if baseline_value else math.inf
    meets: bool | None
    if target_ratio is None:
        meets = None
    elif better == "lower":
        meets = bool(ratio <= target_ratio)
    else:
        meets = bool(ratio >= target_ratio)
    return {
        "name": name,
        "value": float(value),
        "unit": unit,
        "baseline_name": baseline_name,
        "baseline_value": float(baseline_value),
        "ratio": float(ratio),
        "target_ratio": target_ratio,
        "meets_target": meets,
        "better": better,
        **context,
    }


def best_of(
    functions: dict[str, Callable[[], float | None]],
    repeats: int,
    sync: Callable[[], None] | None = None,
) -> dict[str, float]:
    """Fastest of `repeats` interleaved runs of each function, after one warm-up run each.

    A function may return its own duration in seconds (to leave set-up out); otherwise its
    wall-clock time counts. Interleaving and the minimum keep background load on a shared
    machine from favouring one side of a ratio.
    """
    best = dict.fromkeys(functions, math.inf)
    for function in functions.values():
        function()
    for _ in range(repeats):
        for name, function in functions.items():
            if sync:
                sync()
            start = time.perf_counter()
            own = function()
            if sync:
                sync()
            took = time.perf_counter() - start if own is None else float(own)
            best[name] = min(best[name], took)
    return best


def _sync_for(device: torch.device) -> Callable[[], None] | None:
    if device.type == "cuda":
        return lambda: torch.cuda.synchronize(device)
    return None


def synthetic_cropset(input_size: int, n: int) -> Any:
    """An in-memory synthetic CropSet of `n` faces (no outliers: every crop is a face)."""
    from trainers.datasets.builtin.synthetic import SyntheticFaces

    faces = SyntheticFaces(None, "pool", input_size=input_size, n_pool=n, n_test=1,
                           outlier_fraction=0.0)
    return faces.to_cropset()


def _ready_batch(data: Any, batch_size: int, sigma: float, device: torch.device
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """The bare side's one batch, made once: network input (in the layout `fit` feeds the
    model) and its Gaussian targets."""
    from trainers.training.batches import crops_to_tensor, network_input
    from trainers.training.device import channels_last
    from trainers.training.heatmaps import gaussian_targets, grid_sigma
    from trainers.training.supervised import to_heatmap_coords

    input_size = data.input_size
    x = crops_to_tensor(data.images[:batch_size], device)
    pts = torch.as_tensor(data.landmarks[:batch_size], dtype=torch.float32, device=device)
    x, shifted = network_input(x, pts, input_size)
    assert shifted is not None  # landmarks in, landmarks out
    grid = input_size // 2
    return channels_last(x), gaussian_targets(to_heatmap_coords(shifted, input_size, grid), grid,
                                              grid_sigma(sigma, grid))


def trainer_vs_bare(
    name: str,
    *,
    arch: str = "scaf",
    input_size: int,
    width: float,
    batch_size: int,
    steps: int,
    repeats: int,
    device: torch.device | str = "cpu",
    amp: bool = False,
) -> dict[str, Any]:
    """Images/s of `fit` against the bare model step on one fixed batch (same model, sizes).

    Both sides use the same model object (so the same weights and BatchNorm modes), prepared
    as `fit` prepares it (channels_last on the fast path), and the same Adam parameter
    groups; only the trainer gathers, flips and prepares batches and builds Gaussian
    targets each step.
    """
    from trainers.models import build_model
    from trainers.training.device import autocast_context, prepare_model, resolve_device
    from trainers.training.supervised import TrainerConfig, fit

    dev = resolve_device(device)
    data = synthetic_cropset(input_size, max(2 * batch_size, 8))
    labeled = np.arange(len(data))
    model = prepare_model(build_model(arch, num_landmarks=data.num_landmarks,
                                      input_size=input_size, width=width), dev)
    config = TrainerConfig(steps=steps, batch_size=batch_size, amp=amp)

    def trainer() -> float:
        return float(fit(model, data, labeled, config, seed=0, device=dev)["train_seconds"])

    model.set_supervised_mode()
    groups = [{"params": list(model.head_parameters()), "lr": config.lr_head},
              {"params": list(model.encoder_parameters()), "lr": config.lr_encoder}]
    opt = torch.optim.Adam(groups)
    x, target = _ready_batch(data, batch_size, config.sigma, dev)

    def bare() -> None:
        model.set_supervised_mode()
        for _ in range(steps):
            with autocast_context(dev, amp):
                pred = model.heatmaps(x)
            loss = F.mse_loss(pred.float(), target) * config.loss_scale
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

    secs = best_of({"trainer": trainer, "bare": bare}, repeats, _sync_for(dev))
    images = steps * batch_size
    return make_record(
        name, images / secs["trainer"], "images/s", "bare model forward+backward+Adam step",
        images / secs["bare"], TRAINER_TARGET, better="higher",
        device=str(dev), arch=arch, input_size=input_size, width=width,
        batch_size=batch_size, steps=steps, repeats=repeats, amp=amp,
        threads=torch.get_num_threads(),
    )


def _write_folder(root: Path, n: int, input_size: int) -> None:
    """Render `n` synthetic faces as PNG files plus a faces.json, for the folder loader."""
    from PIL import Image

    from trainers.datasets.builtin.synthetic import SyntheticFaces

    faces = SyntheticFaces(None, "pool", input_size=input_size, n_pool=n, n_test=1,
                           outlier_fraction=0.0)
    records = []
    for i in range(n):
        name = f"face{i:04d}.png"
        Image.fromarray(faces.images[i]).save(root / name)
        records.append({"image": name, "landmarks": faces.landmarks[i].tolist()})
    (root / "faces.json").write_text(json.dumps(records))


def crop_cache_records(n_images: int, input_size: int, repeats: int,
                       batch_size: int = 16) -> list[dict[str, Any]]:
    """Crop-cache reads against the same bytes in memory.

    * ``training.crop_cache.batches``: random training batches gathered from the cache's
      memory map vs from an in-memory copy (target: at least half the in-memory rate).
    * ``training.crop_cache.open_and_read``: a cache hit (key check over every file, open
      the entry) plus one full read vs one full read from memory (informational: the fixed
      cost of the key check shows at this small size).
    """
    from trainers.datasets import build_cropset, open_dataset

    with tempfile.TemporaryDirectory(prefix="scaf-al-bench-") as tmp:
        root = Path(tmp) / "faces"
        root.mkdir()
        _write_folder(root, n_images, input_size)
        ds = open_dataset("folder", root, "all", annotations="faces.json")
        cache = Path(tmp) / "crops"
        cached = build_cropset(ds, input_size=input_size, cache_dir=cache)  # builds
        if not isinstance(cached.images, np.memmap):
            cached = build_cropset(ds, input_size=input_size, cache_dir=cache)
        in_memory = np.array(cached.images)
        nbytes = in_memory.nbytes
        order = np.random.default_rng(0).permutation(len(in_memory))
        batches = [np.sort(order[i:i + batch_size]) for i in range(0, len(order), batch_size)]

        def gather(images: np.ndarray) -> Callable[[], None]:
            def read() -> None:
                for idx in batches:
                    np.ascontiguousarray(images[idx]).sum(dtype=np.uint64)
            return read

        def open_and_read() -> None:
            cs = build_cropset(ds, input_size=input_size, cache_dir=cache)
            np.asarray(cs.images).sum(dtype=np.uint64)

        def memory_read() -> None:
            in_memory.sum(dtype=np.uint64)

        secs = best_of({"cache": gather(cached.images), "memory": gather(in_memory),
                        "open": open_and_read, "plain": memory_read}, repeats)
    mb = nbytes / 1e6
    context = {"images": len(in_memory), "input_size": input_size, "bytes": nbytes,
               "repeats": repeats}
    return [
        make_record("training.crop_cache.batches", mb / secs["cache"], "MB/s",
                    "same batches from an in-memory array", mb / secs["memory"], 0.5,
                    better="higher", batch_size=batch_size, **context),
        make_record("training.crop_cache.open_and_read", mb / secs["open"], "MB/s",
                    "one read of the same bytes in memory", mb / secs["plain"], None,
                    better="higher", **context),
    ]


def run(quick: bool = False, threads: int | None = 1,
        device: torch.device | str = "cpu") -> list[dict[str, Any]]:
    """Time the trainer against the bare model and the crop cache against memory.

    Args:
        quick: fewer steps and repeats; the 256 model runs only two steps of batch 2.
        threads: torch CPU threads during the run (restored afterwards); None keeps the
            current setting. One by default, as on a shared machine extra threads mostly
            add noise.
        device: where the models run.

    Returns:
        Records (see `make_record`).
    """
    before = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        records = [
            trainer_vs_bare("training.tiny", input_size=64, width=0.25, batch_size=16,
                            steps=8 if quick else 30, repeats=3 if quick else 5,
                            device=device),
            trainer_vs_bare("training.full256", input_size=256, width=1.0, batch_size=2,
                            steps=2 if quick else 6, repeats=1 if quick else 3,
                            device=device),
        ]
        records += crop_cache_records(n_images=32 if quick else 128, input_size=128,
                                      repeats=3 if quick else 7)
    finally:
        torch.set_num_threads(before)
    return records


if __name__ == "__main__":
    from benchmarks.runner import module_main

    module_main(run, __doc__)
