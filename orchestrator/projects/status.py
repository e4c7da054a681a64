"""`scaf-al status PROJECT` for an annotation project: labeled, unlabeled and proposed-not-
yet-annotated images, now and per round.

An image counts as labeled now when a `.pts` file of its stem lies beside it or a Label
Studio export in `PROJECT/annotations/` annotates it (files are not parsed here: `propose`
checks them). A proposed image that is still unlabeled is "waiting".
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from orchestrator.projects.label_studio import read_label_studio_exports
from orchestrator.projects.outputs import RoundRecord
from orchestrator.results.experiment_folder import ExperimentFolder
from trainers.datasets.builtin.folder import find_images
from trainers.datasets.pts import pts_faces
from trainers.projects.pool import face_id


@dataclass(frozen=True)
class RoundStatus:
    """One round: how many were labeled when it ran, what it proposed, and of those how
    many are annotated now and how many still wait."""

    round: int
    kind: str
    labeled_then: int
    proposed: int
    annotated: int
    waiting: int
    has_model: bool


@dataclass(frozen=True)
class ProjectStatus:
    """The project now: image counts and the rounds."""

    images_dir: Path
    labeled: int
    unlabeled: int
    waiting: int
    rounds: tuple[RoundStatus, ...]


def labeled_now(folder: ExperimentFolder, images_dir: Path) -> tuple[list[str], set[str]]:
    """(every image, relative paths; the labeled faces, ids `<image>#<n>`) as the folders
    stand now."""
    paths = find_images(images_dir)
    rel = [p.relative_to(images_dir).as_posix() for p in paths]
    imported, _problems = read_label_studio_exports(folder.annotations_dir, rel)
    labeled = set()
    for r, (_p, files, _repeated) in zip(rel, pts_faces(paths), strict=True):
        faces = set(files) | set(imported.get(r, {}))
        labeled |= {face_id(r, n) for n in faces}
    return rel, labeled


def project_status(project: str | Path) -> ProjectStatus:
    """The status of an annotation project.

    Raises:
        NotAnExperimentError: not an experiment folder; ValueError: not a project.
    """
    folder = ExperimentFolder.open(project)
    if not folder.is_project():
        raise ValueError(f"{folder.path} is a grid experiment, not an annotation project")
    images_dir = folder.project_images()
    images, labeled = labeled_now(folder, images_dir)
    records = [RoundRecord.read(d / "round.json") for d in folder.round_dirs()]
    rounds = tuple(
        RoundStatus(rec.round, rec.kind, len(rec.labeled), len(rec.proposed),
                    sum(r in labeled for r in rec.proposed),
                    sum(r not in labeled for r in rec.proposed), rec.model is not None)
        for rec in records)
    proposed = {r for rec in records for r in rec.proposed}
    # Faces known unlabeled: the last round's pool (before any round: the unlabeled images).
    known = (set(records[-1].boxes) if records and records[-1].boxes
             else {face_id(r, 1) for r in images})
    return ProjectStatus(images_dir, len(labeled), len(known - labeled),
                         len(proposed - labeled), rounds)


def render_project_status(status: ProjectStatus) -> str:
    """Plain text: the totals line, then one line per round."""
    lines = [f"images {status.images_dir}: faces {status.labeled} labeled, {status.unlabeled} "
             f"unlabeled, {status.waiting} proposed and not yet annotated",
             "round  kind                labeled  proposed  annotated  waiting  model"]
    for r in status.rounds:
        lines.append(f"{r.round:03d}    {r.kind:<19} {r.labeled_then:>7}  {r.proposed:>8}  "
                     f"{r.annotated:>9}  {r.waiting:>7}  {'model.pt' if r.has_model else '-'}")
    if not status.rounds:
        lines.append("(no rounds yet)")
    return "\n".join(lines)
