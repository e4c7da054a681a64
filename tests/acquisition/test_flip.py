"""Known answers for flip_consistency: mean landmark distance to the mirrored prediction / norm."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import acquisition
from acquisition import PoolChunk


def score(landmarks, flip_landmarks, norm) -> np.ndarray:
    chunk = PoolChunk(norm=np.asarray(norm), landmarks=landmarks, flip_landmarks=flip_landmarks)
    return acquisition.get("flip_consistency").score_chunk(chunk)


def test_hand_computed_example() -> None:
    landmarks = np.array(
        [
            [[10.0, 10.0], [20.0, 10.0]],  # item 0
            [[5.0, 5.0], [7.0, 1.0]],  # item 1
            [[1.0, 2.0], [3.0, 4.0]],  # item 2: mirrors exactly
        ],
        dtype=np.float32,
    )
    flip = landmarks.copy()
    flip[0, 0] = [13.0, 14.0]  # moved by (3, 4): distance 5; landmark 1 distance 0
    flip[1, 0] = [6.0, 5.0]  # distance 1
    flip[1, 1] = [7.0, 3.0]  # distance 2
    # item 0: (5 + 0) / 2 / 10 = 0.25; item 1: (1 + 2) / 2 / 3 = 0.5; item 2: 0.
    np.testing.assert_allclose(score(landmarks, flip, [10.0, 3.0, 4.0]), [0.25, 0.5, 0.0])


def test_matches_plain_loop_and_is_frame_free() -> None:
    rng = np.random.default_rng(3)
    landmarks = rng.uniform(0, 90, size=(7, 68, 2))
    flip = landmarks + rng.normal(0, 2, size=landmarks.shape)
    norm = rng.uniform(20, 40, size=7)
    expected = [
        sum(math.dist(landmarks[i, j], flip[i, j]) for j in range(68)) / 68 / norm[i]
        for i in range(7)
    ]
    got = score(landmarks, flip, norm)
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    # Shifting both predictions and scaling every distance (norm too) changes nothing.
    moved = score(3 * landmarks + 11, 3 * flip + 11, 3 * norm)
    np.testing.assert_allclose(moved, expected, rtol=1e-12)
    torch_got = score(torch.from_numpy(landmarks), torch.from_numpy(flip), torch.from_numpy(norm))
    np.testing.assert_allclose(torch_got, expected, rtol=1e-12)


def test_less_consistent_item_is_selected_first() -> None:
    landmarks = np.zeros((4, 3, 2))
    flip = landmarks.copy()
    flip[2] += 6.0  # the most inconsistent
    flip[1] += 1.0
    scores = score(landmarks, flip, np.full(4, 10.0))
    acq = acquisition.get("flip_consistency")
    picked = acq.select(2, labeled=np.array([False, False, False, True]), scores=scores)
    assert picked.tolist() == [2, 1]


@pytest.mark.parametrize("bad", [0.0, -1.0, np.inf])
def test_norm_must_be_positive_and_finite(bad: float) -> None:
    with pytest.raises(ValueError, match=r"flip_consistency: norm must be a positive finite"):
        score(np.zeros((2, 1, 2)), np.ones((2, 1, 2)), [1.0, bad])


def test_needs_norm_and_both_predictions() -> None:
    acq = acquisition.get("flip_consistency")
    assert acq.needs == {"landmarks", "flip_landmarks"} and acq.is_score_based
    with pytest.raises(acquisition.MissingInputError, match="declares in needs"):
        acq.score_chunk(PoolChunk(norm=np.ones(2), landmarks=np.zeros((2, 1, 2))))
    with pytest.raises(acquisition.MissingInputError, match="reads 'landmarks'"):
        acq.score(np.zeros((2, 1, 4, 4)))
    with pytest.raises(acquisition.MissingInputError, match="PoolChunk\\(norm=...\\)"):
        acq.score_chunk(PoolChunk(landmarks=np.zeros((2, 1, 2)), flip_landmarks=np.ones((2, 1, 2))))
