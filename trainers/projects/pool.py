"""An annotation project's faces: which are labeled, which files are bad, and their crops.

The images of a project are every file under its image folder (searched recursively) whose
name ends in one of `trainers.datasets.registry.IMAGE_SUFFIXES`, found and ordered by the
`folder` data set's own `find_images`. Each pool item is one face: (image, face index n),
with the id `<image>#<n>` (`face_id`). A photo's faces are
- its labeled faces (`trainers.projects.labels`: `.pts` files, AFW `<stem>_<n>.pts`, or
  imported annotations), each cut from the tight box around its landmarks;
- with a box CSV, its rows (several per image; face n is the file's);
- else the face detector's (`trainers.inference.detect`, left to right), a detected face
  being left out where its box holds a labeled face's centre (and renumbered after every
  other face where an annotation numbered differently holds its index);
- in whole-image mode, an unlabeled image is one face, the image padded to a square.
Images are read upright (EXIF orientation applied) one at a time: a reduced decode finds
the faces (or checks the file), then, with every face's box known, one array takes all
crops and each photo is decoded at full resolution, cut and released in turn. Only the
crops stay in memory, once.

Nothing here writes a file: the image folder is only read.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from trainers.datasets.base import DatasetError, decode_reduced, landmark_boxes
from trainers.datasets.builtin.folder import find_images, make_layout
from trainers.datasets.collect import probe_image
from trainers.datasets.crops import face_roi, points_to_crop, roi_to_original
from trainers.datasets.cropset import CropSet, margin_size
from trainers.datasets.registry import IMAGE_SUFFIXES
from trainers.inference.detect import FaceDetector
from trainers.inference.faces import (
    PhotoFace,
    cut_crops,
    detect_faces,
    given_faces,
    whole_image_face,
)
from trainers.inference.inputs import match_boxes, read_boxes
from trainers.inference.predict import whole_image_roi
from trainers.projects.labels import check_counts, read_labels


class ProjectInputError(DatasetError):
    """Bad files in a project's inputs; `bad` lists (file, reason), one per line of the
    message."""

    def __init__(self, message: str, bad: Sequence[tuple[str, str]]) -> None:
        super().__init__(message)
        self.bad = list(bad)


CHECK_SIDE = 64  # short side of the reduced decode that checks an image is readable


def face_id(image: str, face: int) -> str:
    """The stable id of face n of an image: `<image>#<n>`."""
    return f"{image}#{face}"


@dataclass
class ProjectPool:
    """The usable faces of a project and their crops.

    Attributes:
        root: the image folder.
        items: face ids (`face_id`), pool order.
        images: the image of each item, relative to `root` (POSIX).
        faces: the face index of each item.
        boxes: (N, 4) the face box of each item (original upright pixels).
        det_scores: (N,) the detector's score (NaN for given, labeled or whole images).
        labeled: pool indices that have landmarks, in pool order.
        landmarks: {pool index: (L, 2) 0-based landmarks in original pixels}.
        sources: {pool index: the file its landmarks came from}.
        crops: the CropSet (unlabeled rows have zero landmarks: never trained on).
        image_sizes: (N, 2) width, height of each item's image.
        skipped: (file, reason) of the bad files left out (`skip_bad=True`).
        no_face: images where no face was found.
    """

    root: Path
    items: list[str]
    images: list[str]
    faces: list[int]
    boxes: np.ndarray
    det_scores: np.ndarray
    labeled: list[int]
    landmarks: dict[int, np.ndarray]
    sources: dict[int, str]
    crops: CropSet
    image_sizes: np.ndarray
    skipped: list[tuple[str, str]] = field(default_factory=list)
    no_face: list[str] = field(default_factory=list)

    @property
    def num_landmarks(self) -> int:
        return self.crops.num_landmarks

    def index_of(self) -> dict[str, int]:
        """{face id: pool index}."""
        return {name: i for i, name in enumerate(self.items)}


@dataclass
class _Face:
    """One face while the pool is built."""

    face: int
    box: np.ndarray
    score: float
    roi: np.ndarray
    lms: np.ndarray | None = None
    source: str | None = None


def _duplicate_stems(root: Path, images: list[Path]) -> dict[Path, str]:
    """{image: reason} for every image whose stem another image has (`<stem>.pts` and the
    project's `preannotations/<stem>.pts` would be ambiguous)."""
    by_stem: dict[str, list[Path]] = {}
    for p in images:
        by_stem.setdefault(p.stem, []).append(p)
    bad = {}
    for same in by_stem.values():
        if len(same) > 1:
            for p in same:
                others = ", ".join(q.relative_to(root).as_posix() for q in same if q != p)
                bad[p] = f"two images with the same stem {p.stem!r} (also {others})"
    return bad


def _finish_bad(root: Path, bad: dict[str, str], skip_bad: bool) -> list[tuple[str, str]]:
    """Raise listing the bad files, or (skip_bad) return them to be left out."""
    items = sorted(bad.items())
    if items and not skip_bad:
        lines = "\n".join(f"{p}: {why}" for p, why in items)
        raise ProjectInputError(
            f"{len(items)} bad file(s) under {root}; nothing was started (fix them, or pass "
            f"--skip-bad to leave them out):\n{lines}", items)
    return items


def _centre_in(box: np.ndarray, lms: np.ndarray) -> bool:
    cx, cy = (lms.min(axis=0) + lms.max(axis=0)) / 2
    return bool(box[0] <= cx <= box[2] and box[1] <= cy <= box[3])


def _unlabeled_detections(found: list[PhotoFace], labeled: dict[int, tuple[np.ndarray, str]]
                          ) -> list[PhotoFace]:
    """Detections that are not a labeled face (none of whose centres they hold); one whose
    index a labeled face has (numbered otherwise by its annotator) takes the next free
    index after every labeled and detected one."""
    rest = [f for f in found if not any(_centre_in(f.box, lms) for lms, _ in labeled.values())]
    free = max([*labeled, *(f.face for f in found)], default=0) + 1
    out = []
    for f in rest:
        if f.face in labeled:
            f, free = PhotoFace(free, f.box, f.score), free + 1
        out.append(f)
    return out


def _image_faces(path: Path, labeled: dict[int, tuple[np.ndarray, str]],
                 given: dict[int, np.ndarray] | None, detector: FaceDetector | None,
                 input_size: int, adjust: tuple[float, float]) -> list[_Face]:
    """One photo's faces (rules in the module docstring), by face index."""
    out: dict[int, _Face] = {}
    for n, (lms, source) in labeled.items():
        box = landmark_boxes(lms[None])[0] if given is None or n not in given else given[n]
        out[n] = _Face(n, box, math.nan, face_roi(box, lms, "bb_ground_truth", input_size,
                                                    adjust), lms, source)
    if given is not None:
        found = given_faces({n: b for n, b in given.items() if n not in out})
    elif detector is not None:
        found = _unlabeled_detections(detect_faces(path, detector), labeled)
    elif not out:
        size = probe_image(path)
        face = whole_image_face(size)
        return [_Face(1, face.box, math.nan, whole_image_roi(size[0], size[1], input_size))]
    else:
        found = []
    for f in found:
        out[f.face] = _Face(f.face, f.box, f.score,
                            face_roi(f.box, None, "bb_ground_truth", input_size, adjust))
    return [out[n] for n in sorted(out)]


def open_project_pool(root: Path, input_size: int, *,
                      imported: Mapping[str, Mapping[int, np.ndarray]] | None = None,
                      import_problems: Sequence[tuple[str, str]] = (),
                      boxes: Path | None = None, options: Mapping | None = None,
                      skip_bad: bool = False, whole_image: bool = False,
                      min_face: int = 0) -> ProjectPool:
    """Find, check, read and crop a project's faces (one image in memory at a time).

    Args:
        root: the image folder (read only).
        input_size: the network input S.
        imported: landmarks from imported annotations, {relative image: {face: (L, 2)}}.
        import_problems: (file, reason) of unusable imported annotations (bad files too).
        boxes: a face-box CSV (`trainers.inference.inputs` format; rows per face).
        options: the `folder` data set options that apply: `flip_perm`, `eye_idx`,
            `box_adjust`.
        skip_bad: leave bad files out (listed in `skipped`) instead of raising.
        whole_image: without boxes, an unlabeled image is one face (no detector).
        min_face: leave out detected faces smaller than this many pixels.

    Raises:
        ProjectInputError: bad files (corrupt `.pts`, a landmark count other than the
            others', an unreadable image, two images with one stem), one line each.
        DatasetError: no images at all, or a bad layout option; PredictError (a
            DatasetError too) when detection needs the extra that is not installed.
    """
    from trainers.datasets.builtin.folder import DEFAULT_BOX_ADJUST

    options = dict(options or {})
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"--images {root}: not a folder")
    images = find_images(root)
    if not images:
        raise DatasetError(f"--images {root}: no images ({', '.join(IMAGE_SUFFIXES)})")
    box_of = dict(zip(images, match_boxes(read_boxes(boxes), images, boxes), strict=True)
                  ) if boxes else {}
    detector = None if boxes or whole_image else FaceDetector(min_face)
    bad = {str(p): why for p, why in _duplicate_stems(root, images).items()}
    bad.update(dict(import_problems))
    images = [p for p in images if str(p) not in bad]
    labels = read_labels(root, images, imported or {}, bad)
    count = check_counts(labels, bad) or 0
    adjust = tuple(float(v) for v in options.get("box_adjust", DEFAULT_BOX_ADJUST))
    built = _Built(margin_size(input_size))
    for p in images:
        try:
            if detector is None:  # the detector's reduced decode checks the file; else:
                decode_reduced(p, CHECK_SIDE)  # a cheap one (the crops come at the end)
            faces = _image_faces(p, labels.get(p, {}), box_of.get(p) if boxes else None,
                                 detector, input_size, (adjust[0], adjust[1]))
            built.add(root, p, faces, count)
        except DatasetError as e:
            bad[str(p)] = str(e).removeprefix(f"{p}: ")
    skipped = _finish_bad(root, bad, skip_bad)
    if not built.items:
        raise DatasetError(f"--images {root}: no usable faces left"
                           + (f" (no face found in {len(built.no_face)} images)"
                              if built.no_face else ""))
    return built.pool(root, count, input_size, (adjust[0], adjust[1]), options, skipped)


