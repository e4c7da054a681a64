"""`scaf-al propose`: one round of active learning on a folder of the user's own faces.

Each call reads what is labeled now (`.pts` files beside the images, Label Studio exports in
`PROJECT/annotations/`), then
- with at least L0 labeled images: trains the model from the auto-encoder on them and lets
  the spec's acquisition pick K unlabeled images (the grid loop's own `train_round` and
  `select_round`, so the picks equal a grid cell's on the same images);
- with fewer (a cold start): picks K images without a trained head, by k-center-greedy on
  the auto-encoder's latent codes, or at random (the grid's L0 draw).
Each pool item is one face (`trainers.projects.pool`: box rows, the face detector, or
`whole_image`), proposed as `<image>#<n>`. It writes `round-NNN/` (files in
`orchestrator.projects.outputs`) and the round's rows in
the result store. The image folder is only read; an existing `.pts` is never touched.

Images proposed earlier and still unannotated are not labeled; they are not proposed again
(they are reported by `scaf-al status PROJECT`).
"""

from __future__ import annotations

import shutil
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from orchestrator.projects import COLD_STARTS
from orchestrator.projects.label_studio import read_label_studio_exports
from orchestrator.projects.outputs import (
    Proposal,
    RoundRecord,
    proposal_order,
    write_round_files,
)
from orchestrator.projects.settings import ProposeSettings, read_propose_spec
from orchestrator.results.experiment_folder import ExperimentFolder
from orchestrator.results.folder_lock import driver_lock
from orchestrator.results.writer import ResultWriter
from orchestrator.spec.experiment import SpecError
from trainers.caches.location import cache_root
from trainers.datasets.builtin.folder import find_images
from trainers.inference.detect import FaceDetector
from trainers.inference.safe_files import refuse_output_over_inputs
from trainers.models import save_landmark_model
from trainers.projects.pool import ProjectPool, open_project_pool
from trainers.projects.round import ProjectStep, RoundInputs, cold_start_step, trained_step


class ProposeError(ValueError):
    """A `propose` call that cannot run (the message says why and what to do)."""


@dataclass
class ProposeOutcome:
    """What one call did: the round folder, the proposal and the round's record."""

    round_dir: Path
    proposal: Proposal
    record: RoundRecord
    pool: ProjectPool


@dataclass(frozen=True)
class FaceFinding:
    """How unlabeled faces are found without boxes: the whole image, or the detector with
    faces below `min_face` pixels left out."""

    whole_image: bool = False
    min_face: int = 0


def propose(project: Path, images: Path, k: int, *, spec: Path | None = None,
            boxes: Path | None = None, cold_start: str = COLD_STARTS[0], skip_bad: bool = False,
            device: str | None = None, log: Callable[[str], None] | None = None,
            whole_image: bool = False, min_face: int = 0) -> ProposeOutcome:
    """Run one round of the annotation loop (see the module docstring).

    Args:
        project: the project folder (created by the first call).
        images: the image folder (searched recursively; never written).
        k: how many faces to propose.
        spec: a spec TOML (`orchestrator.projects.settings`); None: the paper's defaults.
            Later calls use the project's own spec.toml.
        boxes: a face-box CSV `image,x_min,y_min,x_max,y_max`, one row per face; None:
            faces are found by the detector (extra `scaf-al[detect]`).
        cold_start: "kcenter" or "random", below L0 labeled images.
        skip_bad: leave bad files out (listed) instead of stopping.
        device: "auto", "cpu", "cuda[:i]"; None: the spec's `[resources] device`.
        log: progress messages.
        whole_image: without boxes, an unlabeled image is one face (no detection).
        min_face: leave out detected faces smaller than this many pixels.

    Raises:
        ProposeError, SpecError, ProjectInputError (bad files, one line each), DatasetError.
    """
    say = log or (lambda _m: None)
    images = Path(images).resolve()
    folder = ExperimentFolder(Path(project).resolve())
    _check_call(folder, images, k, cold_start)
    refuse_output_over_inputs(folder.path, "PROJECT", {"--boxes": boxes, "--spec": spec})
    # One driver per project: a second propose (or resume) is refused before any work.
    with driver_lock(folder.path, "propose", log=say):
        return _propose_locked(folder, images, k, spec, boxes, cold_start, skip_bad, device,
                               say, FaceFinding(whole_image, min_face))


