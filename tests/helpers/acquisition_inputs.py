"""Inputs of the acquisition tests: Gaussian heatmaps, TTA landmarks, the PoolChunk the
loop would build and the keyword arguments select() needs (no torch, no Ray)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import acquisition


def gaussian_maps(centres: np.ndarray, sigmas: np.ndarray, size: int) -> np.ndarray:
    """(n, L, size, size) Gaussian heatmaps with peak 1 at the given (row, col) centres."""
    grid = np.arange(size, dtype=np.float64)
    rows = grid[None, None, :, None] - centres[..., 0, None, None]
    cols = grid[None, None, None, :] - centres[..., 1, None, None]
    return np.exp(-(rows**2 + cols**2) / (2.0 * sigmas[..., None, None] ** 2))


def tta_for(pool: dict[str, np.ndarray], samples: int) -> np.ndarray:
    """(n, T, L, 2) landmarks scattered around the pool's landmarks, seeded by T."""
    rng = np.random.default_rng(samples)
    landmarks = pool["landmarks"]
    scatter = rng.uniform(0.2, 3.0, size=(landmarks.shape[0], 1, 1, 1))
    noise = rng.normal(size=(landmarks.shape[0], samples, *landmarks.shape[1:]))
    return (landmarks[:, None] + scatter * noise).astype(np.float32)


def chunk_for(
    acq: acquisition.Acquisition, pool: dict[str, np.ndarray], rows: slice = slice(None)
) -> acquisition.PoolChunk:
    """The PoolChunk the loop would build for ``rows``: the acquisition's needs and norm."""
    import acquisition

    inputs = {}
    for name in acq.needs:
        if name == "tta_landmarks":
            inputs[name] = tta_for(pool, acq.tta_samples)[rows]
        elif name == "labeled_features":
            inputs[name] = pool["features"][pool["labeled"]]
        elif name == "labeled_landmarks":
            inputs[name] = pool[name]
        else:
            inputs[name] = pool[name][rows]
    return acquisition.PoolChunk(norm=pool["norm"][rows], **inputs)


def inputs_for(acq: acquisition.Acquisition, pool: dict[str, np.ndarray]) -> dict:
    """The keyword arguments select() needs for this acquisition on the pool fixture."""
    kwargs: dict = {"labeled": pool["labeled"]}
    if acq.is_score_based:
        kwargs["scores"] = acq.score_chunk(chunk_for(acq, pool))
    if "features" in acq.needs:
        kwargs["features"] = pool["features"]
    return kwargs
