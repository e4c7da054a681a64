"""Acquisition speed against same-run baselines: a plain read of the same data.

Ratios rather than absolute times, so a result is comparable across machines: NNM must cost at
most 2x a sum over the same heatmaps, entropy at most 6x, and one k-center-greedy pick at most
2x one read pass over the feature matrix. The SCAF paper's 12 ms (NNM) and 42 ms (entropy)
per image are recorded next to ours for comparison (different hardware: a rough guide only).

The landmark scores (flip_consistency, tta_variance) are timed per pool image against one
element-wise pass over their inputs (``landmarks - flip_landmarks``; ``tta_landmarks * 1``),
and diverse_top against what it wraps: its scoring against NNM's on the same heatmaps, its
selection against NNM's take-K on the same scores.

What the loop's pool pass pays per pool image for each input (landmarks, flip, TTA with T)
is timed against one forward pass of the model: see :mod:`benchmarks.pool_inputs`.

Run: ``python -m benchmarks.acquisition [--quick]`` or through ``scaf-al bench``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

import acquisition
from acquisition.selection import take_top_k
from benchmarks.pool_inputs import pool_input_records
from benchmarks.timing import interleaved, record

__all__ = ["run"]

N_LANDMARKS, MAP_SIZE, FEATURE_DIM = 98, 128, 99
TTA_SAMPLES = 8
PAPER_MS = {"nnm": 12.0, "entropy": 42.0}
TARGETS = {
    "nnm": 2.0,
    "entropy": 6.0,
    "kcenter_greedy": 2.0,
    # Against one element-wise pass over the inputs: a difference, squares, a square root
    # and a mean are a few such passes.
    "flip_consistency": 8.0,
    "tta_variance": 4.0,
    # A composer adds only bookkeeping to the score it wraps.
    "diverse_top.score": 1.2,
    # k-center-greedy over candidates x k items, plus one finiteness pass over the features.
    "diverse_top.select": 20.0,
}


def run(quick: bool = False, threads: int | None = 1) -> list[dict[str, Any]]:
    """Time the built-in acquisitions; quick mode keeps the whole run under about a minute.

    Args:
        quick: Smaller inputs and fewer repeats.
        threads: torch CPU threads during the run (restored afterwards); None keeps the
            current setting. One thread by default: on a shared machine, multi-threaded small
            kernels wait on descheduled threads, which swamps the ratios with noise.

    Returns:
        Records with keys name, value, unit, baseline_name, baseline_value, ratio,
        target_ratio, meets_target, plus context (device, shape, threads, repeats, and for
        the heatmap scores paper_ms and vs_paper).
    """
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    before = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        records = heatmap_records(device, n_images=8 if quick else 32, repeats=5 if quick else 9)
        records += landmark_records(device, 10_000 if quick else 20_000, repeats=5 if quick else 9)
        records.append(diverse_score_record(device, n_images=8 if quick else 32, repeats=5))
        records.append(diverse_select_record(device, 100_000, k=100, repeats=3 if quick else 5))
        records.append(kcenter_record(device, 100_000, picks=200 if quick else 1000, repeats=3))
        records += kcenter_scaling_records(
            device, sizes=(20_000, 80_000) if quick else (25_000, 100_000, 400_000), picks=100
        )
        records += ranking_scaling_records(
            sizes=(10_000, 1_000_000) if quick else (10_000, 10**6, 10**7)
        )
        records += pool_input_records(device, quick)
    finally:
        torch.set_num_threads(before)
    return records


def heatmap_records(device: torch.device, n_images: int, repeats: int) -> list[dict[str, Any]]:
    """NNM and entropy ms per image on (n, 98, 128, 128) float32 vs a sum over the tensor."""
    heatmaps = synthetic_heatmaps(n_images, device)
    timings = interleaved(
        {
            "sum": lambda: heatmaps.sum(),
            "nnm": lambda: acquisition.get("nnm").score(heatmaps),
            "entropy": lambda: acquisition.get("entropy").score(heatmaps),
        },
        repeats,
        device,
    )
    baseline_ms = 1e3 * timings["sum"] / n_images
    records = []
    for name in ("nnm", "entropy"):
        value_ms = 1e3 * timings[name] / n_images
        records.append(
            record(
                f"acquisition.{name}",
                value_ms,
                "ms/image",
                "sum over the same heatmaps",
                baseline_ms,
                TARGETS[name],
                device=str(device),
                shape=list(heatmaps.shape),
                threads=torch.get_num_threads(),
                repeats=repeats,
                paper_ms=PAPER_MS[name],
                vs_paper=value_ms / PAPER_MS[name],
            )
        )
    return records


def landmark_records(device: torch.device, n_images: int, repeats: int) -> list[dict[str, Any]]:
    """flip_consistency and tta_variance us/image vs one element-wise pass over their inputs."""
    generator = torch.Generator().manual_seed(1)
    landmarks = torch.rand(n_images, N_LANDMARKS, 2, generator=generator) * 256
    flip = landmarks + torch.randn(landmarks.shape, generator=generator)
    tta = landmarks[:, None] + torch.randn(
        n_images, TTA_SAMPLES, N_LANDMARKS, 2, generator=generator
    )
    norm = torch.rand(n_images, generator=generator) * 20 + 60
    landmarks, flip, tta, norm = (t.to(device) for t in (landmarks, flip, tta, norm))
    flip_acq = acquisition.get("flip_consistency")
    tta_acq = acquisition.get("tta_variance", samples=TTA_SAMPLES)
    flip_chunk = acquisition.PoolChunk(norm=norm, landmarks=landmarks, flip_landmarks=flip)
    tta_chunk = acquisition.PoolChunk(norm=norm, tta_landmarks=tta)
    pairs = {
        "flip_consistency": (lambda: flip_acq.score_chunk(flip_chunk), lambda: landmarks - flip),
        "tta_variance": (lambda: tta_acq.score_chunk(tta_chunk), lambda: tta * 1.0),
    }
    timings = interleaved(
        {key: fn for name, (score, read) in pairs.items()
         for key, fn in ((name, score), (f"{name}.read", read))},
        repeats,
        device,
    )  # fmt: skip
    shapes = {"flip_consistency": list(flip.shape), "tta_variance": list(tta.shape)}
    return [
        record(
            f"acquisition.{name}",
            1e6 * timings[name] / n_images,
            "us/image",
            "one element-wise pass over the inputs",
            1e6 * timings[f"{name}.read"] / n_images,
            TARGETS[name],
            device=str(device),
            shape=shapes[name],
            threads=torch.get_num_threads(),
            repeats=repeats,
        )
        for name in pairs
    ]


def diverse_score_record(device: torch.device, n_images: int, repeats: int) -> dict[str, Any]:
    """diverse_top (inner NNM) scoring ms/image vs NNM's own on the same heatmaps."""
    heatmaps = synthetic_heatmaps(n_images, device)
    composer, nnm = acquisition.get("diverse_top", score="nnm"), acquisition.get("nnm")
    chunk = acquisition.PoolChunk(heatmaps=heatmaps)
    timings = interleaved(
        {"nnm": lambda: nnm.score_chunk(chunk), "diverse_top": lambda: composer.score_chunk(chunk)},
        repeats,
        device,
    )
    return record(
        "acquisition.diverse_top.score",
        1e3 * timings["diverse_top"] / n_images,
        "ms/image",
        "nnm on the same heatmaps",
        1e3 * timings["nnm"] / n_images,
        TARGETS["diverse_top.score"],
        device=str(device),
        shape=list(heatmaps.shape),
        threads=torch.get_num_threads(),
        repeats=repeats,
    )