def _propose_locked(folder: ExperimentFolder, images: Path, k: int, spec: Path | None,
                    boxes: Path | None, cold_start: str, skip_bad: bool, device: str | None,
                    say: Callable[[str], None], finding: FaceFinding) -> ProposeOutcome:
    """`propose` once the project's driver lock is held."""
    whole_image, min_face = finding.whole_image, finding.min_face
    settings = _settings(folder, images, spec, device)
    _refuse_cache_in_images(settings, images)
    records = [RoundRecord.read(d / "round.json") for d in folder.round_dirs()]
    rel_images = [p.relative_to(images).as_posix() for p in find_images(images)]
    imported, problems = read_label_studio_exports(folder.annotations_dir, rel_images)
    pool = open_project_pool(images, settings.cell.model.input_size, imported=imported,
                             import_problems=problems, boxes=boxes,
                             options=settings.cell.data.options, skip_bad=skip_bad,
                             whole_image=whole_image, min_face=min_face)
    if pool.no_face:
        say(f"no face found in {len(pool.no_face)} image(s), e.g. {pool.no_face[0]} "
            "(listed in round.json)")
    labeled, pending = _labeled_and_pending(pool, records)
    candidates = np.setdiff1d(np.arange(len(pool.images)), labeled + pending)
    if k > len(candidates):
        raise ProposeError(f"--k {k}: only {len(candidates)} faces are neither labeled nor "
                           f"waiting for annotation ({len(pending)} proposed earlier)")
    if not folder.exists():
        _create(folder, settings, images)
    inputs = RoundInputs(labeled, pending, k, len(records),
                         records[-1].next_loop_round if records else 0,
                         records[-1].rng_state if records else None)
    say(f"round {inputs.number:03d}: {len(labeled)} labeled, {len(candidates)} unlabeled, "
        f"{len(pending)} waiting for annotation")
    step = _run_step(folder, settings, pool, inputs, cold_start, say)
    record, proposal = _describe(pool, inputs, step)
    record.faces = {"found_by": "boxes" if boxes else "whole-image" if whole_image
                    else FaceDetector.name, "min_face": min_face}
    out = _publish(folder, settings, pool, step, proposal, record)
    ResultWriter(folder.store, settings.name).write_round(settings.cell, step.result,
                                                          splits=[])
    say(f"wrote {out}")
    return ProposeOutcome(out, proposal, record, pool)


def _describe(pool: ProjectPool, inputs: RoundInputs, step: ProjectStep
              ) -> tuple[RoundRecord, Proposal]:
    """The round's record and proposal, by face id (pool indices change with DIR)."""
    labeled = set(pool.labeled)
    record = RoundRecord(
        round=inputs.number, kind=step.kind, loop_round=step.loop_round,
        next_loop_round=step.next_loop_round, rng_state=step.rng_state,
        labeled=[pool.items[i] for i in inputs.labeled],
        proposed=[pool.items[i] for i in step.picks],
        pending_excluded=[pool.items[i] for i in inputs.pending],
        skipped=[list(s) for s in pool.skipped], k=inputs.k,
        model="model.pt" if step.model is not None else None,
        boxes={pool.items[i]: [*(round(float(v), 1) for v in pool.boxes[i]),
                               None if np.isnan(pool.det_scores[i])
                               else float(pool.det_scores[i])]
               for i in range(len(pool.items)) if i not in labeled},
        no_face=list(pool.no_face))
    proposal = Proposal(
        [pool.images[i] for i in step.picks], list(step.scores),
        [None] * inputs.k if step.landmarks is None else list(step.landmarks),
        [(int(pool.image_sizes[i][0]), int(pool.image_sizes[i][1])) for i in step.picks],
        faces=[pool.faces[i] for i in step.picks], boxes=[pool.boxes[i] for i in step.picks],
        crops=[(pool.crops.images[i], pool.crops.to_original[i]) for i in step.picks])
    return record, proposal


def _run_step(folder: ExperimentFolder, settings: ProposeSettings, pool: ProjectPool,
              inputs: RoundInputs, cold_start: str, say: Callable[[str], None]) -> ProjectStep:
    """A trained round with at least L0 labeled images, else a cold start."""
    cache_dir = cache_root(settings.cache_dir)
    if len(inputs.labeled) >= settings.l0:
        return trained_step(settings.cell, pool, inputs, folder.round0_cache_dir,
                            cache_dir, settings.device, say)
    say(f"cold start ({len(inputs.labeled)} labeled < L0 = {settings.l0}): {cold_start}")
    return cold_start_step(settings.cell, pool, inputs, cold_start, cache_dir,
                           settings.device, say)


