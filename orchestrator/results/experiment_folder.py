"""The experiment folder: its layout, how it is created and read, and how its errors read.

    DIR/
      spec.toml          the spec as run (`scaf-al resume` reads it back)
      experiment.json    name, creation time, the cells (id + config) and their round counts
                         (the union of the grid and its extensions), and the extensions
      results/           the Parquet result store (`rounds`, `selections`)
      tune/              Ray Tune's own state (trial checkpoints, experiment state)
      extend-NNN.toml    the spec an extension (`scaf-al extend`) ran its new cells with
      tune-extend-NNN/   Tune's state of that extension (Tune cannot add trials to tune/)
      resources.json     what `gpus_per_trial = "auto"` chose, and the probe it chose from
      tensorboard/       the TensorBoard runs, with `[tracking] tensorboard = true`

An annotation project (`scaf-al propose`) is such a folder with one live cell, plus:

      project.json       the image folder and when the project was created
      round-NNN/         one per `propose` call: model.pt, to_annotate.csv,
                         preannotations/, label_studio.json (+ its config), contact_sheet.png,
                         round.json (what the round saw and chose, and the loop state)
      annotations/       Label Studio JSON exports dropped in by the user
      .cache/round0/     the project's round-0 models (keyed by labeled set, so per project)

Every command that reads or writes an experiment goes through :class:`ExperimentFolder`, so
the layout and its error messages live here once.
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any

import tomli_w

from orchestrator.spec.experiment import ExperimentSpec, SpecError, parse_spec
from trainers.caches.location import cache_root
from trainers.config.cell import CellConfig

SPEC_FILE = "spec.toml"
INFO_FILE = "experiment.json"
RESULTS_DIR = "results"
TUNE_DIR = "tune"
RESOURCES_FILE = "resources.json"
TENSORBOARD_DIR = "tensorboard"
PROJECT_FILE = "project.json"
ANNOTATIONS_DIR = "annotations"
ROUND_PREFIX = "round-"
EXTEND_PREFIX = "extend-"


class NotAnExperimentError(ValueError):
    """The folder does not hold an experiment (no experiment.json)."""


class ExperimentExistsError(RuntimeError):
    """The output folder already holds an experiment."""


class ProjectNotAGridError(ValueError):
    """A grid command (`resume`, `run --resume`) given an annotation project."""


@dataclass(frozen=True)
class CellEntry:
    """One cell of the grid as the folder records it."""

    cell_id: str
    config: dict[str, Any]
    rounds: int
    acquisition_label: str | None = None  # as the run labelled it (None: older folders)

    @cached_property
    def cell(self) -> CellConfig:
        """The typed config (parsed once)."""
        return CellConfig.from_dict(self.config)


@dataclass(frozen=True)
class Extension:
    """One `scaf-al extend` of the experiment: the cells it added, run by their own Tune
    experiment (`tune_dir`) with the resources of `spec_file`."""

    number: int
    created: str
    source: str  # what was asked: the spec file, `--seeds N`, or both
    cells: tuple[str, ...]

    @property
    def tune_name(self) -> str:
        return f"tune-{EXTEND_PREFIX}{self.number:03d}"

    @property
    def spec_name(self) -> str:
        return f"{EXTEND_PREFIX}{self.number:03d}.toml"


@dataclass(frozen=True)
class ExperimentInfo:
    """The contents of `experiment.json`."""

    name: str
    created: datetime | None
    cells: tuple[CellEntry, ...]
    extensions: tuple[Extension, ...] = ()

    @property
    def total_rounds(self) -> int:
        return sum(c.rounds for c in self.cells)

    def configs(self) -> dict[str, dict[str, Any]]:
        """{cell_id: config dict}, in the experiment's order."""
        return {c.cell_id: c.config for c in self.cells}


def default_cache_dir(spec: ExperimentSpec) -> Path:
    """The spec's `cache_dir`, else $SCAF_AL_CACHE, else ~/.cache/scaf-al (`cache_root`)."""
    return cache_root(spec.cache_dir)


