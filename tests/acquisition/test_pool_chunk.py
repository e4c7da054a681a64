"""PoolChunk holds only the declared inputs and refuses inconsistent ones; needs are checked."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import acquisition
from acquisition import MissingInputError, PoolChunk


def test_holds_only_what_was_given() -> None:
    landmarks = np.zeros((3, 5, 2), dtype=np.float32)
    chunk = PoolChunk(norm=np.ones(3), landmarks=landmarks, heatmaps=None)
    assert chunk.n == 3 and set(chunk) == {"norm", "landmarks"} and len(chunk) == 2
    assert chunk.landmarks is landmarks and chunk["landmarks"] is landmarks  # no copy
    assert "heatmaps" not in chunk and chunk.get("heatmaps") is None
    assert not hasattr(chunk, "flip_landmarks")
    with pytest.raises(MissingInputError, match=r"no 'features'; it holds \['landmarks', 'norm'\]"):
        _ = chunk.features
    with pytest.raises(KeyError):
        chunk["features"]
    with pytest.raises(AttributeError, match="read-only"):
        chunk.landmarks = landmarks


def test_restrict_keeps_norm_and_the_named_inputs() -> None:
    chunk = PoolChunk(
        norm=np.ones(2), landmarks=np.zeros((2, 1, 2)), features=np.zeros((2, 4)),
        labeled_features=np.zeros((7, 4)),
    )  # fmt: skip
    inner = chunk.restrict({"landmarks", "labeled_features", "tta_landmarks"})
    assert set(inner) == {"norm", "landmarks", "labeled_features"} and inner.n == 2


@pytest.mark.parametrize(
    ("inputs", "match"),
    [
        ({"landmark": np.zeros((2, 1, 2))}, r"unknown input\(s\) \['landmark'\]"),
        ({"landmarks": np.zeros((2, 2))}, r"'landmarks' must have shape \(n, L, 2\)"),
        ({"tta_landmarks": np.zeros((2, 3, 2))}, r"\(n, T, L, 2\)"),
        ({"landmarks": np.zeros((2, 1, 2)), "features": np.zeros((3, 4))}, "disagree on"),
        (
            {"landmarks": np.zeros((2, 3, 2)), "flip_landmarks": np.zeros((2, 4, 2))},
            r"'flip_landmarks' has shape \(2, 4, 2\); it must match 'landmarks' \(2, 3, 2\)",
        ),
        ({"labeled_features": np.zeros((5, 3))}, "needs norm or at least one per-item"),
        ({"landmarks": [[[0.0, 0.0]]]}, "numpy array or torch tensor; got list"),
    ],
)
def test_inconsistent_inputs_are_refused(inputs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        PoolChunk(**inputs)


def test_labeled_inputs_do_not_count_as_items() -> None:
    chunk = PoolChunk(norm=torch.ones(4), labeled_landmarks=torch.zeros(9, 3, 2))
    assert chunk.n == 4


def test_heatmap_plugins_score_chunks_unchanged() -> None:
    rng = np.random.default_rng(0)
    heatmaps = rng.random((6, 3, 8, 8)).astype(np.float32)
    nnm = acquisition.get("nnm")
    chunk = PoolChunk(norm=np.ones(6), heatmaps=heatmaps)
    np.testing.assert_array_equal(nnm.score_chunk(chunk), nnm.score(heatmaps))
    with pytest.raises(TypeError, match="takes an acquisition.PoolChunk; got ndarray"):
        nnm.score_chunk(heatmaps)
    with pytest.raises(TypeError, match="not score-based"):
        acquisition.get("random").score_chunk(chunk)


def test_registration_checks_the_new_needs(clean_registry) -> None:
    class SetOnLandmarks(acquisition.SetAcquisition):
        """Set acquisitions get features only."""

        needs = frozenset({"landmarks"})

        def select_from(self, k, labeled, features, rng):
            return np.flatnonzero(~labeled)[:k], np.full(k, np.nan)

    with pytest.raises(TypeError, match=r"features only; it cannot need \['landmarks'\]"):
        acquisition.register("set_on_landmarks")(SetOnLandmarks)

    @acquisition.register("tta_without_samples")
    class TTAWithoutSamples(acquisition.ScoreAcquisition):
        """Needs TTA but never says how many."""

        needs = frozenset({"tta_landmarks"})

        def compute_chunk_score(self, chunk):
            return np.zeros(chunk.n)

    with pytest.raises(TypeError, match="tta_samples must be an int >= 1; got 0"):
        acquisition.get("tta_without_samples")
    assert {
        "heatmaps", "features", "landmarks", "flip_heatmaps", "flip_landmarks",
        "tta_landmarks", "labeled_features", "labeled_landmarks",
    } == acquisition.NEEDS  # fmt: skip
