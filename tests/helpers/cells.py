"""The one cell (CellConfig) factory of the tests: rows of result stores written by hand, and
cells small enough for the loop to run in seconds."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from trainers.config.cell import CellConfig, DataConfig


def make_cell(acq: str = "random", seed: int = 0, params: dict | None = None, *,
              data: DataConfig | None = None, sizes: tuple[int, ...] = (10, 20),
              arch: str = "scaf", runnable: bool = False) -> CellConfig:
    """A cell of `arch` with acquisition `acq` (with `params`), `seed`, budget `sizes`.

    Args:
        data: the data set; by default the synthetic one with its default sizes, or with
            `runnable`, 30 synthetic pool images and 8 test images.
        runnable: small enough for the loop to run it in seconds (64 px, width 0.25,
            3 pretraining steps and 2 training steps per round). Without it the model and
            trainer settings are CellConfig's defaults: the cell only names the rows of a
            result store written by hand through the real writer.
    """
    from trainers.config.cell import (
        AcquisitionConfig,
        BudgetSchedule,
        CellConfig,
        DataConfig,
        ModelSettings,
    )
    from trainers.training.supervised import TrainerConfig

    acquisition = AcquisitionConfig(acq, params or {})
    if not runnable:
        return CellConfig(arch=arch, data=data or DataConfig(), seed=seed,
                          acquisition=acquisition, budget=BudgetSchedule(sizes))
    return CellConfig(
        arch=arch,
        data=data or DataConfig(options={"n_pool": 30, "n_test": 8}),
        model=ModelSettings(input_size=64, width=0.25, pretrain={"steps": 3, "batch_size": 8}),
        trainer=TrainerConfig(steps=2, batch_size=4),
        acquisition=acquisition,
        budget=BudgetSchedule(sizes),
        seed=seed,
    )
