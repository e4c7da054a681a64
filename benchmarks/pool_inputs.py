"""What each acquisition input costs the loop's pool pass, per pool image, against one
forward pass of the same model on the same images, timed in the same run.

* ``acquisition.pool_input.landmarks``: the plain pass (`trainers.loop.pool_inputs.stream_pool`
  asking for landmarks: crops to the device, network input, forward, decode, norm);
* ``acquisition.pool_input.flip``: the same plus `flip_heatmaps` and `flip_landmarks` (one
  more forward pass on the mirrored input, mapped back);
* ``acquisition.pool_input.tta.T=<T>``: the same plus `tta_landmarks` with T augmentations
  (the trainer's augmentation, level 4, then T forward passes, mapped back).

The baseline is the bare forward pass (`heatmaps_and_features`) on a ready network input of
the same batch; each prediction also pays for its decode (`trainers.training.heatmaps.decode`), so
the target is `PER_PREDICTION` x the number of forward passes. Called by
`benchmarks.acquisition.run`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from benchmarks.timing import interleaved, record

__all__ = ["pool_input_records"]

TTA_SAMPLES = 4
AUGMENT_LEVEL = 4
# Per decoded prediction, at most 2.5 forward passes: the decode's box blur alone costs
# about half a forward pass of a 128 px, width 0.5 model on one CPU thread (and a whole one
# of the 64 px, width 0.25 model), plus crops to tensors, augmentation and mapping back.
PER_PREDICTION = 2.5


def pool_input_records(device: torch.device, quick: bool, images: int | None = None,
                       repeats: int | None = None) -> list[dict[str, Any]]:
    """Records (see `benchmarks.timing.record`) of each input's cost per pool image.

    Args:
        device: where the model runs.
        quick: a 64 px, width 0.25 model on 16 images; otherwise 128 px, width 0.5, 32 images.
        images: another number of images (one batch), e.g. fewer for a smoke test.
        repeats: timed runs of each pass (the fastest counts); default 3 quick, 5 otherwise.
    """
    from trainers.loop.pool_inputs import PassSettings, stream_pool
    from trainers.models import build_model
    from trainers.training.batches import crops_to_tensor, network_input

    size, width, n_images = (64, 0.25, 16) if quick else (128, 0.5, 32)
    n_images = images or n_images
    pool = _random_pool(size, n_images)
    torch.manual_seed(0)
    model = build_model("scaf", num_landmarks=pool.num_landmarks, input_size=size, width=width)
    model.to(device).eval()
    x, _ = network_input(crops_to_tensor(pool.images, device), None, size)
    rows = np.arange(n_images)
    variants = {
        "landmarks": (frozenset({"landmarks"}), 1),
        "flip": (frozenset({"landmarks", "flip_heatmaps", "flip_landmarks"}), 2),
        f"tta.T={TTA_SAMPLES}": (frozenset({"landmarks", "tta_landmarks"}), 1 + TTA_SAMPLES),
    }

    def pass_of(needs: frozenset[str]) -> Any:
        settings = PassSettings(needs=needs, batch_size=n_images, device=device, amp=False,
                                tta_samples=TTA_SAMPLES, augment_level=AUGMENT_LEVEL)
        return lambda: list(stream_pool(model, pool, rows, settings))

    with torch.no_grad():
        timings = interleaved(
            {"forward": lambda: model.heatmaps_and_features(x),
             **{name: pass_of(needs) for name, (needs, _) in variants.items()}},
            repeats=repeats or (3 if quick else 5), device=device,
        )  # fmt: skip
    baseline_ms = 1e3 * timings["forward"] / n_images
    return [
        record(
            f"acquisition.pool_input.{name}", 1e3 * timings[name] / n_images, "ms/image",
            "one forward pass of the same model on the same images", baseline_ms,
            PER_PREDICTION * forwards, device=str(device), input_size=size, width=width,
            images=n_images, forward_passes=forwards, threads=torch.get_num_threads(),
        )
        for name, (_, forwards) in variants.items()
    ]


def _random_pool(size: int, n_images: int) -> Any:
    """A CropSet of blocky random crops with 68 landmarks (their values are not read)."""
    from trainers.datasets.cropset import CropSet, margin_size

    m = margin_size(size)
    rng = np.random.default_rng(0)
    blocks = rng.integers(0, 256, (n_images, m // 8 + 1, m // 8 + 1, 3), dtype=np.uint8)
    images = np.repeat(np.repeat(blocks, 8, axis=1), 8, axis=2)[:, :m, :m]
    perm = np.arange(68)
    perm[:34], perm[34:] = np.arange(34, 68), np.arange(34)  # an involution, as a face's
    return CropSet(images=np.ascontiguousarray(images), input_size=size, flip_perm=perm,
                   landmarks=np.zeros((n_images, 68, 2), dtype=np.float32), eye_idx=(36, 45),
                   to_original=np.tile(np.eye(2, 3), (n_images, 1, 1)),
                   names=[f"img{i}" for i in range(n_images)])
