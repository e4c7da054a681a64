"""Checks of a spec that need more than its own values: the data set's options and the
budgets against the pool size (both from the data-set registry)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from orchestrator.spec.tables import SpecError
from trainers.config.cell import BudgetSchedule, DataConfig
from trainers.config.typed import check_keys, convert, from_table
from trainers.datasets import get_dataset


def check_data_options(data: DataConfig, input_size: int) -> None:
    """Every `data.options` key must be an option of the data set's loader, of its type
    (options given by a dataclass, as synthetic faces: also in their range)."""
    info = get_dataset(data.name)
    types = info.option_types()
    if types is None:
        return
    check_keys(data.options, sorted(types), "data.options")
    for key, value in data.options.items():
        try:
            convert(value, types[key], f"data.options.{key}")
        except TypeError:
            continue  # a type the config parser does not know (a Path, a Sequence): the
            # loader checks it
    if dataclasses.is_dataclass(info.options_from):
        sized = {f.name for f in dataclasses.fields(info.options_from)}
        extra = {"input_size": input_size} if "input_size" in sized else {}
        from_table(info.options_from, data.options, "data.options", **extra)


def known_pool_size(data: DataConfig) -> int | None:
    """The pool size the spec alone implies (None when only loading the data tells)."""
    pool = get_dataset(data.name).split_size(data.pool_split, data.options)
    if data.pool_size:
        pool = min(pool, data.pool_size) if pool else data.pool_size
    return pool


def check_budgets_fit(budgets: Sequence[BudgetSchedule], pool: int) -> None:
    """Every budget's final size must fit a pool of `pool` images.

    That also bounds every round's K by the unlabeled pool: K <= final - L0 (checked by
    the budget table) <= pool - L0.

    Raises:
        SpecError: `budgets[i]: final size 20 is larger than the pool (18 images)`.
    """
    for i, b in enumerate(budgets):
        if b.final > pool:
            raise SpecError(
                f"budgets[{i}]", f"final size {b.final} is larger than the pool ({pool} images)"
            )
