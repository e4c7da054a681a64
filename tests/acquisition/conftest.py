"""Shared pool fixtures for the acquisition tests: small, seeded, CPU-only."""

from __future__ import annotations

import numpy as np
import pytest

from acquisition import registry
from tests.helpers import gaussian_maps


@pytest.fixture
def pool() -> dict[str, np.ndarray]:
    """40 items, 3 landmarks of 12x12, 5-d features, 6 labeled items."""
    rng = np.random.default_rng(1234)
    n = 40
    centres = rng.uniform(0, 11, size=(n, 3, 2))
    sigmas = rng.uniform(0.6, 3.0, size=(n, 3))
    heatmaps = gaussian_maps(centres, sigmas, 12) + rng.normal(0, 0.02, size=(n, 3, 12, 12))
    labeled = np.zeros(n, dtype=bool)
    labeled[[0, 3, 4, 17, 25, 39]] = True
    return {
        "heatmaps": heatmaps.astype(np.float32),
        "features": rng.normal(size=(n, 5)),
        "labeled": labeled,
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

