"""Checks of a spec that need more than its own values: the data set's options, the
budgets against the pool size, and the paths the spec names."""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable, Sequence
from dataclasses import fields
from typing import Any

from orchestrator.spec.tables import SpecError
from trainers.config.cell import BudgetSchedule, DataConfig
from trainers.config.typed import check_keys, convert, from_table

# Official training-split sizes, to reject impossible budgets before any work starts.
KNOWN_POOL_SIZES = {("300w", "train"): 3148, ("wflw", "train"): 7500}
DEFAULT_SYNTHETIC_POOL = 600  # SyntheticConfig's n_pool default


def data_option_types(name: str) -> dict[str, Any] | None:
    """{option: type hint} of the data set's loader (None: it takes any keyword)."""
    if name == "synthetic":
        from trainers.datasets.builtin.synthetic import SyntheticConfig

        hints = typing.get_type_hints(SyntheticConfig)
        return {f.name: hints[f.name] for f in fields(SyntheticConfig) if f.name != "input_size"}
    from trainers.datasets.builtin.folder import open_folder
    from trainers.datasets.builtin.w300 import open_300w
    from trainers.datasets.builtin.wflw import open_wflw

    loaders: dict[str, Callable[..., object]] = {
        "300w": open_300w, "wflw": open_wflw, "folder": open_folder}
    loader = loaders[name]
    params = inspect.signature(loader).parameters.values()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return None
    hints = typing.get_type_hints(loader)
    return {p.name: hints.get(p.name, Any) for p in params
            if p.name not in ("root", "split", "strict")}


def check_data_options(data: DataConfig, input_size: int) -> None:
    """Every `data.options` key must be an option of the data set's loader, of its type
    (synthetic options: also in their range)."""
    types = data_option_types(data.name)
    if types is None:
        return
    check_keys(data.options, sorted(types), "data.options")
    for key, value in data.options.items():
        try:
            convert(value, types[key], f"data.options.{key}")
        except TypeError:
            continue  # a type the config parser does not know (a Path, a Sequence): the
            # loader checks it
    if data.name == "synthetic":
        from trainers.datasets.builtin.synthetic import SyntheticConfig

        from_table(SyntheticConfig, data.options, "data.options", input_size=input_size)


def known_pool_size(data: DataConfig) -> int | None:
    """The pool size the spec alone implies (None when only loading the data tells)."""
    if data.name == "synthetic":
        pool: int | None = int(data.options.get("n_pool", DEFAULT_SYNTHETIC_POOL))
    else:
        pool = KNOWN_POOL_SIZES.get((data.name, data.train_split or ""))
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
