"""The loop's pool pass feeds each acquisition what it declares; chunking changes nothing."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import acquisition
from tests.helpers.faces import blocky_crops
from trainers.loop.cell_loop import score_pool
from trainers.loop.pool_inputs import PassSettings
from trainers.models import build_model

S = 64


POOL = blocky_crops()


@pytest.fixture(scope="module")
def model() -> torch.nn.Module:
    torch.manual_seed(3)
    return build_model("scaf", num_landmarks=2, input_size=S, width=0.25)


def pool_pass(model: torch.nn.Module, acq: acquisition.Acquisition, batch_size: int,
              mask: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    settings = PassSettings(needs=frozenset(acq.needs), batch_size=batch_size,
                            device=torch.device("cpu"), amp=False,
                            tta_samples=acq.tta_samples, augment_level=4, seed=11,
                            round_index=1)
    scored = score_pool(model, POOL, mask, acq, settings)
    return scored.scores, scored.features


MASK = np.array([True, False, False, True, False, False])


@pytest.mark.parametrize("name,params", [
    ("flip_consistency", {}),
    ("tta_variance", {"samples": 3}),
    ("diverse_top", {"score": {"name": "tta_variance", "samples": 2}, "candidates": 2}),
])
def test_new_scores_do_not_depend_on_the_chunk_size(model: torch.nn.Module, name: str,
                                                    params: dict) -> None:
    acq = acquisition.get(name, **params)
    runs = [pool_pass(model, acq, batch_size, MASK) for batch_size in (len(MASK), 2)]
    (whole, _), (chunked, _) = runs
    unlabeled = ~MASK
    assert np.all(np.isfinite(whole[unlabeled])) and np.all(whole[unlabeled] > 0)
    np.testing.assert_allclose(chunked[unlabeled], whole[unlabeled], rtol=1e-5)
    picks = [acq.select(2, labeled=MASK, scores=s, features=f, rng=np.random.default_rng(0))
             for s, f in runs]
    assert picks[0].tolist() == picks[1].tolist()


def test_diverse_top_over_nnm_scores_the_pool_as_nnm_does(model: torch.nn.Module) -> None:
    composed = acquisition.get("diverse_top", score={"name": "nnm", "window": 3})
    nnm = acquisition.get("nnm", window=3)
    scores, features = pool_pass(model, composed, 4, MASK)
    reference, none = pool_pass(model, nnm, 4, MASK)
    assert none is None and features is not None and features.shape[0] == len(MASK)
    # diverse_top streams the whole pool (it needs features); NNM only the unlabeled part.
    np.testing.assert_allclose(scores[~MASK], reference[~MASK], rtol=1e-5)  # other batches
    assert np.all(reference[MASK] == 0.0)


class NearestLabeled(acquisition.ScoreAcquisition):
    """Distance in feature space to the nearest labeled item (a plugin-style score)."""

    needs = frozenset({"features", "labeled_features"})

    def compute_chunk_score(self, chunk: acquisition.PoolChunk) -> torch.Tensor:
        items = torch.as_tensor(chunk.features, dtype=torch.float64)
        centres = torch.as_tensor(chunk.labeled_features, dtype=torch.float64)
        return torch.cdist(items, centres).min(dim=1).values


def test_labeled_features_reach_the_score_in_pool_order(model: torch.nn.Module) -> None:
    scores, features = pool_pass(model, NearestLabeled(), 4, MASK)
    assert features is not None
    # Independently: the pool pass's own features, nearest labeled row by brute force.
    labeled_rows = features[MASK].astype(np.float64)
    expected = [min(np.linalg.norm(f - c) for c in labeled_rows) for f in features]
    np.testing.assert_allclose(scores, expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(scores[MASK], 0.0, atol=1e-5)  # a labeled item is its own centre
    assert np.all(scores[~MASK] > 1e-3)


def test_the_loop_keys_tta_draws_by_seed_and_round() -> None:
    from tests.helpers.cells import make_cell

    cell = make_cell("tta_variance", 5, {"samples": 3}, sizes=(10, 13, 16), runnable=True)
    acq = acquisition.get("tta_variance", samples=3)
    at_13 = PassSettings.of(cell, acq, 13, torch.device("cpu"))
    assert (at_13.seed, at_13.round_index, at_13.tta_samples) == (5, 1, 3)
    assert at_13.needs == {"tta_landmarks"}
    assert PassSettings.of(cell, acq, 11, torch.device("cpu")).round_index == 11
