"""What `scaf-al extend` adds to an experiment folder, and when a spec may not join it.

A cell's id is the hash of its config, so the union of the folder's cells and a spec's
is well defined: a cell of the spec whose id the folder holds is that same cell and is not
run again. `--seeds N` raises every configuration (a cell without its seed) to N seeds.
Everything here reads the folder and decides; nothing is written (the folder records an
extension with `record_extension` once the run is about to start).
"""

from __future__ import annotations

import dataclasses
import itertools
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import tomli_w

from orchestrator.results.experiment_folder import ExperimentFolder, Extension, cell_records
from orchestrator.results.readers import read_table
from orchestrator.spec.experiment import ExperimentSpec
from trainers.config.cell import CellConfig


class ExtensionError(ValueError):
    """The spec cannot join the experiment, or the folder cannot be extended now."""


@dataclass(frozen=True)
class ExtensionPlan:
    """The cells an extension adds (in run order), the spec it runs them with, and what
    was asked (recorded with the extension)."""

    spec: ExperimentSpec
    cells: list[CellConfig]
    source: str
    already: int  # cells of the request the folder holds already


def _folder_cells(folder: ExperimentFolder) -> list[CellConfig]:
    return [entry.cell for entry in folder.info.cells]


def _first_difference(new: Any, old: Any, path: str) -> tuple[str, Any, Any] | None:
    if isinstance(new, dict) and isinstance(old, dict):
        for key in sorted(set(new) | set(old)):
            found = _first_difference(new.get(key), old.get(key), f"{path}.{key}")
            if found:
                return found
        return None
    return None if new == old else (path, new, old)


def check_joins(folder: ExperimentFolder, spec: ExperimentSpec, source: str) -> None:
    """Refuse a spec of another experiment or another data set (the same name with other
    files or options is another data set: its cells could not be compared with these).

    Raises:
        ExtensionError: one line naming the spec's field, its value and the folder's.
    """
    if spec.name != folder.name:
        raise ExtensionError(
            f"{source}: experiment.name = {spec.name!r}, but {folder.path} holds experiment "
            f"{folder.name!r}; only a spec of the same experiment can extend it")
    cells = folder.info.cells
    if not cells:
        return
    mine = CellConfig(data=spec.data).to_dict()["data"]
    theirs = cells[0].config.get("data", {})
    diff = _first_difference(mine, theirs, "data")
    if diff:
        field, new, old = diff
        raise ExtensionError(
            f"{source}: {field} = {new!r}, but the cells of {folder.path} have {field} = "
            f"{old!r}; another data set (or other files under the name "
            f"{spec.data.name!r}) cannot join this experiment (start a new folder)")


def unfinished_cells(folder: ExperimentFolder) -> list[str]:
    """Ids of the folder's cells that do not have all their rounds in the store."""
    read = read_table(folder.store, "rounds", columns=["cell_id", "round"])
    done: dict[str, set[int]] = {}
    data = read.table.select(["cell_id", "round"]).to_pydict() if read.table.num_rows else {}
    for cid, r in zip(data.get("cell_id", []), data.get("round", []), strict=True):
        done.setdefault(cid, set()).add(r)
    return [c.cell_id for c in folder.info.cells if len(done.get(c.cell_id, ())) < c.rounds]


def _without_seed(cell: CellConfig) -> str:
    return dataclasses.replace(cell, seed=0).cell_id()


def raise_seeds(cells: list[CellConfig], seeds: int) -> list[CellConfig]:
    """New cells that give every configuration of `cells` `seeds` seeds.

    A configuration missing seeds takes first the experiment's seed numbers it lacks (so
    that the acquisitions stay paired by seed), then the numbers after the highest seed
    of the experiment, in order.
    """
    if seeds < 1:
        raise ExtensionError(f"--seeds must be >= 1, got {seeds}")
    used = sorted({c.seed for c in cells})
    groups: dict[str, list[CellConfig]] = {}
    for c in cells:
        groups.setdefault(_without_seed(c), []).append(c)
    out = []
    for members in groups.values():
        have = {c.seed for c in members}
        more = (s for s in itertools.chain(used, itertools.count(max(used, default=-1) + 1))
                if s not in have)
        out += [dataclasses.replace(members[0], seed=s)
                for s in itertools.islice(more, max(0, seeds - len(have)))]
    return out


