"""The one place where `scaf-al serve` touches an annotation project's internals.

Everything the ML backend needs from a project goes through `ServedProject`: the model
version, the acquisition order of the images waiting for annotation, the faces of one image
with their landmarks and per-point confidence, recording an annotation Label Studio sent,
the labeled count and running a `propose` round. The HTTP side (`orchestrator.serve.app`)
and the protocol (`orchestrator.serve.protocol`) see only this module's small types.

Faces are found the way the project's rounds find them (its box CSV, the face detector
with the same `--min-face`, or the whole image), numbered as `predict` numbers them, and
each face's keypoints are grouped under its `face<n>` rectangle, as in the tasks `propose`
writes.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from orchestrator.projects.label_studio import (
    BOX_LABEL,
    box_result,
    keypoint_results,
    match_image,
    read_label_studio_exports,
)
from orchestrator.projects.outputs import RoundRecord
from orchestrator.projects.propose import propose
from orchestrator.projects.settings import read_propose_spec
from orchestrator.projects.status import labeled_now
from orchestrator.results.experiment_folder import ExperimentFolder
from orchestrator.results.project_rounds import last_face_finding
from trainers.datasets.builtin.folder import find_images
from trainers.datasets.collect import probe_image

#: Annotations recorded from Label Studio: `PROJECT/annotations/<prefix><task id>.json`,
#: each a one-task Label Studio export (the format `propose` reads from that folder).
RECORD_PREFIX = "label-studio-task-"


class ServeError(ValueError):
    """A request the project cannot serve; `status` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Face:
    """One face of an image: its index n, its box (x_min, y_min, x_max, y_max), (L, 2)
    landmarks in original pixels (0-based centres) and a confidence in [0, 1] per landmark
    (the peak of its heatmap)."""

    face: int
    box: np.ndarray
    landmarks: np.ndarray
    point_scores: np.ndarray


@dataclass(frozen=True)
class ImageFaces:
    """An image's size (width, height) and its faces (empty: no trained model yet)."""

    width: int
    height: int
    faces: list[Face]