def _check_call(folder: ExperimentFolder, images: Path, k: int, cold_start: str) -> None:
    """Refuse a call that could write into the image folder or mix up projects."""
    if k < 1:
        raise ProposeError(f"--k must be >= 1, got {k}")
    if cold_start not in COLD_STARTS:
        raise ProposeError(f"--cold-start must be one of {', '.join(COLD_STARTS)}, "
                           f"got {cold_start!r}")
    if not images.is_dir():
        raise ProposeError(f"--images {images}: not a folder")
    if folder.path == images or images in folder.path.parents:
        raise ProposeError(f"PROJECT {folder.path} lies inside --images {images}; choose a "
                           "project folder outside the image folder (nothing is written there)")
    if folder.exists() and not folder.is_project():
        raise ProposeError(f"{folder.path} holds a grid experiment, not an annotation project")
    if folder.is_project():
        stored = folder.project_images()
        if stored != images:
            raise ProposeError(f"{folder.path} is the project of --images {stored}, not "
                               f"{images}")


def _refuse_cache_in_images(settings: ProposeSettings, images: Path) -> None:
    """The image folder is only read: a cache folder inside it is refused."""
    cache = cache_root(settings.cache_dir).resolve()
    if cache == images or images in cache.parents:
        raise ProposeError(f"cache_dir {cache} lies inside --images {images}; choose a cache "
                           "folder outside the image folder (nothing is written there)")


def _settings(folder: ExperimentFolder, images: Path, spec: Path | None,
              device: str | None) -> ProposeSettings:
    """The new project's spec, or the existing project's own (a different --spec fails)."""
    doc = {}
    if spec is not None:
        try:
            doc = tomllib.loads(Path(spec).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise SpecError("spec", f"no such file {str(spec)!r}") from None
        except tomllib.TOMLDecodeError as e:
            raise SpecError("spec", f"not valid TOML: {e}", str(spec)) from None
    if folder.is_project():
        stored = tomllib.loads(folder.spec_file.read_text(encoding="utf-8"))
        if spec is not None and doc != stored:
            raise ProposeError(f"--spec {spec} differs from the spec {folder.path} was created "
                               f"with ({folder.spec_file}); leave --spec out to continue")
        return read_propose_spec(stored, images, source=str(folder.spec_file), device=device)
    return read_propose_spec(doc, images, source=str(spec) if spec else None, device=device)


def _create(folder: ExperimentFolder, settings: ProposeSettings, images: Path) -> None:
    """The project folder: experiment.json with the one live cell, spec.toml, project.json."""
    ExperimentFolder.create_for_cells(folder.path, settings.name, [settings.cell],
                                      settings.doc)
    folder.write_project(images)


def _labeled_and_pending(pool: ProjectPool, records: list[RoundRecord]
                         ) -> tuple[list[int], list[int]]:
    """Labeled pool indices in acquisition order (earlier proposals in the order they were
    proposed, then the others in pool order), and the proposed-not-yet-annotated ones."""
    index = pool.index_of()
    labeled_set = set(pool.labeled)
    order = [index[face] for face in proposal_order(records) if face in index]
    first = [i for i in order if i in labeled_set]
    rest = [i for i in pool.labeled if i not in set(first)]
    pending = [i for i in order if i not in labeled_set]
    return first + rest, pending


def _publish(folder: ExperimentFolder, settings: ProposeSettings, pool: ProjectPool,
             step: ProjectStep, proposal: Proposal, record: RoundRecord) -> Path:
    """Write the round into a work folder, then rename it to round-NNN (all or nothing)."""
    final = folder.round_dir(record.round)
    if final.exists():
        raise ProposeError(f"{final} exists already; another propose call may be running")
    work = folder.round_work_dir(record.round)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    try:
        if step.model is not None:
            save_landmark_model(
                step.model.eval(), work / "model.pt", flip_perm=pool.crops.flip_perm,
                eye_idx=pool.crops.eye_idx, box_adjust=pool.crops.meta["box_adjust"],
                meta={"project": settings.name, "round": record.round,
                      "n_labeled": len(record.labeled), "images": str(pool.root)})
        write_round_files(work, pool.root, proposal, record, pool.num_landmarks,
                          f"{settings.name}/round-{record.round:03d}")
        work.rename(final)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return final
