"""Known answers for diverse_top: discard, keep candidates x k by score, k-center among them."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import acquisition
from tests.helpers.acquisition_inputs import chunk_for

# Item 0 is labeled at feature 0; items 1-7 are unlabeled with scores 9 down to 3.
SCORES = np.array([0.0, 9, 8, 7, 6, 5, 4, 3])
FEATURES = np.array([0.0, 100, 1, 2, 10, 9, 50, 60])[:, None]
LABELED = np.array([True] + [False] * 7)


def select(k: int, **params) -> tuple[list[int], list[float]]:
    acq = acquisition.get("diverse_top", **params)
    picked = acq.select(k, labeled=LABELED, scores=SCORES, features=FEATURES)
    return picked.tolist(), acq.last_selection["score"].tolist()


def test_hand_computed_example() -> None:
    # discard_top 0.15 of 7 unlabeled drops floor(1.05) = 1 (item 1, feature 100, an
    # outlier); candidates 2 x k 2 keeps items 2-5 (features 1, 2, 10, 9). From the labeled
    # centre 0, item 4 (10) is farthest; then distances are 1, 2, 1 for items 2, 3, 5.
    picked, scores = select(2, discard_top=0.15, candidates=2)
    assert picked == [4, 3]
    assert scores == [6.0, 7.0]  # the inner scores of the picks


def test_one_candidate_per_pick_is_the_inner_top_k() -> None:
    picked, _ = select(3, discard_top=0.15, candidates=1)
    # The same three items (2, 3, 4: features 1, 2, 10) in k-center order: 10 is farthest
    # from the centre 0; then item 3 is 2 from 0 and item 2 only 1.
    assert picked == [4, 3, 2]
    plain = acquisition.get("nnm", discard_top=0.15)
    top = plain.select(3, labeled=LABELED, scores=SCORES)
    assert sorted(picked) == sorted(top.tolist())


def test_candidates_beyond_the_pool_keep_all_that_is_left() -> None:
    # No discard, 4 x 2 = 8 candidates but only 7 unlabeled: all take part, so the picks are
    # k-center over every unlabeled item: 100 (item 1), then 50 (item 6: 50 from 0 and 100).
    picked, _ = select(2, discard_top=0.0, candidates=4)
    assert picked == [1, 6]
    with pytest.raises(ValueError, match=r"diverse_top: k=7 exceeds the 6 unlabeled"):
        select(7, discard_top=0.15)


def test_matches_brute_force_on_random_pools() -> None:
    rng = np.random.default_rng(2)
    features = rng.normal(size=(60, 3))
    scores = rng.normal(size=60)
    labeled = np.zeros(60, dtype=bool)
    labeled[[4, 19, 33]] = True
    acq = acquisition.get("diverse_top", discard_top=0.1, candidates=3)
    picked = acq.select(4, labeled=labeled, scores=scores, features=torch.from_numpy(features))
    # Brute force: ranking by a full sort, then greedy farthest-first by explicit distances.
    ranked = [i for i in np.argsort(-scores, kind="stable") if not labeled[i]]
    pool = ranked[5:17]  # floor(0.1 * 57) = 5 dropped, 3 x 4 = 12 kept
    centres = list(np.flatnonzero(labeled))
    expected = []
    for _ in range(4):
        nearest = {i: min(np.linalg.norm(features[i] - features[c]) for c in centres) for i in pool}
        far = max(pool, key=nearest.__getitem__)  # first maximum: the better rank wins ties
        expected.append(far)
        centres.append(far)
        pool.remove(far)
    assert picked.tolist() == expected


def test_scores_are_the_inner_scores_on_its_own_inputs(pool: dict) -> None:
    acq = acquisition.get("diverse_top", score={"name": "nnm", "window": 3})
    assert acq.needs == {"heatmaps", "features"}
    nnm = acquisition.get("nnm", window=3)
    expected = nnm.score(pool["heatmaps"])
    np.testing.assert_array_equal(acq.score_chunk(chunk_for(acq, pool)), expected)
    flip = acquisition.get("diverse_top", score="flip_consistency")
    assert flip.needs == {"landmarks", "flip_landmarks", "features"}
    expected = acquisition.get("flip_consistency").score_chunk(chunk_for(flip, pool))
    np.testing.assert_array_equal(flip.score_chunk(chunk_for(flip, pool)), expected)
    tta = acquisition.get("diverse_top", score={"name": "tta_variance", "samples": 4})
    assert tta.tta_samples == 4 and "tta_landmarks" in tta.needs


def test_params_round_trip_and_label() -> None:
    acq = acquisition.get(
        "diverse_top", score={"name": "nnm", "window": 7}, discard_top=0.1, candidates=5
    )
    params = json.loads(json.dumps(acq.params))
    assert params == {"score": {"name": "nnm", "window": 7}, "discard_top": 0.1, "candidates": 5}
    assert acquisition.get("diverse_top", **params).params == params
    defaults = acquisition.get("diverse_top", score="nnm").params
    assert defaults["score"] == {"name": "nnm", "window": 7}
    text = acquisition.label("diverse_top", params)
    assert text == "diverse_top(candidates=5,discard_top=0.1,score=nnm(window=7))"
    flat = acquisition.label("nnm", {"window": 7, "discard_top": 0.1})
    assert flat == "nnm(discard_top=0.1,window=7)"  # as AcquisitionConfig.label() writes it
    assert acquisition.label("random", {}) == "random"


def test_a_registered_plugin_can_be_the_inner_score(clean_registry, pool: dict) -> None:
    @acquisition.register("first_x")
    class FirstX(acquisition.ScoreAcquisition):
        """Test plugin: the x of the first predicted landmark."""

        needs = frozenset({"landmarks"})

        def compute_chunk_score(self, chunk):
            return torch.as_tensor(chunk.landmarks)[:, 0, 0]

    acq = acquisition.get("diverse_top", score="first_x", candidates=1)
    scores = acq.score_chunk(chunk_for(acq, pool))
    np.testing.assert_array_equal(scores, pool["landmarks"][:, 0, 0])
    picked = acq.select(3, labeled=pool["labeled"], scores=scores, features=pool["features"])
    top = [i for i in np.argsort(-scores, kind="stable") if not pool["labeled"][i]][:3]
    assert sorted(picked.tolist()) == sorted(top)


@pytest.mark.parametrize(
    ("params", "error", "match"),
    [
        ({"score": "random"}, TypeError, "must name a score-based acquisition; 'random'"),
        ({"score": {"window": 7}}, TypeError, "a table with a name"),
        ({"score": {"name": "nnm", "discard_top": 0.1}}, ValueError, "set diverse_top's own"),
        ({"score": "nmm"}, acquisition.AcquisitionRegistryError, "Did you mean 'nnm'"),
        ({"candidates": 0}, ValueError, "candidates must be an integer >= 1"),
        ({"candidates": 2.5}, ValueError, "candidates must be an integer >= 1"),
    ],
)
def test_bad_parameters(params: dict, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        acquisition.get("diverse_top", **params)


def test_needs_features_in_select() -> None:
    with pytest.raises(TypeError, match="diverse_top needs features"):
        acquisition.get("diverse_top").select(1, labeled=LABELED, scores=SCORES)