def diverse_select_record(device: torch.device, n_pool: int, k: int, repeats: int) -> dict:
    """diverse_top select (discard 10 %, 5 x k candidates) ns/item vs NNM10%'s take-K."""
    generator = torch.Generator().manual_seed(2)
    features = torch.randn(n_pool, FEATURE_DIM, generator=generator).to(device)
    rng = np.random.default_rng(2)
    scores = rng.normal(size=n_pool)
    labeled = np.zeros(n_pool, dtype=bool)
    labeled[rng.choice(n_pool, size=100, replace=False)] = True
    composer = acquisition.get("diverse_top", score="nnm", discard_top=0.1, candidates=5)
    nnm = acquisition.get("nnm", discard_top=0.1)
    timings = interleaved(
        {
            "nnm": lambda: nnm.select(k, labeled=labeled, scores=scores),
            "diverse_top": lambda: composer.select(
                k, labeled=labeled, scores=scores, features=features, rng=rng
            ),
        },
        repeats,
        device,
    )
    return record(
        "acquisition.diverse_top.select",
        1e9 * timings["diverse_top"] / n_pool,
        "ns/item",
        "nnm(discard_top=0.1) take-K on the same scores",
        1e9 * timings["nnm"] / n_pool,
        TARGETS["diverse_top.select"],
        device=str(device),
        shape=[n_pool, FEATURE_DIM],
        k=k,
        candidates=5,
        threads=torch.get_num_threads(),
        repeats=repeats,
    )


