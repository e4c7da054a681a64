"""Shared pool fixtures for the acquisition tests: small, seeded, CPU-only."""

from __future__ import annotations

import numpy as np
import pytest

import acquisition
from acquisition import registry

# The example plugin's own tests need it installed: test_plugins.py installs it and runs them.
collect_ignore = ["plugin_pkg"]


def gaussian_maps(centres: np.ndarray, sigmas: np.ndarray, size: int) -> np.ndarray:
    """(n, L, size, size) Gaussian heatmaps with peak 1 at the given (row, col) centres."""
    grid = np.arange(size, dtype=np.float64)
    rows = grid[None, None, :, None] - centres[..., 0, None, None]
    cols = grid[None, None, None, :] - centres[..., 1, None, None]
    return np.exp(-(rows**2 + cols**2) / (2.0 * sigmas[..., None, None] ** 2))


@pytest.fixture
def pool() -> dict[str, np.ndarray]:
    """40 items, 3 landmarks of 12x12, 5-d features, 6 labeled items, plus the landmark
    inputs (crop frame 4x the heatmaps) and norm; TTA landmarks come from :func:`tta_for`."""
    rng = np.random.default_rng(1234)
    n = 40
    centres = rng.uniform(0, 11, size=(n, 3, 2))
    sigmas = rng.uniform(0.6, 3.0, size=(n, 3))
    heatmaps = gaussian_maps(centres, sigmas, 12) + rng.normal(0, 0.02, size=(n, 3, 12, 12))
    labeled = np.zeros(n, dtype=bool)
    labeled[[0, 3, 4, 17, 25, 39]] = True
    landmarks = 4.0 * centres[..., ::-1]  # (x, y)
    flipped = heatmaps[:, :, :, ::-1] + rng.normal(0, 0.02, size=heatmaps.shape)
    return {
        "heatmaps": heatmaps.astype(np.float32),
        "features": rng.normal(size=(n, 5)),
        "labeled": labeled,
        "landmarks": landmarks.astype(np.float32),
        "flip_landmarks": (landmarks + rng.normal(0, 1.5, landmarks.shape)).astype(np.float32),
        "flip_heatmaps": flipped.astype(np.float32),
        "norm": rng.uniform(15, 25, size=n).astype(np.float32),
        "labeled_landmarks": landmarks[labeled].astype(np.float32),
    }


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


@pytest.fixture
def clean_registry():
    """Restore the registry (and plugin-loaded flag) after a test that registers classes."""
    saved = dict(registry._REGISTRY)
    saved_flag = registry._plugins_loaded
    yield registry
    registry._REGISTRY.clear()
    registry._REGISTRY.update(saved)
    registry._plugins_loaded = saved_flag


def inputs_for(acq: acquisition.Acquisition, pool: dict[str, np.ndarray]) -> dict:
    """The keyword arguments select() needs for this acquisition on the pool fixture."""
    kwargs: dict = {"labeled": pool["labeled"]}
    if acq.is_score_based:
        kwargs["scores"] = acq.score_chunk(chunk_for(acq, pool))
    if "features" in acq.needs:
        kwargs["features"] = pool["features"]
    return kwargs
