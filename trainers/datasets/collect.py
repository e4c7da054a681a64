"""Loaders parse, one collector checks and builds: FaceRecord, FaceCollector, BadFiles.

Each loader (300-W, WFLW, a user's folder) only turns its format into `FaceRecord`s and
hands them to a `FaceCollector`, which checks the box, probes the image header and checks
the landmarks, keeps the good faces and builds the LandmarkDataset. Bad input is never
silently used: every problem is reported, and the collector either raises one
`DatasetError` listing all of them (`on_bad_file="error"`, the default) or drops those
faces and keeps `(path, reason)` in `ds.skipped` (`on_bad_file="skip"`, with a warning
saying how many).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from trainers.datasets.base import (
    DatasetCountWarning,
    DatasetError,
    LandmarkDataset,
    SkippedFilesWarning,
    check_on_bad_file,
    landmark_boxes,
    too_many_pixels,
)
from trainers.datasets.layouts import Layout
from trainers.datasets.upright import upright_size

# Landmarks more than this fraction of the image side outside the image are an error:
# real annotations of cut-off faces stick out a little, never by a quarter of the image.
DEFAULT_MAX_OUTSIDE = 0.25


class BadFiles:
    """Collects bad files while a loader parses, then stops or skips as configured."""

    def __init__(self, on_bad_file: str, what: str) -> None:
        self.on_bad_file = check_on_bad_file(on_bad_file)
        self.what = what
        self.items: list[tuple[str, str]] = []

    def add(self, path: str | Path, reason: str) -> None:
        self.items.append((str(path), reason))

    def finish(self, stacklevel: int = 3) -> list[tuple[str, str]]:
        """Raise for on_bad_file="error", else warn; returns the (path, reason) list."""
        if not self.items:
            return []
        if self.on_bad_file == "error":
            lines = "\n".join(f"  {p}: {r}" for p, r in self.items[:50])
            more = f"\n  ... and {len(self.items) - 50} more" if len(self.items) > 50 else ""
            raise DatasetError(
                f"{len(self.items)} bad file(s) in {self.what}:\n{lines}{more}\n"
                "(pass on_bad_file='skip' to leave them out and keep a report in ds.skipped)"
            )
        warnings.warn(
            f"{self.what}: skipped {len(self.items)} bad file(s), e.g. "
            f"{self.items[0][0]}: {self.items[0][1]} (full list in ds.skipped)",
            SkippedFilesWarning,
            stacklevel=stacklevel,
        )
        return list(self.items)


def check_count(what: str, found: int, expected: int, strict: bool, unit: str = ".pts files",
                note: str = "") -> str | None:
    """Compare a count with the official one: warn, or raise with strict=True.

    Returns the message when the counts differ (for reports), else None.
    """
    if found == expected:
        return None
    msg = f"{what}: {found} {unit}, expected {expected}{note}"
    if strict:
        raise DatasetError(msg)
    warnings.warn(msg, DatasetCountWarning, stacklevel=3)
    return msg


def probe_image(path: Path) -> tuple[int, int]:
    """(width, height) from the image header, without decoding the pixels, as shown
    (upright: the sides swapped when the EXIF orientation turns the image a quarter).

    Raises:
        DatasetError: when the file is missing or not an image Pillow can read.
    """
    if not path.is_file():
        raise DatasetError("image file not found")
    try:
        with Image.open(path) as im:
            w, h = upright_size(im)
            return int(w), int(h)
    except Image.DecompressionBombError as e:
        raise DatasetError(too_many_pixels(e)) from e
    except (UnidentifiedImageError, OSError, ValueError) as e:
        raise DatasetError(f"unreadable image ({e})") from e


def probe_image_cached(path: Path, cache: dict[Path, tuple[int, int] | str]
                       ) -> tuple[int, int] | str:
    """`probe_image` once per file (photos with several faces repeat): the (width, height),
    or the problem as text."""
    if path not in cache:
        try:
            cache[path] = probe_image(path)
        except DatasetError as e:
            cache[path] = str(e)
    return cache[path]


def landmark_problem(
    lms: np.ndarray,
    num_landmarks: int,
    image_size: tuple[int, int] | None,
    max_outside: float = DEFAULT_MAX_OUTSIDE,
) -> str | None:
    """Why a face's landmarks are unusable, or None when they are fine.

    Args:
        lms: (L, 2) 0-based (x, y).
        num_landmarks: the count the layout needs.
        image_size: (width, height), or None to skip the inside-the-image test.
        max_outside: how far outside the image a point may lie, as a fraction of the side.
    """
    if lms.shape != (num_landmarks, 2):
        return f"{lms.shape[0]} landmarks, expected {num_landmarks}"
    bad = ~np.isfinite(lms).all(axis=1)
    if bad.any():
        return f"non-finite (NaN/inf) coordinates at landmark(s) {np.flatnonzero(bad).tolist()}"
    if image_size is not None:
        w, h = image_size
        lo = -max_outside * np.array([w, h])
        hi = np.array([w - 1, h - 1]) + max_outside * np.array([w, h])
        out = ((lms < lo) | (lms > hi)).any(axis=1)
        if out.any():
            i = int(np.flatnonzero(out)[0])
            return (
                f"landmark {i} at ({lms[i, 0]:.1f}, {lms[i, 1]:.1f}) lies far outside the "
                f"{w}x{h} image ({int(out.sum())} point(s) more than {max_outside:.0%} of "
                "the image side outside)"
            )
    return None


@dataclass
class FaceRecord:
    """One face as a loader parsed it from its format, before any check.

    Attributes:
        image: the image file.
        landmarks: (L, 2) 0-based (x, y) in original-image pixels.
        name: identifier in reports and cache keys (made unique by the collector).
        group: source folder or list name (e.g. "helen/testset").
        where: what a report of a bad box or bad landmarks names: the `.pts` file, or the
            annotation line ("list.txt:12 (image.jpg)").
        box: the annotated face box x_min, y_min, x_max, y_max (0-based), or None for the
            tight box around the landmarks.
        detector_box: a face detector's box, or None (NaN in the data set) when there is none.
        attributes: per-face flags by name (WFLW: pose, expression, ...).
        image_where: what a report of a missing or unreadable image names when not the
            image file itself (the reason then starts with the image path).
    """

    image: Path
    landmarks: np.ndarray
    name: str
    group: str
    where: str | Path
    box: np.ndarray | None = None
    detector_box: np.ndarray | None = None
    attributes: dict[str, int] = field(default_factory=dict)
    image_where: str | Path | None = None


def box_problem(box: np.ndarray) -> str | None:
    """Why a face box is unusable (not finite, or no area), or None when it is fine."""
    if np.isfinite(box).all() and box[2] > box[0] and box[3] > box[1]:
        return None
    return (f"bad face rectangle {box.tolist()} (x_min, y_min, x_max, y_max must be finite, "
            "with x_min < x_max and y_min < y_max)")


class FaceCollector:
    """Checks the faces a loader parsed, keeps the good ones, reports the bad, builds the set.

    Every face goes through the same checks in the same order: its box, its image header
    (probed once per file, as photos with several faces repeat), then its landmarks (count,
    finite, inside the image). Problems found while parsing go to `bad_file`.

    Args:
        what: the data in error messages, e.g. "300-W train under /data/300W".
        on_bad_file: "error" or "skip" (see the module docstring).
        num_landmarks: the count every face needs; None takes that of the first face whose
            box and image are fine (user data of any layout).
        check_images: probe each image header (existence, readability, size).
        max_outside: how far (fraction of the image side) landmarks may stick out.
    """

    def __init__(self, what: str, on_bad_file: str = "error", *, num_landmarks: int | None = None,
                 check_images: bool = True, max_outside: float = DEFAULT_MAX_OUTSIDE) -> None:
        self.bad = BadFiles(on_bad_file, what)
        self.num_landmarks = num_landmarks
        self.check_images = check_images
        self.max_outside = max_outside
        self.faces: list[FaceRecord] = []
        self.sizes: list[tuple[int, int]] = []
        self._probed: dict[Path, tuple[int, int] | str] = {}

    def bad_file(self, path: str | Path, reason: str) -> None:
        """Report a problem the loader found while parsing (the face is left out)."""
        self.bad.add(path, reason)

    def add(self, face: FaceRecord) -> bool:
        """Check one face: keep it and return True, or report it and return False."""
        if face.box is not None and (problem := box_problem(face.box)):
            self.bad.add(face.where, problem)
            return False
        size = None
        if self.check_images:
            probed = probe_image_cached(face.image, self._probed)
            if isinstance(probed, str):
                if face.image_where is None:
                    self.bad.add(face.image, probed)
                else:
                    self.bad.add(face.image_where, f"{face.image}: {probed}")
                return False
            size = probed
        if self.num_landmarks is None:
            self.num_landmarks = int(face.landmarks.shape[0])
        problem = landmark_problem(face.landmarks, self.num_landmarks, size, self.max_outside)
        if problem:
            self.bad.add(face.where, problem)
            return False
        self.faces.append(face)
        self.sizes.append(size or (0, 0))
        return True

    def dataset(
        self,
        *,
        name: str,
        split: str,
        root: Path,
        layout: Layout | Callable[[int], Layout],
        box_adjust: tuple[float, float],
        detector_boxes: bool = False,
        attribute_names: Sequence[str] = (),
        annotation_files: Sequence[Path] = (),
        count_problems: Sequence[str] = (),
    ) -> LandmarkDataset:
        """Stop or warn about the bad files (per on_bad_file), then build the data set.

        Args:
            layout: the landmark layout, or a function making it from the landmark count
                (for user data, whose count is known only now).
            detector_boxes: the data has a "bb_detector" box set (faces without one: NaN).
            attribute_names: the per-face flags every record carries.
            Others: as LandmarkDataset.

        Raises:
            DatasetError: bad files with on_bad_file="error", or no usable face to learn
                the landmark count from.
        """
        skipped = self.bad.finish(stacklevel=4)
        if self.num_landmarks is None:
            listed = "".join(f"\n  {p}: {r}" for p, r in skipped[:20])
            raise DatasetError(f"no usable faces in {self.bad.what}{listed}")
        layout = layout(self.num_landmarks) if callable(layout) else layout
        faces, n = self.faces, len(self.faces)
        lms = np.array([f.landmarks for f in faces]).reshape(n, layout.num_landmarks, 2)
        tight = landmark_boxes(lms) if n else np.zeros((0, 4))
        box_sets = {"bb_ground_truth": np.array(
            [tight[i] if f.box is None else f.box for i, f in enumerate(faces)]).reshape(n, 4)}
        if detector_boxes:
            no_box = np.full(4, np.nan)
            box_sets["bb_detector"] = np.array(
                [no_box if f.detector_box is None else f.detector_box for f in faces]
            ).reshape(n, 4)
        names = [f.name for f in faces]
        if len(set(names)) != n:  # several faces in one image: keep names unique
            names = [f"{nm}@{i}" for i, nm in enumerate(names)]
        return LandmarkDataset(
            name=name, split=split, root=root, layout=layout, landmarks=lms,
            image_paths=[f.image for f in faces], box_sets=box_sets, box_adjust=box_adjust,
            names=names, groups=[f.group for f in faces],
            attributes={k: np.array([f.attributes[k] for f in faces], dtype=np.int64)
                        for k in attribute_names},
            skipped=skipped, image_sizes=np.array(self.sizes).reshape(n, 2),
            annotation_files=annotation_files, count_problems=count_problems,
            on_bad_file=self.bad.on_bad_file,
        )
