"""Known answers for NNM (SCAF paper, eq. 1)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import acquisition
from tests.helpers.acquisition_inputs import gaussian_maps


def reference_nnm(heatmaps: np.ndarray, window: int) -> np.ndarray:
    """Plain-loop NNM: flat argmax, clipped window, sum, negate."""
    n, n_landmarks, height, width = heatmaps.shape
    half = window // 2
    out = np.zeros(n)
    for i in range(n):
        for j in range(n_landmarks):
            r, c = divmod(int(np.argmax(heatmaps[i, j])), width)  # first max, row-major
            patch = heatmaps[i, j, max(r - half, 0) : r + half + 1, max(c - half, 0) : c + half + 1]
            out[i] -= patch.astype(np.float64).sum()
    return out


def test_hand_computed_example() -> None:
    maps = np.zeros((1, 3, 5, 5))
    # Landmark 0: peak 9 at (2, 2); the 3x3 window holds 1+2+3+9+1+1 = 17.
    maps[0, 0, 1, 1:3] = [1, 2]
    maps[0, 0, 2, 1:4] = [3, 9, 1]
    maps[0, 0, 3, 2] = 1
    maps[0, 0, 4, 4] = -5  # outside the window: ignored
    # Landmark 1: peak 4 in the top-right corner; the clipped window holds 2+4+1+1 = 8.
    maps[0, 1, 0, 3:5] = [2, 4]
    maps[0, 1, 1, 3:5] = [1, 1]
    # Landmark 2: peak 5 twice, at (1, 4) and (3, 0); the row-major first is (1, 4), whose
    # clipped window holds 5 + 1 + 2 = 8 (the window at (3, 0) would hold 5 + 4 = 9).
    maps[0, 2, 1, 4] = 5
    maps[0, 2, 3, 0] = 5
    maps[0, 2, 0, 3] = 1
    maps[0, 2, 2, 4] = 2
    maps[0, 2, 4, 1] = 4
    acq = acquisition.get("nnm", window=3)
    np.testing.assert_array_equal(acq.score(maps), [-(17 + 8 + 8)])
    # A 1x1 window is minus the sum of the peaks.
    np.testing.assert_array_equal(acquisition.get("nnm", window=1).score(maps), [-(9 + 4 + 5)])


@pytest.mark.parametrize("window", [1, 3, 7, 11])
def test_matches_plain_loop_with_many_ties(window: int) -> None:
    rng = np.random.default_rng(window)
    # Few distinct values: most maps have their maximum in several places.
    maps = rng.integers(-2, 4, size=(6, 5, 6, 9)).astype(np.float32)
    maps[0, 0] = 0.0  # constant map: the first maximum is (0, 0)
    got = acquisition.get("nnm", window=window).score(torch.from_numpy(maps))
    np.testing.assert_array_equal(got, reference_nnm(maps, window))


def test_matches_plain_loop_on_smooth_maps(pool: dict) -> None:
    got = acquisition.get("nnm", window=5).score(pool["heatmaps"])
    np.testing.assert_allclose(got, reference_nnm(pool["heatmaps"], 5), rtol=1e-12)


def test_weak_diffuse_blob_outscores_tall_sharp_peak() -> None:
    centres = np.full((2, 2, 2), 16.0)
    sharp = gaussian_maps(centres[:1], np.full((1, 2), 1.0), 32)  # peak 1, mass ~2*pi per map
    diffuse = 0.1 * gaussian_maps(centres[1:], np.full((1, 2), 4.0), 32)  # peak 0.1, wide
    scores = acquisition.get("nnm").score(np.concatenate([sharp, diffuse]))
    assert scores[1] > scores[0]
    picked = acquisition.get("nnm").select(1, labeled=np.zeros(2, bool), scores=scores)
    assert picked.tolist() == [1]


def test_nan_heatmap_gives_nan_score() -> None:
    maps = np.ones((2, 2, 4, 4))
    maps[1, 0, 2, 2] = np.nan
    scores = acquisition.get("nnm").score(maps)
    assert np.isfinite(scores[0]) and np.isnan(scores[1])
