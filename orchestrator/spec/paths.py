"""The folders and files a spec names, checked where the driver can see them.

A run whose trials run on this machine needs every path to exist; with `--address` the
workers may see folders the driver cannot, so those are named in one note instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from orchestrator.spec.experiment import ExperimentSpec
from orchestrator.spec.tables import SpecError
from trainers.datasets import get_dataset


def _named_paths(spec: ExperimentSpec) -> list[tuple[str, Path, str]]:
    """(field path, path, what belongs there) of every folder or file the spec names."""
    out = []
    if get_dataset(spec.data.name).needs_root():
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
