"""Checks of a spec that need more than its own values: the data set's options, the
budgets against the pool size, and the paths the spec names."""

from __future__ import annotations

import inspect
import typing
from collections.abc import Sequence
from dataclasses import fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchestrator.spec_tables import SpecError
from trainers.cell import BudgetSchedule, DataConfig
from trainers.typed_config import check_keys, convert, from_table

if TYPE_CHECKING:
    from orchestrator.spec import ExperimentSpec

# Official training-split sizes, to reject impossible budgets before any work starts.
KNOWN_POOL_SIZES = {("300w", "train"): 3148, ("wflw", "train"): 7500}
DEFAULT_SYNTHETIC_POOL = 600  # SyntheticConfig's n_pool default


def data_option_types(name: str) -> dict[str, Any] | None:
    """{option: type hint} of the data set's loader (None: it takes any keyword)."""
    if name == "synthetic":
        from trainers.datasets.synthetic import SyntheticConfig

        hints = typing.get_type_hints(SyntheticConfig)
        return {f.name: hints[f.name] for f in fields(SyntheticConfig) if f.name != "input_size"}
    from trainers.datasets.folder import open_folder
    from trainers.datasets.w300 import open_300w
    from trainers.datasets.wflw import open_wflw

    loader = {"300w": open_300w, "wflw": open_wflw, "folder": open_folder}[name]
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
        from trainers.datasets.synthetic import SyntheticConfig

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


def _named_paths(spec: ExperimentSpec) -> list[tuple[str, Path, str]]:
    """(field path, path, what belongs there) of every folder or file the spec names."""
    out = []
    if spec.data.name != "synthetic":
        out.append(("data.root", Path(str(spec.data.root)).expanduser(),
                    f"the {spec.data.name} download; see `scaf-al datasets check`"))
    if spec.model.pretrained:
        out.append(("model.pretrained", Path(spec.model.pretrained).expanduser(),
                    "the official saae.mdl or a scaf-al checkpoint"))
    return out


def _exists(field_path: str, path: Path) -> bool:
    return path.is_dir() if field_path == "data.root" else path.is_file()


def check_paths(spec: ExperimentSpec) -> None:
    """The folders and files the spec names must exist (a run whose trials run here).

    Raises:
        SpecError: naming the field, e.g. `data.root: no such folder '/data/300w' (...)`.
    """
    for field_path, path, what in _named_paths(spec):
        if not _exists(field_path, path):
            kind = "folder" if field_path == "data.root" else "file"
            raise SpecError(field_path, f"no such {kind} {str(path)!r} ({what})")


def paths_not_visible(spec: ExperimentSpec) -> list[str]:
    """The field paths whose folder or file the driver cannot see (a cluster's workers may)."""
    return [f for f, path, _ in _named_paths(spec) if not _exists(f, path)]


def not_visible_note(spec: ExperimentSpec, field_paths: Sequence[str]) -> str:
    """One line naming the paths the driver could not check, e.g.
    `data.root: /data/WFLW is not visible from the driver; the workers will check it`."""
    values = {"data.root": str(spec.data.root), "model.pretrained": str(spec.model.pretrained)}
    named = ", ".join(f"{f}: {values[f]}" for f in field_paths)
    if len(field_paths) == 1:
        return f"{named} is not visible from the driver; the workers will check it"
    return f"{named} are not visible from the driver; the workers will check them"