def _new(cells: Iterable[CellConfig], known: set[str]) -> list[CellConfig]:
    out = []
    for c in cells:
        cid = c.cell_id()
        if cid not in known:
            known.add(cid)
            out.append(c)
    return out


def new_cells(folder: ExperimentFolder, spec: ExperimentSpec | None = None,
              seeds: int | None = None, source: str = "") -> ExtensionPlan:
    """The cells `spec` (and `--seeds`) add to `folder`, and how many of the spec's cells
    it holds already (`scaf-al plan SPEC --against DIR` counts these new cells).

    Args:
        folder: the experiment to extend.
        spec: a spec whose cells join the experiment (None: only `seeds`).
        seeds: raise every configuration (the folder's and the spec's) to this many seeds.
        source: how the request is named in errors and in the record (the spec's path).

    Raises:
        ExtensionError: the spec cannot join the folder (`check_joins`).
    """
    if spec is None and seeds is None:
        raise ExtensionError("extend needs a SPEC, --seeds N, or both")
    if folder.is_project():
        raise ExtensionError(f"{folder.path} is an annotation project (scaf-al propose), "
                             "not a grid to extend")
    if spec is not None:
        check_joins(folder, spec, source)
    known = {c.cell_id for c in folder.info.cells}
    asked = list(spec.cells()) if spec is not None else []
    already = sum(c.cell_id() in known for c in asked)
    cells = _new(asked, known)
    if seeds is not None:
        cells += _new(raise_seeds(_folder_cells(folder) + cells, seeds), known)
    what = " ".join(p for p in (source if spec is not None else "",
                                f"--seeds {seeds}" if seeds is not None else "") if p)
    return ExtensionPlan(spec if spec is not None else folder.latest_spec(), cells, what,
                         already)


def plan_extension(folder: ExperimentFolder, spec: ExperimentSpec | None = None,
                   seeds: int | None = None, source: str = "") -> ExtensionPlan:
    """`new_cells`, refused while the folder has unfinished cells (resume them first: an
    extension never runs a cell the folder already holds).

    Raises:
        ExtensionError: the spec cannot join, or the folder has unfinished cells.
    """
    plan = new_cells(folder, spec, seeds, source)
    left = unfinished_cells(folder)
    if left:
        raise ExtensionError(
            f"{folder.path} has {len(left)} unfinished cell(s); finish them with "
            f"`scaf-al resume {folder.path}` before extending it")
    return plan


def record_extension(folder: ExperimentFolder, cells: Sequence[CellConfig],
                     spec_doc: dict[str, Any], source: str) -> Extension:
    """Record an extension: its spec as `extend-NNN.toml`, then `cells` appended to
    experiment.json with the extension that added them (one atomic replace, so a reader
    sees the folder before or after, never half of it). Nothing else changes."""
    doc = json.loads(folder.info_file.read_text())
    number = len(doc.get("extensions", [])) + 1
    ext = Extension(number, datetime.now(UTC).isoformat(), source,
                    tuple(c.cell_id() for c in cells))
    (folder.path / ext.spec_name).write_text(tomli_w.dumps(spec_doc))
    doc["cells"] = [*doc["cells"], *cell_records(cells)]
    doc["rounds_per_cell"] = {**doc["rounds_per_cell"],
                              **{c.cell_id(): len(c.budget.sizes) for c in cells}}
    doc["extensions"] = [*doc.get("extensions", []),
                         {"number": ext.number, "created": ext.created,
                          "source": ext.source, "cells": list(ext.cells)}]
    folder.write_info(doc)
    return ext
