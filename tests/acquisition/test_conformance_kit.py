"""The conformance kit catches deliberately broken plugins and passes well-behaved ones."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import acquisition
from acquisition.testing import check_acquisition, parse_params, parse_value, run_check


def failed(report) -> dict[str, str]:
    """Failed check name -> what it got."""
    return {check.name: check.got for check in report.failures}


class _FirstK(acquisition.SetAcquisition):
    def select_from(self, k, labeled, features, rng):
        return np.flatnonzero(~labeled)[:k], np.full(k, np.nan)


def register(name: str):
    """Register a test class under ``name`` (the clean_registry fixture undoes it)."""
    return acquisition.register(name)


def test_wrong_count_is_caught(clean_registry) -> None:
    @register("wrong_count")
    class WrongCount(acquisition.SetAcquisition):
        """Broken: one item short."""

        def select_from(self, k, labeled, features, rng):
            return np.flatnonzero(~labeled)[: k - 1], np.full(k - 1, np.nan)

    report = check_acquisition("wrong_count")
    assert not report.ok
    assert "returned 0 indices for k=1" in failed(report)["selection"]
    assert "expected: k distinct int64 unlabeled pool indices" in report.format()


def test_labeled_index_is_caught(clean_registry) -> None:
    @register("picks_labeled")
    class PicksLabeled(acquisition.SetAcquisition):
        """Broken: always picks the first labeled item."""

        def select_from(self, k, labeled, features, rng):
            first_labeled = int(np.flatnonzero(labeled)[0])
            rest = [i for i in np.flatnonzero(~labeled) if i != first_labeled][: k - 1]
            return np.array([first_labeled, *rest]), np.full(k, np.nan)

    assert "returned labeled indices" in failed(check_acquisition("picks_labeled"))["selection"]


def test_nondeterminism_is_caught(clean_registry) -> None:
    @register("unseeded")
    class Unseeded(acquisition.SetAcquisition):
        """Broken: ignores the rng it is given."""

        def select_from(self, k, labeled, features, rng):
            picked = np.random.default_rng().choice(np.flatnonzero(~labeled), k, replace=False)
            return picked, np.full(k, np.nan)

    report = check_acquisition("unseeded")
    assert set(failed(report)) == {"determinism", "round_trip"}
    assert failed(report)["determinism"].startswith("selections differ")


def test_chunk_dependent_score_is_caught(clean_registry) -> None:
    @register("chunk_relative")
    class ChunkRelative(acquisition.ScoreAcquisition):
        """Broken: scores relative to the chunk's mean peak."""

        def compute_score(self, heatmaps):
            peaks = heatmaps.amax(dim=(2, 3)).mean(dim=1)
            return peaks - peaks.mean()

    report = check_acquisition("chunk_relative")
    assert set(failed(report)) == {"chunking", "nan_inputs"}
    assert "chunks split at [1, 8, 9, 23]" in failed(report)["chunking"]
    # One NaN item poisons the chunk's mean, so every other item's score changes too.
    assert failed(report)["nan_inputs"] == "other items' scores changed"


def test_undeclared_need_is_caught(clean_registry) -> None:
    @register("sneaky")
    class Sneaky(acquisition.ScoreAcquisition):
        """Broken: declares heatmaps but also reads the landmarks."""

        def compute_chunk_score(self, chunk):
            peaks = torch.as_tensor(chunk.heatmaps).amax(dim=(2, 3)).mean(dim=1)
            return peaks + torch.as_tensor(chunk.landmarks)[:, 0, 0]

    report = check_acquisition("sneaky")
    assert "undeclared: ['landmarks']" in failed(report)["reads"]
    with pytest.raises(acquisition.MissingInputError, match="without declaring it in needs"):
        acquisition.get("sneaky").score(np.ones((2, 1, 4, 4)))


def test_silently_finite_nan_and_broken_params_are_caught(clean_registry) -> None:
    @register("nan_hider")
    class NanHider(acquisition.ScoreAcquisition):
        """Broken: turns NaN heatmaps into finite scores, and stores window doubled."""

        def __init__(self, *, window: int = 3, discard_top: float = 0.0) -> None:
            super().__init__(discard_top=discard_top)
            self.window = 2 * window

        def compute_score(self, heatmaps):
            return torch.nan_to_num(heatmaps).amax(dim=(2, 3)).mean(dim=1)

    report = check_acquisition("nan_hider")
    assert set(failed(report)) == {"nan_inputs", "round_trip"}
    assert failed(report)["nan_inputs"].startswith("finite score")
    assert "differs in ['params']" in failed(report)["round_trip"]


def test_unregistered_class_fails_only_the_round_trip() -> None:
    class Unregistered(_FirstK):
        """Fine, but not registered: acquisition.get cannot rebuild it from a result row."""

    report = check_acquisition(Unregistered)
    assert set(failed(report)) == {"round_trip"}
    assert "unknown acquisition ''" in failed(report)["round_trip"]


def test_good_plugin_on_labeled_features_passes(clean_registry) -> None:
    @register("far_from_labeled")
    class FarFromLabeled(acquisition.ScoreAcquisition):
        """Distance of each item's features to the nearest labeled item's."""

        needs = frozenset({"features", "labeled_features"})

        def compute_chunk_score(self, chunk):
            items = torch.as_tensor(chunk.features, dtype=torch.float64)
            centres = torch.as_tensor(chunk.labeled_features, dtype=torch.float64)
            return torch.cdist(items, centres).amin(dim=1)

    report = check_acquisition("far_from_labeled")
    assert report.ok, report.format()
    assert set(report.cost_us_per_item) == {"score", "select"}
    assert "PASS  reads: read ['features', 'labeled_features']" in report.format()


def test_build_failure_is_one_failed_check() -> None:
    report = check_acquisition("nnm", window=4)
    assert [c.name for c in report.checks] == ["build"] and not report.ok
    assert "odd integer" in report.checks[0].got


def test_run_check_text_and_status() -> None:
    text, ok = run_check("diverse_top", {"score": {"name": "nnm", "window": 5}, "candidates": 3})
    assert ok and text.splitlines()[0] == (
        "conformance of diverse_top(candidates=3,score=nnm(window=5))"
    )
    assert text.endswith("8 passed, 0 failed") and "us/item" in text
    text, ok = run_check("nmm", {})
    assert not ok and "FAIL  build" in text and "Did you mean 'nnm'" in text


def test_parse_params_follows_toml_then_json_literals() -> None:
    pairs = [
        "window=7", "discard_top=0.1", "flag=true", "name=\"x y\"", "score=nnm",
        'score2={ name = "nnm", window = 7 }', 'score3={"name": "nnm", "window": 5}',
    ]  # fmt: skip
    assert parse_params(pairs) == {
        "window": 7, "discard_top": 0.1, "flag": True, "name": "x y", "score": "nnm",
        "score2": {"name": "nnm", "window": 7}, "score3": {"name": "nnm", "window": 5},
    }  # fmt: skip
    with pytest.raises(ValueError, match="expected key=value"):
        parse_params(["window"])
    with pytest.raises(ValueError, match="cannot read 'a b'"):
        parse_value("a b")