@dataclass
class _Built:
    """The faces found so far (boxes, no pixels: the crops are cut at the end)."""

    margin: int
    items: list[str] = field(default_factory=list)
    faces: list[_Face] = field(default_factory=list)
    images: list[str] = field(default_factory=list)
    sizes: list[tuple[int, int]] = field(default_factory=list)
    photos: list[tuple[Path, int]] = field(default_factory=list)
    no_face: list[str] = field(default_factory=list)

    def cut(self) -> np.ndarray:
        """Every face's crop, into one array allocated once (its final size known): each
        photo decoded at full resolution, cut and released in turn."""
        out = np.zeros((len(self.faces), self.margin, self.margin, 3), dtype=np.uint8)
        start = 0
        for path, count in self.photos:
            rois = [f.roi for f in self.faces[start:start + count]]
            for k, crop in enumerate(cut_crops(path, rois, self.margin)):
                out[start + k] = crop
            start += count
        return out

    def add(self, root: Path, path: Path, faces: list[_Face], count: int) -> None:
        rel = path.relative_to(root).as_posix()
        if not faces:
            self.no_face.append(rel)
            return
        size = probe_image(path)
        self.photos.append((path, len(faces)))
        self.faces += faces
        self.items += [face_id(rel, f.face) for f in faces]
        self.images += [rel] * len(faces)
        self.sizes += [size] * len(faces)

    def pool(self, root: Path, count: int, input_size: int, adjust: tuple[float, float],
             options: Mapping, skipped: list[tuple[str, str]]) -> ProjectPool:
        m, n = self.margin, len(self.items)
        crop_lms = np.zeros((n, count, 2), dtype=np.float32)
        landmarks, sources = {}, {}
        for i, f in enumerate(self.faces):
            if f.lms is not None:
                crop_lms[i] = points_to_crop(f.lms, f.roi, m)
                landmarks[i], sources[i] = f.lms, str(f.source)
        if count:
            layout = make_layout(count, options.get("flip_perm"), options.get("eye_idx"))
            flip, eyes = layout.flip_perm, layout.eye_idx
        else:  # nothing labeled yet: no layout until the first annotations
            flip, eyes = np.zeros(0, dtype=np.int64), (0, 0)
        cropset = CropSet(images=self.cut(), landmarks=crop_lms,
                          input_size=input_size, flip_perm=flip, eye_idx=eyes,
                          to_original=np.stack([roi_to_original(f.roi, m) for f in self.faces]),
                          names=list(self.items),
                          meta={"dataset": "project", "box_adjust": list(adjust)})
        return ProjectPool(
            root, list(self.items), list(self.images), [f.face for f in self.faces],
            np.array([f.box for f in self.faces], dtype=np.float64).reshape(n, 4),
            np.array([f.score for f in self.faces], dtype=np.float64), sorted(landmarks),
            landmarks, sources, cropset, np.array(self.sizes, dtype=np.int64).reshape(n, 2),
            skipped, list(self.no_face))
