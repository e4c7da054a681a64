"""Cells (CellConfig) for the tests: rows of hand-written result stores, and cells small
enough for the loop to run."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from trainers.config.cell import CellConfig, DataConfig


def make_cell(acq: str = "random", seed: int = 0, params: dict | None = None,
              data: DataConfig | None = None, sizes: tuple[int, ...] = (10, 20),
              arch: str = "scaf") -> CellConfig:
    """A cell of `arch` with acquisition `acq`, budget `sizes` and `data` (synthetic by
    default), for result stores written by hand through the real writer."""
    from trainers.config.cell import AcquisitionConfig, BudgetSchedule, CellConfig, DataConfig

    return CellConfig(arch=arch, data=data or DataConfig(), seed=seed,
                      acquisition=AcquisitionConfig(acq, params or {}),
                      budget=BudgetSchedule(sizes))


def store_cell(seed: int = 0) -> Any:
    """A random-acquisition cell with sizes 10, 12, 14 (for result-store tests)."""
    from trainers.config.cell import AcquisitionConfig, BudgetSchedule, CellConfig

    return CellConfig(arch="scaf", acquisition=AcquisitionConfig("random"),
                      budget=BudgetSchedule((10, 12, 14)), seed=seed)


def tiny_cell(acq: str = "nnm", **params: object) -> CellConfig:
    """A cell small enough for the loop to run in seconds (64 px, 30 pool images)."""
    from trainers.config.cell import (
        AcquisitionConfig,
        BudgetSchedule,
        CellConfig,
        DataConfig,
        ModelSettings,
    )
    from trainers.training.supervised import TrainerConfig

    return CellConfig(
        arch="scaf",
        data=DataConfig(options={"n_pool": 30, "n_test": 8}),
        model=ModelSettings(input_size=64, width=0.25, pretrain={"steps": 3, "batch_size": 8}),
        trainer=TrainerConfig(steps=2, batch_size=4),
        acquisition=AcquisitionConfig(acq, dict(params)),
        budget=BudgetSchedule((10, 13, 16)),
        seed=5,
    )
