"""Shared pool fixtures for the acquisition tests: small, seeded, CPU-only."""

from __future__ import annotations

import numpy as np
import pytest

from acquisition import registry
from tests.helpers.acquisition_inputs import gaussian_maps

# The example plugin's own tests need it installed: test_plugins.py installs it and runs them.
collect_ignore = ["plugin_pkg"]


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


@pytest.fixture
def clean_registry():
    """Restore the registry (and plugin-loaded flag) after a test that registers classes."""
    saved = dict(registry._REGISTRY)
    saved_flag = registry._plugins_loaded
    yield registry
    registry._REGISTRY.clear()
    registry._REGISTRY.update(saved)
    registry._plugins_loaded = saved_flag