def _parse_info(doc: dict[str, Any], source: Path) -> ExperimentInfo:
    try:
        rounds = doc["rounds_per_cell"]
        cells = tuple(CellEntry(c["cell_id"], c["config"], int(rounds.get(c["cell_id"], 0)),
                                c.get("acquisition_label")) for c in doc["cells"])
        name = str(doc.get("name") or source.parent.name)
    except (KeyError, TypeError, AttributeError) as e:
        raise NotAnExperimentError(f"{source}: not a scaf-al experiment file "
                                   f"(missing or bad field {e})") from None
    created = None
    if doc.get("created"):
        try:
            created = datetime.fromisoformat(doc["created"])
        except ValueError:
            created = None
    try:
        extensions = tuple(Extension(int(e["number"]), str(e.get("created", "")),
                                     str(e.get("source", "")), tuple(e["cells"]))
                           for e in doc.get("extensions", []))
    except (KeyError, TypeError, ValueError) as e:
        raise NotAnExperimentError(f"{source}: bad field extensions ({e})") from None
    return ExperimentInfo(name, created, cells, extensions)


def cell_records(cells: Sequence[CellConfig]) -> list[dict[str, Any]]:
    # The acquisition's label is kept so that progress views never need the acquisition
    # registry (and torch) to name a cell.
    return [{"cell_id": c.cell_id(), "config": c.to_dict(),
             "acquisition_label": c.acquisition.label()} for c in cells]


