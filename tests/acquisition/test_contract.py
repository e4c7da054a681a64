"""Contract tests run over every registered acquisition (built-ins and installed plugins)."""

from __future__ import annotations

import json
from itertools import pairwise

import numpy as np
import pytest
import torch

import acquisition
from acquisition.testing import check_acquisition
from tests.helpers.acquisition_inputs import chunk_for, inputs_for

NAMES = acquisition.list_acquisitions()
SCORE_NAMES = [name for name in NAMES if "heatmaps" in acquisition.get(name).needs]
CHUNK_NAMES = [name for name in NAMES if acquisition.get(name).is_score_based]


def test_builtins_are_registered() -> None:
    expected = {"random", "nnm", "entropy", "kcenter_greedy"}
    expected |= {"flip_consistency", "tta_variance", "diverse_top"}
    assert expected <= set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_passes_the_conformance_kit(name: str) -> None:
    report = check_acquisition(name)
    assert report.ok, report.format()
    assert len(report.checks) == 8 and report.cost_us_per_item["select"] > 0


@pytest.mark.parametrize("name", CHUNK_NAMES)
def test_score_chunk_shape_finite_and_chunk_invariant(name: str, pool: dict) -> None:
    acq = acquisition.get(name)
    whole = acq.score_chunk(chunk_for(acq, pool))
    assert whole.shape == (40,) and whole.dtype == np.float64 and np.isfinite(whole).all()
    bounds = [0, 1, 8, 9, 23, 40]
    parts = [acq.score_chunk(chunk_for(acq, pool, slice(a, b))) for a, b in pairwise(bounds)]
    np.testing.assert_array_equal(np.concatenate(parts), whole)
    assert acq.score_chunk(chunk_for(acq, pool, slice(0, 0))).shape == (0,)


@pytest.mark.parametrize("name", NAMES)
def test_description_needs_and_params(name: str) -> None:
    acq = acquisition.get(name)
    assert acq.name == name
    assert acquisition.available()[name] == type(acq).description() != ""
    assert "\n" not in acquisition.available()[name]
    assert isinstance(acq.needs, frozenset) and acq.needs <= acquisition.NEEDS
    params = json.loads(json.dumps(acq.params))
    assert acquisition.get(name, **params).params == acq.params


@pytest.mark.parametrize("name", SCORE_NAMES)
def test_score_shape_finite_and_chunk_invariant(name: str, pool: dict) -> None:
    acq = acquisition.get(name)
    heatmaps = pool["heatmaps"]
    whole = acq.score(heatmaps)
    assert whole.shape == (heatmaps.shape[0],) and whole.dtype == np.float64
    assert np.isfinite(whole).all()
    bounds = [0, 1, 8, 9, 23, heatmaps.shape[0]]
    chunked = np.concatenate([acq.score(heatmaps[a:b]) for a, b in pairwise(bounds)])
    np.testing.assert_array_equal(chunked, whole)
    np.testing.assert_array_equal(acq.score(torch.from_numpy(heatmaps)), whole)
    assert acq.score(heatmaps[:0]).shape == (0,)


@pytest.mark.parametrize("name", SCORE_NAMES)
def test_score_float64_matches_float32(name: str, pool: dict) -> None:
    acq = acquisition.get(name)
    np.testing.assert_allclose(
        acq.score(pool["heatmaps"]), acq.score(pool["heatmaps"].astype(np.float64)), rtol=1e-5
    )


@pytest.mark.parametrize("k", [1, 5, 34])
@pytest.mark.parametrize("name", NAMES)
def test_select_contract(name: str, k: int, pool: dict) -> None:
    acq = acquisition.get(name)
    picked = acq.select(k, rng=np.random.default_rng(7), **inputs_for(acq, pool))
    assert picked.shape == (k,) and picked.dtype == np.int64
    assert np.unique(picked).size == k
    assert ((picked >= 0) & (picked < pool["labeled"].size)).all()
    assert not pool["labeled"][picked].any()
    record = acq.last_selection
    assert set(record) == {"pool_index", "score", "rank"}
    np.testing.assert_array_equal(record["pool_index"], picked)
    np.testing.assert_array_equal(record["rank"], np.arange(k))
    assert record["score"].shape == (k,) and record["score"].dtype == np.float64


@pytest.mark.parametrize("name", NAMES)
def test_select_deterministic_from_seed(name: str, pool: dict) -> None:
    first = acquisition.get(name)
    second = acquisition.get(name)
    a = first.select(10, rng=np.random.default_rng(3), **inputs_for(first, pool))
    b = second.select(10, rng=np.random.default_rng(3), **inputs_for(second, pool))
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(first.last_selection["score"], second.last_selection["score"])


@pytest.mark.parametrize("name", NAMES)
def test_select_never_returns_labeled_over_rounds(name: str, pool: dict) -> None:
    """Several rounds that add more than one item each, until the pool is exhausted."""
    acq = acquisition.get(name)
    rng = np.random.default_rng(11)
    labeled = pool["labeled"].copy()
    while (~labeled).sum() > 0:
        k = min(7, int((~labeled).sum()))
        picked = acq.select(k, rng=rng, **inputs_for(acq, {**pool, "labeled": labeled}))
        assert not labeled[picked].any() and np.unique(picked).size == k
        labeled[picked] = True


@pytest.mark.parametrize("name", SCORE_NAMES)
def test_chunk_invariant_when_blocks_straddle_images(name: str) -> None:
    """64 x 64 maps: CPU kernels work in blocks of maps that do not align with images."""
    rng = np.random.default_rng(21)
    heatmaps = rng.normal(0.05, 0.1, size=(6, 7, 64, 64)).astype(np.float32)
    acq = acquisition.get(name)
    whole = acq.score(heatmaps)
    chunked = np.concatenate([acq.score(heatmaps[i : i + 1]) for i in range(6)])
    np.testing.assert_array_equal(chunked, whole)


@pytest.mark.parametrize("name", SCORE_NAMES)
def test_score_accepts_views_and_grad_tensors(name: str, pool: dict) -> None:
    acq = acquisition.get(name)
    expected = acq.score(pool["heatmaps"])
    flipped = np.ascontiguousarray(pool["heatmaps"][::-1])[::-1]  # negative strides
    np.testing.assert_array_equal(acq.score(flipped), expected)
    readonly = pool["heatmaps"].copy()
    readonly.flags.writeable = False
    np.testing.assert_array_equal(acq.score(readonly), expected)
    tensor = torch.from_numpy(pool["heatmaps"].copy()).requires_grad_()
    np.testing.assert_array_equal(acq.score(tensor), expected)
