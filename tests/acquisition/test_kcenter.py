"""Known answers for k-center-greedy, cross-checked against a brute-force recomputation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import acquisition


def brute_force(features: np.ndarray, labeled: np.ndarray, k: int) -> tuple[list, list]:
    """Recompute every distance to every centre at each step: O(k * n * centres)."""
    centres = list(np.flatnonzero(labeled))
    picks, dists = [], []
    for _ in range(k):
        best, best_dist = -1, -np.inf
        for i in range(features.shape[0]):
            if labeled[i] or i in picks:
                continue
            d = min(np.sqrt(((features[i] - features[c]) ** 2).sum()) for c in centres)
            if d > best_dist:  # strict: the lowest index keeps a tie
                best, best_dist = i, d
        picks.append(best)
        dists.append(best_dist)
        centres.append(best)
    return picks, dists


def select(features: np.ndarray, labeled: np.ndarray, k: int, seed: int = 0) -> np.ndarray:
    acq = acquisition.get("kcenter_greedy")
    return acq.select(k, labeled=labeled, features=features, rng=np.random.default_rng(seed))


def test_four_point_tie_case() -> None:
    features = np.array([[0.0, 0.0], [1.0, 0.0], [-1.0, 0.0], [0.0, 1.0]])
    labeled = np.array([True, False, False, False])
    acq = acquisition.get("kcenter_greedy")
    picked = acq.select(3, labeled=labeled, features=features, rng=np.random.default_rng(0))
    assert picked.tolist() == [1, 2, 3]
    # Distances at pick time: 1 from (0,0); then 1 (ties by lowest index); then 1.
    np.testing.assert_array_equal(acq.last_selection["score"], [1.0, 1.0, 1.0])


@pytest.mark.parametrize("labeled_idx", [[0, 1], [5], list(range(0, 60, 7))])
def test_matches_brute_force(labeled_idx: list) -> None:
    rng = np.random.default_rng(len(labeled_idx))
    features = rng.normal(size=(60, 4))
    labeled = np.zeros(60, dtype=bool)
    labeled[labeled_idx] = True
    acq = acquisition.get("kcenter_greedy")
    picked = acq.select(8, labeled=labeled, features=features, rng=np.random.default_rng(0))
    picks, dists = brute_force(features, labeled, 8)
    assert picked.tolist() == picks
    np.testing.assert_allclose(acq.last_selection["score"], dists, rtol=1e-12)


def test_float32_torch_features_match_brute_force() -> None:
    rng = np.random.default_rng(9)
    features = rng.normal(size=(80, 99)).astype(np.float32)
    labeled = np.zeros(80, dtype=bool)
    labeled[[3, 40]] = True
    picked = select(torch.from_numpy(features), labeled, 10)
    assert picked.tolist() == brute_force(features.astype(np.float64), labeled, 10)[0]


def test_duplicates_are_never_picked_twice() -> None:
    base = np.array([[0.0, 0.0], [5.0, 0.0], [0.0, 5.0]])
    features = np.repeat(base, 4, axis=0)  # every point four times: rows 0-3, 4-7, 8-11
    labeled = np.zeros(12, dtype=bool)
    labeled[0] = True
    picked = select(features, labeled, 11)
    assert np.unique(picked).size == 11 and 0 not in picked
    # Far points first (lowest index of each), then the duplicates at distance 0 in index order.
    assert picked.tolist() == [4, 8, 1, 2, 3, 5, 6, 7, 9, 10, 11]


def test_empty_labeled_set_starts_from_rng() -> None:
    rng = np.random.default_rng(4)
    features = rng.normal(size=(50, 3))
    labeled = np.zeros(50, dtype=bool)
    firsts = {int(select(features, labeled, 3, seed)[0]) for seed in range(20)}
    assert len(firsts) > 5  # the first pick really comes from the rng
    for seed in (0, 1):
        a, b = select(features, labeled, 5, seed), select(features, labeled, 5, seed)
        np.testing.assert_array_equal(a, b)
        # After the random first pick the rest is the greedy order from that centre.
        after = labeled.copy()
        after[a[0]] = True
        assert a[1:].tolist() == brute_force(features, after, 4)[0]
    acq = acquisition.get("kcenter_greedy")
    acq.select(2, labeled=labeled, features=features, rng=np.random.default_rng(0))
    assert acq.last_selection["score"][0] == np.inf
    with pytest.raises(TypeError, match="default_rng"):
        acq.select(2, labeled=labeled, features=features, rng=None)


def test_rounds_with_several_new_labels() -> None:
    """The loop adds several items per round; each round restarts from the labeled set."""
    rng = np.random.default_rng(8)
    features = rng.normal(size=(40, 3))
    labeled = np.zeros(40, dtype=bool)
    labeled[[2, 9]] = True
    acq = acquisition.get("kcenter_greedy")
    for _ in range(3):
        picked = acq.select(5, labeled=labeled, features=features, rng=np.random.default_rng(0))
        assert picked.tolist() == brute_force(features, labeled, 5)[0]
        labeled[picked] = True


def test_many_labeled_centres_span_blocks() -> None:
    """More labeled centres than one distance block holds."""
    rng = np.random.default_rng(6)
    features = rng.normal(size=(700, 3))
    labeled = np.zeros(700, dtype=bool)
    labeled[rng.choice(700, size=600, replace=False)] = True
    centres = features[labeled]
    unlabeled = np.flatnonzero(~labeled)
    nearest = np.sqrt(((features[unlabeled, None, :] - centres[None]) ** 2).sum(-1)).min(1)
    expected = unlabeled[np.argmax(nearest)]
    assert select(features, labeled, 1).tolist() == [expected]


@pytest.mark.parametrize(("dtype", "offset"), [(np.float32, 1e3), (np.float64, 1e6)])
def test_exact_when_gram_formula_cancels_badly(dtype: type, offset: float) -> None:
    """Far from the origin |x|^2 + |c|^2 - 2 x.c loses most digits; picks must not change."""
    rng = np.random.default_rng(12)
    features = (offset + rng.normal(size=(200, 16))).astype(dtype)
    labeled = np.zeros(200, dtype=bool)
    labeled[[1, 50, 120]] = True
    acq = acquisition.get("kcenter_greedy")
    picked = acq.select(25, labeled=labeled, features=features, rng=np.random.default_rng(0))
    picks, dists = brute_force(features.astype(np.float64), labeled, 25)
    assert picked.tolist() == picks
    np.testing.assert_allclose(acq.last_selection["score"], dists, rtol=1e-5)


def test_exact_under_reduced_matmul_precision() -> None:
    rng = np.random.default_rng(13)
    features = torch.from_numpy(rng.normal(size=(150, 32)).astype(np.float32))
    labeled = np.zeros(150, dtype=bool)
    labeled[:2] = True
    before = torch.get_float32_matmul_precision()
    try:
        torch.set_float32_matmul_precision("medium")
        picked = select(features, labeled, 15)
    finally:
        torch.set_float32_matmul_precision(before)
    assert picked.tolist() == brute_force(features.double().numpy(), labeled, 15)[0]
