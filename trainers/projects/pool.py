"""An annotation project's images: which are labeled, which files are bad, and their crops.

The images of a project are every file under its image folder (searched recursively) whose
name ends in one of `trainers.datasets.registry.IMAGE_SUFFIXES`, found and ordered by the
`folder` data set's own `find_images`, so pool index i means the same image in a grid cell
on that folder. An image is labeled when a `.pts` file of the same stem lies beside it, or when
an imported annotation (Label Studio) names it; a `.pts` file wins over an import.

Crops are the data sets' own geometry (`trainers.datasets.crops`): with a face box, the box
with the box adjustment; without one, a labeled face is cut from the tight box around its
landmarks (with the adjustment, as the `folder` data set does) and an unlabeled image is
taken as the face square (the whole image, padded to a square: `whole_image_roi`).

Nothing here writes a file: the image folder is only read.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from trainers.datasets.base import DatasetError, decode_rgb, landmark_boxes
from trainers.datasets.builtin.folder import find_images, make_layout
from trainers.datasets.crops import crop_image, face_roi, points_to_crop, roi_to_original
from trainers.datasets.cropset import CropSet, margin_size
from trainers.datasets.pts import read_pts
from trainers.datasets.registry import IMAGE_SUFFIXES
from trainers.inference.inputs import match_boxes, read_boxes
from trainers.inference.predict import whole_image_roi


class ProjectInputError(DatasetError):
    """Bad files in a project's inputs; `bad` lists (file, reason), one per line of the
    message."""

    def __init__(self, message: str, bad: Sequence[tuple[str, str]]) -> None:
        super().__init__(message)
        self.bad = list(bad)


@dataclass
class ProjectPool:
    """The usable images of a project and their crops.

    Attributes:
        root: the image folder.
        images: image paths relative to `root` (POSIX), pool order.
        labeled: pool indices that have landmarks, in pool order.
        landmarks: {pool index: (L, 2) 0-based landmarks in original pixels}.
        sources: {pool index: the file its landmarks came from}.
        crops: the CropSet (unlabeled rows have zero landmarks: never trained on).
        image_sizes: (N, 2) width, height.
        skipped: (file, reason) of the bad files left out (`skip_bad=True`).
    """

    root: Path
    images: list[str]
    labeled: list[int]
    landmarks: dict[int, np.ndarray]
    sources: dict[int, str]
    crops: CropSet
    image_sizes: np.ndarray
    skipped: list[tuple[str, str]] = field(default_factory=list)

    @property
    def num_landmarks(self) -> int:
        return self.crops.num_landmarks

    def index_of(self) -> dict[str, int]:
        """{relative image path: pool index}."""
        return {name: i for i, name in enumerate(self.images)}


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


def _read_labels(root: Path, images: list[Path], imported: Mapping[str, np.ndarray],
                 bad: dict[str, str]) -> dict[Path, tuple[np.ndarray, str]]:
    """Landmarks per image from its `.pts` file or an import; corrupt files go to `bad`."""
    labels: dict[Path, tuple[np.ndarray, str]] = {}
    for p in images:
        pts = p.with_suffix(".pts")
        if pts.is_file():
            try:
                labels[p] = (read_pts(pts), str(pts))
            except DatasetError as e:
                bad[str(pts)] = str(e).removeprefix(f"{pts}: ")
        elif (rel := p.relative_to(root).as_posix()) in imported:
            labels[p] = (np.asarray(imported[rel], dtype=np.float64), f"import of {rel}")
    return labels


def _check_counts(labels: dict[Path, tuple[np.ndarray, str]], bad: dict[str, str]) -> int | None:
    """The landmark count most labels have (ties: the first image's); others go to `bad`."""
    if not labels:
        return None
    counts = Counter(len(lms) for lms, _ in labels.values())
    first = len(next(iter(labels.values()))[0])
    top = max(counts.values())
    count = first if counts[first] == top else max(counts, key=lambda c: counts[c])
    for p, (lms, source) in list(labels.items()):
        if len(lms) != count:
            bad[source] = f"{len(lms)} landmarks, the other annotations have {count}"
            del labels[p]
    return count


def _finish_bad(root: Path, bad: dict[str, str], skip_bad: bool) -> list[tuple[str, str]]:
    """Raise listing the bad files, or (skip_bad) return them to be left out."""
    items = sorted(bad.items())
    if items and not skip_bad:
        lines = "\n".join(f"{p}: {why}" for p, why in items)
        raise ProjectInputError(
            f"{len(items)} bad file(s) under {root}; nothing was started (fix them, or pass "
            f"--skip-bad to leave them out):\n{lines}", items)
    return items


def open_project_pool(root: Path, input_size: int, *,
                      imported: Mapping[str, np.ndarray] | None = None,
                      import_problems: Sequence[tuple[str, str]] = (),
                      boxes: Path | None = None, options: Mapping | None = None,
                      skip_bad: bool = False) -> ProjectPool:
    """Find, check, decode and crop a project's images.

    Args:
        root: the image folder (read only).
        input_size: the network input S.
        imported: landmarks from imported annotations, by relative image path (0-based).
        import_problems: (file, reason) of unusable imported annotations (bad files too).
        boxes: a face-box CSV (`trainers.inference.inputs` format; one row per image).
        options: the `folder` data set options that apply: `flip_perm`, `eye_idx`,
            `box_adjust`.
        skip_bad: leave bad files out (listed in `skipped`) instead of raising.

    Raises:
        ProjectInputError: bad files (corrupt `.pts`, a landmark count other than the
            others', an unreadable image, two images with one stem), one line each.
        DatasetError: no images at all, or a bad layout option.
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
    bad = {str(p): why for p, why in _duplicate_stems(root, images).items()}
    bad.update(dict(import_problems))
    images = [p for p in images if str(p) not in bad]
    labels = _read_labels(root, images, imported or {}, bad)
    count = _check_counts(labels, bad)
    decoded = {}
    for p in images:
        try:
            decoded[p] = decode_rgb(p)
        except DatasetError as e:
            bad[str(p)] = str(e).removeprefix(f"{p}: ")
    skipped = _finish_bad(root, bad, skip_bad)
    images = [p for p in images if p in decoded]
    if not images:
        raise DatasetError(f"--images {root}: no usable images left")
    adjust = tuple(float(v) for v in options.get("box_adjust", DEFAULT_BOX_ADJUST))
    return _crop_pool(root, images, decoded, labels, box_of, count or 0, input_size,
                      (adjust[0], adjust[1]), options, skipped)


def _crop_pool(root: Path, images: list[Path], decoded: dict[Path, np.ndarray],
               labels: dict[Path, tuple[np.ndarray, str]], box_of: dict[Path, np.ndarray],
               count: int, input_size: int, adjust: tuple[float, float], options: Mapping,
               skipped: list[tuple[str, str]]) -> ProjectPool:
    """Cut every image's crop (geometry in the module docstring)."""
    m, n = margin_size(input_size), len(images)
    crops = np.zeros((n, m, m, 3), dtype=np.uint8)
    crop_lms = np.zeros((n, count, 2), dtype=np.float32)
    affines = np.zeros((n, 2, 3), dtype=np.float64)
    sizes = np.zeros((n, 2), dtype=np.int64)
    landmarks, sources = {}, {}
    for i, p in enumerate(images):
        image = decoded[p]
        sizes[i] = (image.shape[1], image.shape[0])
        lms = labels[p][0] if p in labels else None
        box = box_of.get(p)
        if box is None and lms is not None:
            box = landmark_boxes(lms[None])[0]  # the folder data set's default box
        roi = (whole_image_roi(image.shape[1], image.shape[0], input_size) if box is None
               else face_roi(box, lms, "bb_ground_truth", input_size, adjust))
        crops[i] = crop_image(image, roi, m)
        affines[i] = roi_to_original(roi, m)
        if lms is not None:
            crop_lms[i] = points_to_crop(lms, roi, m)
            landmarks[i], sources[i] = lms, labels[p][1]
    if count:
        layout = make_layout(count, options.get("flip_perm"), options.get("eye_idx"))
        flip, eyes = layout.flip_perm, layout.eye_idx
    else:  # nothing labeled yet: no layout until the first annotations
        flip, eyes = np.zeros(0, dtype=np.int64), (0, 0)
    names = [p.relative_to(root).as_posix() for p in images]
    cropset = CropSet(images=crops, landmarks=crop_lms, input_size=input_size, flip_perm=flip,
                      eye_idx=eyes, to_original=affines, names=names,
                      meta={"dataset": "project", "box_adjust": list(adjust)})
    return ProjectPool(root, names, sorted(landmarks), landmarks, sources, cropset, sizes,
                       skipped)
