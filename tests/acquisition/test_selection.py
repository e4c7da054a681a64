"""Take-K with discard-top-p%: exact arithmetic and tie order."""

from __future__ import annotations

import numpy as np
import pytest

import acquisition
from acquisition.selection import discard_count, rank_unlabeled, take_top_k


@pytest.mark.parametrize(
    ("p", "n", "expected"),
    [
        (0.0, 50, 0),
        (0.10, 9, 0),
        (0.10, 10, 1),
        (0.10, 30, 3),  # 0.1 * 30 == 3.0000000000000004 in floating point
        (0.29, 100, 29),  # 0.29 * 100 == 28.999999999999996 in floating point
        (0.57, 100, 57),  # 0.57 * 100 == 56.99999999999999 in floating point
        (0.15, 19, 2),
        (0.5, 7, 3),
    ],
)
def test_discard_count_is_exact_floor(p: float, n: int, expected: int) -> None:
    assert discard_count(p, n) == expected


def test_rank_ties_by_lower_index_and_labeled_skipped() -> None:
    scores = np.array([5.0, 3.0, 5.0, 5.0, 1.0, 5.0, -0.0, 0.0])
    labeled = np.array([False, False, False, True, False, False, False, False])
    np.testing.assert_array_equal(rank_unlabeled(scores, labeled), [0, 2, 5, 1, 4, 6, 7])


def test_take_top_k_discards_then_takes() -> None:
    scores = np.array([5.0, 3.0, 5.0, 5.0, 1.0, 4.0, 9.0, 2.0])
    labeled = np.array([False, False, False, True, False, False, True, False])
    # Unlabeled ranked: 0 (5), 2 (5), 5 (4), 1 (3), 7 (2), 4 (1); floor(0.34 * 6) = 2 dropped.
    np.testing.assert_array_equal(take_top_k(scores, labeled, 3, 0.34), [5, 1, 7])
    np.testing.assert_array_equal(take_top_k(scores, labeled, 2, 0.0), [0, 2])


def test_select_records_scores_and_ranks() -> None:
    scores = np.array([0.5, 2.0, np.nan, 1.0, 3.0, 2.0])
    labeled = np.array([False, False, True, False, False, False])
    acq = acquisition.get("nnm", discard_top=0.2)  # drops floor(0.2 * 5) = 1: index 4
    picked = acq.select(3, labeled=labeled, scores=scores)
    np.testing.assert_array_equal(picked, [1, 5, 3])
    np.testing.assert_array_equal(acq.last_selection["pool_index"], [1, 5, 3])
    np.testing.assert_array_equal(acq.last_selection["score"], [2.0, 2.0, 1.0])
    np.testing.assert_array_equal(acq.last_selection["rank"], [0, 1, 2])


def test_discard_on_large_pool_matches_sorted_order() -> None:
    rng = np.random.default_rng(5)
    scores = rng.integers(0, 50, size=1000).astype(float)  # many ties
    labeled = rng.random(1000) < 0.3
    unlabeled = np.flatnonzero(~labeled)
    expected = sorted(unlabeled, key=lambda i: (-scores[i], i))
    n_drop = int(0.1 * 100 * unlabeled.size) // 100
    got = take_top_k(scores, labeled, 40, 0.10)
    np.testing.assert_array_equal(got, expected[n_drop : n_drop + 40])


@pytest.mark.parametrize("p", [0.0, 0.1, 0.5])
@pytest.mark.parametrize("k", [1, 3, 20])
def test_take_top_k_equals_full_ranking_slice(p: float, k: int) -> None:
    rng = np.random.default_rng(k)
    scores = rng.integers(0, 6, size=300).astype(float)  # heavy ties at every threshold
    scores[::7] = -0.0
    labeled = rng.random(300) < 0.2
    ranked = rank_unlabeled(scores, labeled)
    n_drop = discard_count(p, ranked.size)
    np.testing.assert_array_equal(take_top_k(scores, labeled, k, p), ranked[n_drop : n_drop + k])
