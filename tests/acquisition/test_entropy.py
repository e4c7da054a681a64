"""Known answers for the spatial heatmap entropy."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import acquisition
from tests.helpers.acquisition_inputs import gaussian_maps


def reference_entropy(heatmaps: np.ndarray) -> np.ndarray:
    """Direct definition in float64: clip, divide by the sum, -sum p ln p, mean over maps."""
    n, n_landmarks, height, width = heatmaps.shape
    out = np.zeros((n, n_landmarks))
    for i in range(n):
        for j in range(n_landmarks):
            h = np.clip(heatmaps[i, j].astype(np.float64), 0, None).ravel()
            if h.sum() == 0:
                out[i, j] = math.log(height * width)
                continue
            p = h[h > 0] / h.sum()
            out[i, j] = -(p * np.log(p)).sum()
    return out.mean(axis=1)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("value", [1.0, 1e-3, 250.0])
def test_uniform_map_is_log_of_pixel_count(dtype: type, value: float) -> None:
    maps = np.full((2, 3, 6, 10), value, dtype=dtype)
    tol = 1e-12 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(acquisition.get("entropy").score(maps), math.log(60), rtol=tol)


@pytest.mark.parametrize("fill", [0.0, -1.0, -1e-30])
def test_map_without_positive_values_counts_as_uniform(fill: float) -> None:
    maps = np.full((1, 2, 8, 8), fill, dtype=np.float32)
    maps[0, 0, 3, 3] = -7.0
    np.testing.assert_allclose(acquisition.get("entropy").score(maps), math.log(64), rtol=1e-6)


def test_small_hand_examples() -> None:
    maps = np.zeros((1, 3, 4, 4))
    maps[0, 0, 1, [1, 2]] = 1.0  # two equal pixels: ln 2
    maps[0, 0, 3, 3] = -5.0  # negatives are clipped away
    maps[0, 1, 0, :] = 2.0  # four equal pixels: ln 4
    maps[0, 2, 2, 0:3] = [1.0, 2.0, 3.0]  # p = 1/6, 2/6, 3/6
    expected = np.mean(
        [math.log(2), math.log(4), -sum(q * math.log(q) for q in (1 / 6, 2 / 6, 3 / 6))]
    )
    np.testing.assert_allclose(acquisition.get("entropy").score(maps), [expected], rtol=1e-13)


def test_tiny_positive_mass_is_exact() -> None:
    maps = np.zeros((3, 1, 8, 8), dtype=np.float32)
    maps[0, 0, 2, 5] = 1e-39  # one positive (subnormal) pixel: a point mass, entropy 0
    maps[1, 0, 0, :2] = 1e-30  # two equal tiny pixels: ln 2
    maps[2, 0] = -1.0
    maps[2, 0, 4, 4] = 1e-25  # one tiny positive pixel among negatives: entropy 0
    np.testing.assert_allclose(
        acquisition.get("entropy").score(maps), [0.0, math.log(2), 0.0], atol=1e-12
    )


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_matches_direct_definition(dtype: type, pool: dict) -> None:
    maps = pool["heatmaps"].astype(dtype)  # noisy: has negatives and many small values
    tol = 1e-12 if dtype == np.float64 else 2e-6
    np.testing.assert_allclose(
        acquisition.get("entropy").score(torch.from_numpy(maps)), reference_entropy(maps), rtol=tol
    )


def test_matches_direct_definition_on_large_maps() -> None:
    """128 x 128 maps: several CPU blocks per image, blocks straddle images."""
    rng = np.random.default_rng(2)
    centres = rng.uniform(20, 108, size=(3, 5, 2))
    maps = gaussian_maps(centres, rng.uniform(1, 8, size=(3, 5)), 128)
    maps = (maps + rng.normal(0, 0.01, size=maps.shape)).astype(np.float32)
    np.testing.assert_allclose(
        acquisition.get("entropy").score(maps), reference_entropy(maps), rtol=2e-6
    )


def test_diffuse_blob_outscores_sharp_peak_and_grows_with_sigma() -> None:
    sigmas = np.array([[1.0], [2.0], [4.0], [8.0]])
    maps = gaussian_maps(np.full((4, 1, 2), 32.0), sigmas, 64)
    maps[0] *= 10.0  # a tall sharp peak; entropy does not depend on height, only on spread
    scores = acquisition.get("entropy").score(maps)
    assert np.all(np.diff(scores) > 0)
    labeled = np.zeros(4, dtype=bool)
    assert acquisition.get("entropy").select(1, labeled=labeled, scores=scores).tolist() == [3]


def test_mean_over_landmarks() -> None:
    maps = np.zeros((1, 2, 4, 4))
    maps[0, 0, 0, :2] = 1.0  # ln 2
    maps[0, 1] = 1.0  # ln 16
    np.testing.assert_allclose(
        acquisition.get("entropy").score(maps), [(math.log(2) + math.log(16)) / 2], rtol=1e-14
    )