class ExperimentFolder:
    """An experiment folder on a POSIX path (a shared mount on a cluster)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"ExperimentFolder({str(self.path)!r})"

    # -- layout -------------------------------------------------------------------------
    @property
    def spec_file(self) -> Path:
        return self.path / SPEC_FILE

    @property
    def info_file(self) -> Path:
        return self.path / INFO_FILE

    @property
    def results_dir(self) -> Path:
        return self.path / RESULTS_DIR

    @property
    def tune_dir(self) -> Path:
        return self.path / TUNE_DIR

    @property
    def tensorboard_dir(self) -> Path:
        """Where `[tracking] tensorboard = true` writes the TensorBoard runs."""
        return self.path / TENSORBOARD_DIR

    @property
    def resources_file(self) -> Path:
        return self.path / RESOURCES_FILE

    def record_resources(self, chosen: dict[str, Any]) -> None:
        """Keep what the run chose for its trials (read back on resume)."""
        tmp = self.path / f".{RESOURCES_FILE}.tmp"
        tmp.write_text(json.dumps(chosen, indent=1, default=str))
        os.replace(tmp, self.resources_file)

    def recorded_resources(self) -> dict[str, Any] | None:
        """What `record_resources` kept, or None."""
        if not self.resources_file.is_file():
            return None
        return json.loads(self.resources_file.read_text())

    @property
    def store(self) -> str:
        """The result store's root, as the store's readers and writer take it."""
        return str(self.path)

    def exists(self) -> bool:
        """True when the folder holds an experiment."""
        return self.info_file.is_file()

    # -- annotation project layout ------------------------------------------------------
    @property
    def project_file(self) -> Path:
        return self.path / PROJECT_FILE

    @property
    def annotations_dir(self) -> Path:
        """Where Label Studio exports are dropped."""
        return self.path / ANNOTATIONS_DIR

    def is_project(self) -> bool:
        """True when the folder holds an annotation project (`scaf-al propose`)."""
        return self.exists() and self.project_file.is_file()

    def write_project(self, images: Path) -> None:
        """Record the project's image folder (project.json) and make its annotations/."""
        info = {"images": str(images), "created": datetime.now(UTC).isoformat()}
        self.project_file.write_text(json.dumps(info, indent=1) + "\n", encoding="utf-8")
        self.annotations_dir.mkdir(exist_ok=True)

    def project_images(self) -> Path:
        """The image folder of this annotation project (from project.json).

        Raises:
            NotAnExperimentError: project.json is missing or does not name the folder.
        """
        try:
            info = json.loads(self.project_file.read_text(encoding="utf-8"))
            return Path(info["images"])
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise NotAnExperimentError(f"{self.project_file}: not a readable project file "
                                       f"({type(e).__name__}: {e})") from e

    def round_dir(self, number: int) -> Path:
        """`round-NNN/` of a project."""
        return self.path / f"{ROUND_PREFIX}{number:03d}"

    def round_work_dir(self, number: int) -> Path:
        """Where round NNN is written before it is renamed into place (never read)."""
        return self.path / f".{ROUND_PREFIX}{number:03d}.work-{os.getpid()}"

    @property
    def round0_cache_dir(self) -> Path:
        """The project's own round-0 cache (`RoundZeroCache(this)` keeps models in round0/)."""
        return self.path / ".cache"

    def round_dirs(self) -> list[Path]:
        """The finished rounds' folders, in round order (work folders start with '.')."""
        found = [p for p in self.path.glob(f"{ROUND_PREFIX}[0-9][0-9][0-9]*") if p.is_dir()
                 and p.name[len(ROUND_PREFIX):].isdigit()]
        return sorted(found, key=lambda p: int(p.name[len(ROUND_PREFIX):]))

    # -- creating -----------------------------------------------------------------------
    @classmethod
    def create(cls, path: str | Path, spec: ExperimentSpec) -> ExperimentFolder:
        """Create the folder for a grid `spec`; refuse one that already holds an experiment.

        Raises:
            ExperimentExistsError: the folder holds an experiment (nothing is overwritten).
        """
        return cls.create_for_cells(path, spec.name, spec.cells(), spec.raw)

    @classmethod
    def create_for_cells(cls, path: str | Path, name: str, cells: Sequence[CellConfig],
                         spec_doc: dict[str, Any]) -> ExperimentFolder:
        """Create a folder holding `cells` (a grid's, or the one live cell of an annotation
        project), with `spec_doc` as its spec.toml.

        Raises:
            ExperimentExistsError: the folder holds an experiment (nothing is overwritten).
        """
        folder = cls(path)
        folder.refuse_existing()
        folder.path.mkdir(parents=True, exist_ok=True)
        folder.spec_file.write_text(tomli_w.dumps(spec_doc))
        info = {
            "name": name,
            "created": datetime.now(UTC).isoformat(),
            "cells": cell_records(cells),
            "rounds_per_cell": {c.cell_id(): len(c.budget.sizes) for c in cells},
        }
        folder.write_info(info)
        return folder

    def write_info(self, info: dict[str, Any]) -> None:
        """Replace experiment.json with `info` in one rename (readers see old or new)."""
        tmp = self.path / f".{INFO_FILE}.tmp"
        tmp.write_text(json.dumps(info, indent=1))
        os.replace(tmp, self.info_file)
        self.__dict__.pop("info", None)  # the cached read is stale now

    def tune_dirs(self) -> list[Path]:
        """Tune's folders in the order they were made: tune/, then each extension's."""
        names = [TUNE_DIR, *(e.tune_name for e in self.info.extensions)]
        return [self.path / n for n in names]

    def refuse_existing(self) -> None:
        """Raise if the folder already holds an experiment (checked before any work)."""
        if self.exists():
            raise ExperimentExistsError(
                f"{self.path} already holds an experiment; continue it with "
                f"`scaf-al resume {self.path}`, grow it with `scaf-al extend {self.path} "
                "SPEC`, or choose another --out"
            )

    # -- reading ------------------------------------------------------------------------
    @classmethod
    def open(cls, path: str | Path) -> ExperimentFolder:
        """An existing experiment folder.

        Raises:
            NotAnExperimentError: no such folder, or no experiment.json in it.
        """
        folder = cls(path)
        if not folder.path.is_dir():
            raise NotAnExperimentError(
                f"{folder.path} is not an experiment folder (no such folder)")
        if not folder.exists():
            raise NotAnExperimentError(
                f"{folder.path} is not an experiment folder (no {INFO_FILE})")
        return folder

    @cached_property
    def info(self) -> ExperimentInfo:
        """The cells and their round counts (read once per object)."""
        try:
            doc = json.loads(self.info_file.read_text())
        except FileNotFoundError:
            raise NotAnExperimentError(
                f"{self.path} is not an experiment folder (no {INFO_FILE})") from None
        except ValueError as e:
            raise NotAnExperimentError(f"{self.info_file}: not valid JSON ({e})") from None
        return _parse_info(doc, self.info_file)

    @property
    def name(self) -> str:
        return self.info.name

    def spec(self, extension: Extension | None = None) -> ExperimentSpec:
        """The spec the experiment was started with (or that `extension` ran with).

        Raises:
            SpecError: no such file, or it no longer validates (names the file and field).
        """
        file = self.spec_file if extension is None else self.path / extension.spec_name
        if not file.is_file():
            raise SpecError("experiment",
                            f"{self.path} is not an experiment folder (no {file.name})")
        return parse_spec(tomllib.loads(file.read_text()), str(file))

    def latest_spec(self) -> ExperimentSpec:
        """The spec of the latest extension, else the one the experiment started with."""
        exts = self.info.extensions
        return self.spec(exts[-1] if exts else None)

    def cache_dir(self) -> Path:
        """Where the run keeps its data, auto-encoder and round-0 caches."""
        return default_cache_dir(self.spec())
