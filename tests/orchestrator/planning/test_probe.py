"""`scaf-al plan --probe`: the GPU-share rule on hand-computed cases, and a real tiny probe."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from orchestrator.planning.grid_plan import COUNT_KEYS, plan_grid, plan_json, plan_text
from orchestrator.planning.probe import ESTIMATE_KEYS, choose_gpu_fraction, probe_plan

GiB = 2**30


# Shares are 1/n rounded down to Ray's 0.0001 units (1/3 -> 0.3333, 1/6 -> 0.1666).
@pytest.mark.parametrize(("peak", "total", "margin", "max_trials", "want"), [
    (18 * GiB, 80 * GiB, 0.10, 16, 0.25),    # 72 GiB usable / 18 = 4
    (19 * GiB, 80 * GiB, 0.10, 16, 0.3333),  # 72 / 19 = 3.79 -> 3
    (7_200_000_000, 80_000_000_000, 0.10, 16, 0.1),  # exactly 10: the boundary fits
    (11 * GiB, 80 * GiB, 0.15, 16, 0.1666),  # 68 / 11 = 6.18 -> 6
    (50 * GiB, 80 * GiB, 0.15, 16, 1.0),     # 68 / 50 -> alone on the GPU
    (1 * GiB, 80 * GiB, 0.15, 16, 0.0625),   # 68 would fit: capped at max_trials
    (10 * GiB, 80 * GiB, 0.0, 4, 0.25),      # 8 would fit: capped at 4
    (7 * GiB, 80 * GiB, 0.0, 16, 0.0909),    # 11.4 -> 11: 1/11 = 0.090909...
])
def test_gpu_fraction_hand_computed(
    peak: int, total: int, margin: float, max_trials: int, want: float
) -> None:
    assert choose_gpu_fraction(peak, total, margin, max_trials=max_trials) == want


@pytest.mark.parametrize("trials", range(1, 17))
def test_shares_never_add_up_to_more_than_one_gpu_in_rays_units(trials: int) -> None:
    share = choose_gpu_fraction(GiB, trials * GiB, 0.0, max_trials=trials)
    units = round(share * 10_000)
    assert share == units / 10_000  # a whole number of Ray's units
    assert trials * units <= 10_000 < trials * (units + 1)  # the largest such share


def test_gpu_fraction_rejects_a_trial_that_does_not_fit_and_bad_arguments() -> None:
    with pytest.raises(ValueError, match=r"needs 70\.00 GiB, more than the 68\.00 GiB"):
        choose_gpu_fraction(70 * GiB, 80 * GiB, 0.15)
    with pytest.raises(ValueError, match="margin must be in"):
        choose_gpu_fraction(GiB, 80 * GiB, 1.0)
    with pytest.raises(ValueError, match="must be > 0"):
        choose_gpu_fraction(0, 80 * GiB)


def test_tiny_probe_measures_and_estimates(tiny_spec: Callable[..., Any]) -> None:
    spec = tiny_spec(acquisitions=[{"name": "random"}, {"name": "nnm"},
                                   {"name": "tta_variance", "samples": 2}])
    plan = plan_grid(spec)
    probe_plan(plan, spec, device="cpu", steps=2, score_images=8)
    got = plan_json(plan)
    assert list(got) == [*COUNT_KEYS, "per_config", *ESTIMATE_KEYS]
    [rec] = got["per_config"]
    assert (rec["arch"], rec["input_size"], rec["width"], rec["batch_size"]) == (
        "scaf", 64, 0.25, 4)
    assert rec["device"] == "cpu" and rec["memory_measure"] == "cpu_peak_rss"
    assert rec["seconds_per_step"] > 0 and rec["score_images_per_s"] > 0
    # Every acquisition that streams the pool had its own pass measured (random has none).
    passes = rec["pool_pass_images_per_s"]
    assert sorted(passes) == ["nnm", "tta_variance(samples=2)"]
    assert all(rate > 0 for rate in passes.values())
    # The probe's own process grew while building and training the model.
    assert rec["peak_memory_bytes"] > rec["rss_before_bytes"] > 0
    # A trial also holds its 40 pool + 12 test crops of 91 x 91 x 3 bytes (64 px input).
    assert rec["trial_bytes"] - rec["peak_memory_bytes"] == (40 + 12) * 91 * 91 * 3
    # Counts (3 cells: 9 trial-rounds, 7 trainings of 3 steps; nnm and tta stream 30 + 28
    # pool images each; 9 x 12 test images) times the measured rates, the pool passes at
    # the slowest acquisition's.
    want = (7 * 3 * rec["seconds_per_step"] + 2 * 58 / min(passes.values())
            + 9 * 12 / rec["score_images_per_s"]) / 3600
    assert got["device_hours"] == pytest.approx(want)
    assert got["gpu_fraction"] is None and got["trials_per_device"] >= 1
    assert "trials fit one node" in plan_text(plan)


def test_auto_fraction_needs_a_gpu(tiny_spec: Callable[..., Any]) -> None:
    from orchestrator.planning.probe import auto_gpu_fraction

    with pytest.raises(ValueError, match="needs a CUDA device"):
        auto_gpu_fraction(tiny_spec(), device="cpu")