def kcenter_record(device: torch.device, n_pool: int, picks: int, repeats: int) -> dict[str, Any]:
    """Per-pick k-center-greedy time on (n_pool, 99) float32 vs one read pass over it."""
    per_pick, read, context = kcenter_timing(device, n_pool, picks, repeats)
    return record(
        "acquisition.kcenter_greedy",
        1e3 * per_pick,
        "ms/pick",
        "one read pass over the features",
        1e3 * read,
        TARGETS["kcenter_greedy"],
        **context,
    )


def kcenter_scaling_records(
    device: torch.device, sizes: tuple[int, ...], picks: int
) -> list[dict[str, Any]]:
    """Per-pick cost per pool item at each size vs the smallest size (linear => ratio ~1)."""
    per_item = {}
    for n_pool in sizes:
        per_pick, _, _ = kcenter_timing(device, n_pool, picks, repeats=2)
        per_item[n_pool] = per_pick / n_pool
    smallest = sizes[0]
    return [
        record(
            f"acquisition.scaling.kcenter_greedy.n={n_pool}",
            1e9 * per_item[n_pool],
            "ns/pick/item",
            f"same at n={smallest}",
            1e9 * per_item[smallest],
            2.0,
            device=str(device),
            picks=picks,
        )
        for n_pool in sizes[1:]
    ]


def ranking_scaling_records(sizes: tuple[int, ...]) -> list[dict[str, Any]]:
    """Take-K with discard_top (sort of the unlabeled scores) per item vs the smallest size."""
    per_item = {}
    for n_pool in sizes:
        rng = np.random.default_rng(0)
        scores = rng.normal(size=n_pool)
        labeled = rng.random(n_pool) < 0.1
        seconds = interleaved(
            {"rank": functools.partial(take_top_k, scores, labeled, 100, 0.1)}, 3, None
        )["rank"]
        per_item[n_pool] = seconds / n_pool
    smallest = sizes[0]
    return [
        record(
            f"acquisition.scaling.take_top_k.n={n_pool}",
            1e9 * per_item[n_pool],
            "ns/item",
            f"same at n={smallest}",
            1e9 * per_item[smallest],
            2.0,  # linear: only the items that can be selected are sorted
        )
        for n_pool in sizes[1:]
    ]


def kcenter_timing(
    device: torch.device, n_pool: int, picks: int, repeats: int
) -> tuple[float, float, dict[str, Any]]:
    """(seconds per pick, seconds per read pass, context) for greedy picks from n_pool items."""
    generator = torch.Generator().manual_seed(0)
    features = torch.randn(n_pool, FEATURE_DIM, generator=generator).to(device)
    labeled = np.zeros(n_pool, dtype=bool)
    labeled[np.random.default_rng(0).choice(n_pool, size=100, replace=False)] = True
    acq = acquisition.get("kcenter_greedy")

    def select(k: int) -> Callable[[], object]:
        return lambda: acq.select(k, labeled=labeled, features=features)

    # Selecting 1 and `picks` items share the set-up (checks, distances to the labeled
    # centres), so their difference is the cost of the extra picks alone.
    timings = interleaved(
        {"read": lambda: features.sum(), "one": select(1), "many": select(picks + 1)},
        repeats,
        device,
    )
    per_pick = (timings["many"] - timings["one"]) / picks
    context = {
        "device": str(device),
        "shape": [n_pool, FEATURE_DIM],
        "picks": picks,
        "labeled": int(labeled.sum()),
        "threads": torch.get_num_threads(),
        "repeats": repeats,
    }
    return per_pick, timings["read"], context


def synthetic_heatmaps(n_images: int, device: torch.device) -> torch.Tensor:
    """(n, 98, 128, 128) float32: one Gaussian per map (random centre and width) plus noise."""
    generator = torch.Generator().manual_seed(0)
    shape = (n_images, N_LANDMARKS)
    centre_y, centre_x = (torch.rand(shape, generator=generator) * 100 + 14 for _ in range(2))
    sigma = torch.rand(shape, generator=generator) * 5 + 1
    grid = torch.arange(MAP_SIZE, dtype=torch.float32)
    gauss_y = torch.exp(-((grid - centre_y[..., None]) ** 2) / (2 * sigma[..., None] ** 2))
    gauss_x = torch.exp(-((grid - centre_x[..., None]) ** 2) / (2 * sigma[..., None] ** 2))
    maps = gauss_y[..., :, None] * gauss_x[..., None, :]  # (n, L, H, W)
    maps += 0.02 * torch.randn(maps.shape, generator=generator)
    return maps.to(device)


if __name__ == "__main__":
    from benchmarks.runner import module_main

    module_main(run, __doc__)
