"""select() and score() refuse bad inputs with errors that say what was wrong."""

from __future__ import annotations

import numpy as np
import pytest

import acquisition


@pytest.fixture
def mask() -> np.ndarray:
    labeled = np.zeros(10, dtype=bool)
    labeled[:4] = True
    return labeled


@pytest.mark.parametrize("k", [0, -3])
def test_nonpositive_k(k: int, mask: np.ndarray) -> None:
    with pytest.raises(ValueError, match="k must be >= 1"):
        acquisition.get("random").select(k, labeled=mask, rng=np.random.default_rng(0))


def test_k_above_unlabeled(mask: np.ndarray) -> None:
    with pytest.raises(ValueError, match=r"k=7 exceeds the 6 unlabeled"):
        acquisition.get("random").select(7, labeled=mask, rng=np.random.default_rng(0))


def test_non_integer_k(mask: np.ndarray) -> None:
    with pytest.raises(TypeError, match="k must be an integer"):
        acquisition.get("random").select(2.5, labeled=mask, rng=np.random.default_rng(0))


def test_labeled_must_be_boolean() -> None:
    with pytest.raises(TypeError, match="labelled_map > 0"):
        acquisition.get("random").select(
            1, labeled=np.zeros(5, dtype=np.int64), rng=np.random.default_rng(0)
        )


def test_scores_wrong_length(mask: np.ndarray) -> None:
    with pytest.raises(ValueError, match=r"scores has shape \(9,\); expected \(10,\)"):
        acquisition.get("nnm").select(2, labeled=mask, scores=np.zeros(9))


def test_scores_missing(mask: np.ndarray) -> None:
    with pytest.raises(TypeError, match="acq.score"):
        acquisition.get("nnm").select(2, labeled=mask)


def test_nan_scores_counted_and_labeled_nan_ignored(mask: np.ndarray) -> None:
    scores = np.arange(10, dtype=float)
    scores[[1, 2]] = np.nan  # labeled: ignored
    acquisition.get("nnm").select(2, labeled=mask, scores=scores)
    scores[[5, 8, 9]] = np.nan
    with pytest.raises(ValueError, match=r"3 NaN value\(s\) among unlabeled.*\[5, 8, 9\]"):
        acquisition.get("nnm").select(2, labeled=mask, scores=scores)


def test_features_wrong_shape_and_nonfinite(mask: np.ndarray) -> None:
    acq = acquisition.get("kcenter_greedy")
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match=r"features has shape \(9, 3\); expected \(10, d\)"):
        acq.select(2, labeled=mask, features=np.zeros((9, 3)), rng=rng)
    features = np.zeros((10, 3))
    features[[2, 6], 1] = [np.nan, np.inf]
    with pytest.raises(ValueError, match=r"2 row\(s\) with NaN or inf"):
        acq.select(2, labeled=mask, features=features, rng=rng)
    with pytest.raises(TypeError, match="needs features"):
        acq.select(2, labeled=mask, rng=rng)


def test_random_needs_generator(mask: np.ndarray) -> None:
    with pytest.raises(TypeError, match="default_rng"):
        acquisition.get("random").select(2, labeled=mask, rng=None)


def test_heatmaps_wrong_rank() -> None:
    with pytest.raises(ValueError, match=r"\(n, L, H, W\).*\(3, 8, 8\)"):
        acquisition.get("nnm").score(np.zeros((3, 8, 8)))


def test_score_on_set_acquisition() -> None:
    with pytest.raises(TypeError, match="not score-based"):
        acquisition.get("random").score(np.zeros((1, 1, 4, 4)))


@pytest.mark.parametrize(
    ("params", "error", "match"),
    [
        ({"window": 4}, ValueError, "odd integer"),
        ({"window": 0}, ValueError, "odd integer"),
        ({"window": 7.0}, TypeError, "odd integer"),
        ({"discard_top": 1.0}, ValueError, r"\[0, 1\)"),
        ({"discard_top": -0.1}, ValueError, r"\[0, 1\)"),
        ({"widow": 7}, ValueError, r"unknown parameter\(s\) \['widow'\]; accepted: window"),
    ],
)
def test_bad_parameters(params: dict, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        acquisition.get("nnm", **params)


def test_discard_leaves_too_few(mask: np.ndarray) -> None:
    acq = acquisition.get("nnm", discard_top=0.5)  # drops floor(0.5 * 6) = 3 of 6
    acq.select(3, labeled=mask, scores=np.arange(10.0))
    with pytest.raises(ValueError, match=r"k=4 exceeds the 3 unlabeled item\(s\) left after"):
        acq.select(4, labeled=mask, scores=np.arange(10.0))


def test_features_whose_sum_overflows_are_still_finite() -> None:
    """The fast finiteness check sums the matrix; a sum that overflows is rechecked by row."""
    features = np.zeros((4, 2), dtype=np.float32)
    features[[1, 2], 0] = 3e38  # finite, but their float32 sum is inf
    labeled = np.array([True, False, False, False])
    picked = acquisition.get("kcenter_greedy").select(1, labeled=labeled, features=features)
    assert picked.tolist() == [1]
    features[3, 1] = np.inf
    match = r"1 row\(s\) with NaN or inf \(first pool indices: \[3\]\)"
    with pytest.raises(ValueError, match=match):
        acquisition.get("kcenter_greedy").select(1, labeled=labeled, features=features)
