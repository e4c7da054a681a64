"""The active-learning loop on 300-W and WFLW trees in their exact download formats."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from tests.helpers.datasets_on_disk import build_300w, build_wflw
from trainers.config.cell import (
    AcquisitionConfig,
    BudgetSchedule,
    CellConfig,
    DataConfig,
    ModelSettings,
)
from trainers.loop.cell_loop import RoundResult, run_cell
from trainers.training.supervised import TrainerConfig


def _run(data: DataConfig, cache: Path, acq: str = "nnm", **params: object) -> list[RoundResult]:
    cell = CellConfig(
        arch="3fabrec", data=data,
        model=ModelSettings(input_size=64, width=0.25, pretrain={"steps": 2, "batch_size": 4}),
        trainer=TrainerConfig(steps=2, batch_size=4),
        acquisition=AcquisitionConfig(acq, dict(params)),
        budget=BudgetSchedule((10, 12)), seed=0,
    )
    out: list[RoundResult] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # miniature trees do not have the official counts
        run_cell(cell, cache_dir=cache, report=lambda r, _s: out.append(r), device="cpu")
    return out


def test_loop_runs_on_300w(tmp_path: Path) -> None:
    counts = {"afw": 6, "helen/trainset": 4, "lfpw/trainset": 4,
              "helen/testset": 2, "lfpw/testset": 1, "ibug": 2}
    build_300w(tmp_path / "300W", counts)
    data = DataConfig(name="300w", root=str(tmp_path / "300W"))
    res = _run(data, tmp_path / "cache", window=3)
    assert [r.n_labeled for r in res] == [10, 12]
    assert set(res[0].metrics) == {"common", "challenging", "full"}
    for m in res[0].metrics.values():
        assert np.isfinite(m["nme"]) and m["nme"] > 0
    assert len(res[0].selected) == 2 and max(res[0].selected) < 14
    assert len(res[0].selected_predictions[0]) == 68 * 2
    # "full" is common + challenging, per image.
    full = res[0].metrics["full"]["nme"]
    parts = [res[0].metrics[s]["nme"] for s in ("common", "challenging")]
    assert full == pytest.approx((parts[0] * 3 + parts[1] * 2) / 5)


def test_loop_runs_on_wflw_subsets(tmp_path: Path) -> None:
    build_wflw(tmp_path / "WFLW", n_train=12, n_test=6)
    data = DataConfig(name="wflw", root=str(tmp_path / "WFLW"),
                      test_splits=("test", "pose", "blur"))
    res = _run(data, tmp_path / "cache", acq="kcenter_greedy")
    assert set(res[0].metrics) == {"test", "pose", "blur"}
    assert len(res[0].selected) == 2
    assert res[1].labeled == res[0].labeled + res[0].selected