class ServedProject:
    """An annotation project as the ML backend serves it (state per instance, none global).

    Args:
        project: the project folder (made by `scaf-al propose`).
        images: its image folder (must be the one the project was created with).
        boxes: the face-box CSV the project's rounds use, or None.
        device: "auto", "cpu", "cuda[:i]"; None: the project spec's.
        k: images per round for training; None: the last round's K.
    """

    def __init__(self, project: Path, images: Path, *, boxes: Path | None = None,
                 device: str | None = None, k: int | None = None) -> None:
        self.folder = ExperimentFolder(Path(project).resolve())
        self.images = Path(images).resolve()
        if not self.folder.is_project():
            raise ServeError(f"{self.folder.path}: not an annotation project (create it with "
                             "`scaf-al propose PROJECT --images DIR --k K`)")
        if self.folder.project_images() != self.images:
            raise ServeError(f"{self.folder.path} is the project of --images "
                             f"{self.folder.project_images()}, not {self.images}")
        self.boxes = Path(boxes).resolve() if boxes is not None else None
        doc = _read_toml(self.folder.spec_file)
        self.settings = read_propose_spec(doc, self.images, source=str(self.folder.spec_file),
                                          device=device)
        self.device = self.settings.device
        self._k = k
        self._model_lock = threading.Lock()
        self._model: tuple[Path, int, Any, Any] | None = None  # path, mtime, model, info

    # -- what the project holds --------------------------------------------------------
    def records(self) -> list[RoundRecord]:
        return [RoundRecord.read(d / "round.json") for d in self.folder.round_dirs()]

    def model_version(self) -> str:
        """`<name>/round-NNN` of the latest round (what `propose` writes into its tasks)."""
        records = self.records()
        if not records:
            return f"{self.settings.name}/no-rounds"
        return f"{self.settings.name}/round-{records[-1].round:03d}"

    def image_names(self) -> list[str]:
        """Every project image, relative to the image folder (POSIX)."""
        return [p.relative_to(self.images).as_posix() for p in find_images(self.images)]

    def match_image(self, key: str) -> str | None:
        """The project image a task's `data.scaf_image` / `data.image` names, or None."""
        return match_image(key, self.image_names())

    def acquisition_order(self) -> list[str]:
        """Images with faces proposed and not yet labeled, in the order of their best face:
        the latest round's picks in rank order, then earlier rounds' (newest first)."""
        _all, labeled = labeled_now(self.folder, self.images)
        ordered: list[str] = []
        for rec in reversed(self.records()):
            ordered += [f.rsplit("#", 1)[0] for f in rec.proposed if f not in labeled]
        return list(dict.fromkeys(ordered))

    def face_finding(self) -> tuple[bool, int]:
        """(whole image, min face) as the project's latest round found its faces."""
        found_by, min_face = last_face_finding(self.folder)
        return found_by == "whole-image", min_face

    def labeled_count(self) -> int:
        return len(labeled_now(self.folder, self.images)[1])

    # -- predictions ---------------------------------------------------------------------
    def _latest_model(self) -> tuple[Any, Any] | None:
        """The newest round's model (cached by file and modification time), or None."""
        for rec in reversed(self.records()):
            if rec.model is not None:
                path = self.folder.round_dir(rec.round) / rec.model
                break
        else:
            return None
        from trainers.models.landmark_model import load_landmark_model
        from trainers.training.device import resolve_device

        mtime = path.stat().st_mtime_ns
        with self._model_lock:
            if self._model is None or self._model[:2] != (path, mtime):
                model, info = load_landmark_model(path, resolve_device(self.device))
                self._model = (path, mtime, model, info)
            return self._model[2], self._model[3]

    def _photo_faces(self, rel: str, whole: bool, min_face: int) -> list[Any]:
        """The faces of one image as the project's rounds find them (`face_finding`)."""
        from trainers.inference.detect import FaceDetector
        from trainers.inference.inputs import match_boxes, read_boxes
        from trainers.inference.predict import photo_faces

        path = self.images / rel
        given = None
        if self.boxes is not None:
            paths = find_images(self.images)
            given = match_boxes(read_boxes(self.boxes), paths, self.boxes)[paths.index(path)]
        detector = None if given is not None or whole else FaceDetector(min_face)
        return photo_faces(path, given, detector)

    def faces(self, rel: str) -> ImageFaces:
        """The faces `predict` finds in one project image (`rel` must be a project image)."""
        width, height = probe_image(self.images / rel)
        loaded = self._latest_model()
        if loaded is None:
            return ImageFaces(width, height, [])
        whole, min_face = self.face_finding()
        found = self._photo_faces(rel, whole, min_face)
        if not found:
            return ImageFaces(width, height, [])
        model, info = loaded
        crops = _face_crops(self.images / rel, found, info, self.boxes is None and whole)
        import torch

        from trainers.training.device import resolve_device
        from trainers.training.supervised import predict as predict_crops

        with self._model_lock, torch.no_grad():
            out = next(iter(predict_crops(model, crops, batch_size=len(crops),
                                          device=resolve_device(self.device), amp=False)))
        crop_xy = out["landmarks"].cpu().numpy().astype(np.float64)
        peaks = out["heatmaps"].float().flatten(2).amax(dim=2).cpu().numpy()
        landmarks = crops.landmarks_to_original(crop_xy)
        return ImageFaces(width, height, [
            Face(f.face, np.asarray(f.box, dtype=np.float64), landmarks[i],
                 np.clip(peaks[i].astype(np.float64), 0.0, 1.0))
            for i, f in enumerate(found)])

    # -- annotations and training ----------------------------------------------------------
    def record_annotation(self, task_id: int, task: dict[str, Any]) -> str | None:
        """Keep a Label Studio task with its annotations as `annotations/<prefix><id>.json`
        (no kept annotation left: the file is removed). Returns the image it labels.

        Raises:
            ServeError (422): the task names no project image, or its annotation is not one
                `propose` can read (the message says why); nothing is recorded then.
        """
        target = self.folder.annotations_dir / f"{RECORD_PREFIX}{task_id}.json"
        kept = [a for a in task.get("annotations") or [] if not a.get("was_cancelled")]
        if not kept:
            target.unlink(missing_ok=True)
            return None
        with tempfile.TemporaryDirectory(prefix="scaf-al-annotation-") as check_dir:
            (Path(check_dir) / target.name).write_text(json.dumps([task]), encoding="utf-8")
            found, problems = read_label_studio_exports(Path(check_dir), self.image_names())
        if problems:
            raise ServeError(f"task {task_id}: {problems[0][1]}; not recorded", 422)
        tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}-{threading.get_ident()}")
        tmp.write_text(json.dumps([task], indent=1) + "\n", encoding="utf-8")
        os.replace(tmp, target)
        return next(iter(found))

    def recorded_tasks_with_annotation(self, annotation_id: int) -> list[int]:
        """The task ids of recorded files that hold the annotation `annotation_id`."""
        hits = []
        for path in self.folder.annotations_dir.glob(f"{RECORD_PREFIX}*.json"):
            try:
                tasks = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            if any(a.get("id") == annotation_id for t in tasks for a in t.get("annotations", [])):
                hits.append(int(path.stem.removeprefix(RECORD_PREFIX)))
        return hits

    def run_round(self, log: Callable[[str], None]) -> str:
        """One `propose` round (K: `k`, else the last round's); returns the new version."""
        records = self.records()
        k = self._k or (records[-1].k if records else 0)
        if k < 1:
            raise ServeError("no K for training: pass --k to `scaf-al serve`")
        whole, min_face = self.face_finding()
        propose(self.folder.path, self.images, k, boxes=self.boxes, device=self.device, log=log,
                whole_image=whole and self.boxes is None, min_face=min_face)
        return self.model_version()


def keypoint_regions(face: Face, width: int, height: int) -> list[dict[str, Any]]:
    """One face's group, as the tasks `propose` writes hold it: its `face<n>` rectangle,
    then its keypoints (labels `p0` ... `p<L-1>`) with `parentID` `face<n>`, each with the
    point's score and an id `f<n>-p<i>`."""
    parent = f"{BOX_LABEL}{face.face}"
    regions = [box_result(face.face, face.box, width, height)]
    points = keypoint_results(face.landmarks, width, height, parent=parent)
    for i, (region, score) in enumerate(zip(points, face.point_scores, strict=True)):
        region["id"] = f"f{face.face}-p{i}"
        region["score"] = float(score)
    return regions + points


def _face_crops(path: Path, faces: list[Any], info: Any, whole: bool) -> Any:
    """The network's crops of a photo's faces (the photo decoded once and released)."""
    from trainers.datasets.cropset import margin_size
    from trainers.inference.faces import cut_crops
    from trainers.inference.predict import face_rois, rois_cropset

    rois = face_rois(faces, info.input_size, info.box_adjust, whole)
    return rois_cropset(cut_crops(path, rois, margin_size(info.input_size)), rois, info)


def _read_toml(path: Path) -> dict[str, Any]:
    import tomllib

    return tomllib.loads(path.read_text(encoding="utf-8"))
