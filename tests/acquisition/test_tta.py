"""Known answers for tta_variance: mean per-landmark RMS spread over T augmentations / norm."""

from __future__ import annotations

import math

import numpy as np
import pytest

import acquisition
from acquisition import PoolChunk


def score(tta_landmarks: np.ndarray, norm, samples: int | None = None) -> np.ndarray:
    acq = acquisition.get("tta_variance", samples=samples or tta_landmarks.shape[1])
    return acq.score_chunk(PoolChunk(norm=np.asarray(norm), tta_landmarks=tta_landmarks))


def test_hand_computed_example() -> None:
    tta = np.zeros((2, 4, 2, 2))
    # Item 0, landmark 0: the corners of a 4 x 3 box, each 2.5 from the mean (2, 1.5);
    # landmark 1 never moves. Spread (2.5 + 0) / 2 = 1.25, over norm 5: 0.25.
    tta[0, :, 0] = [[0, 0], [4, 0], [0, 3], [4, 3]]
    # Item 1, landmark 0: three times (0, 0) and once (4, 0): mean (1, 0), squared distances
    # 1, 1, 1, 9, RMS sqrt(12 / 4) = sqrt(3); landmark 1: (0, 0) and (0, 2) twice each, RMS 1.
    tta[1, :, 0] = [[0, 0], [0, 0], [0, 0], [4, 0]]
    tta[1, :, 1] = [[0, 0], [0, 2], [0, 0], [0, 2]]
    got = score(tta.astype(np.float32), [5.0, 2.0])
    np.testing.assert_allclose(got, [0.25, (math.sqrt(3) + 1) / 2 / 2], rtol=1e-7)


def test_matches_plain_loop() -> None:
    rng = np.random.default_rng(5)
    tta = rng.normal(50, 3, size=(6, 8, 5, 2))
    norm = rng.uniform(10, 30, size=6)
    expected = []
    for i in range(6):
        spreads = []
        for j in range(5):
            mean = tta[i, :, j].mean(axis=0)
            spreads.append(math.sqrt(sum(math.dist(p, mean) ** 2 for p in tta[i, :, j]) / 8))
        expected.append(sum(spreads) / 5 / norm[i])
    np.testing.assert_allclose(score(tta, norm), expected, rtol=1e-12)
    # Unchanged by a shift of the frame; a scaled frame with a scaled norm gives the same.
    np.testing.assert_allclose(score(2 * tta - 7, 2 * norm), expected, rtol=1e-12)


def test_samples_parameter_is_tta_samples() -> None:
    acq = acquisition.get("tta_variance")
    assert acq.needs == {"tta_landmarks"} and acq.tta_samples == acq.samples == 8
    assert acquisition.get("tta_variance", samples=3).tta_samples == 3
    assert acquisition.get("tta_variance", samples=3).params == {"samples": 3, "discard_top": 0.0}


def test_wrong_number_of_augmentations_is_refused() -> None:
    with pytest.raises(ValueError, match=r"holds T=4 .* asks for tta_samples=8"):
        score(np.zeros((2, 4, 3, 2)), [1.0, 1.0], samples=8)


@pytest.mark.parametrize(
    ("samples", "error"), [(1, ValueError), (0, ValueError), (2.0, TypeError), (True, TypeError)]
)
def test_bad_samples(samples, error: type) -> None:
    with pytest.raises(error, match="samples must be"):
        acquisition.get("tta_variance", samples=samples)


def test_shape_errors_name_the_input() -> None:
    acq = acquisition.get("tta_variance", samples=2)
    with pytest.raises(ValueError, match=r"tta_landmarks must have shape \(n, T, L, 2\)"):
        acq.score_chunk(PoolChunk(norm=np.ones(2), tta_landmarks=np.zeros((2, 2, 3, 3))))
