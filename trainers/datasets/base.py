"""LandmarkDataset: the common face of every landmark data source, and its error handling.

A data set is a list of faces: for face i an image file, its landmarks in original-image
pixel coordinates (0-based pixel centres, (x, y)) and one or more face boxes. Loaders
(300-W, WFLW, a user's folder) parse their on-disk formats into this class; `build_cropset`
turns it into a CropSet. Images are decoded only when asked (`load_image`).

Bad input is never silently used: every problem a loader finds is reported by a
`BadFiles` collector, which either raises one `DatasetError` listing all of them
(`on_bad_file="error"`, the default) or drops those faces and keeps `(path, reason)` in
`ds.skipped` (`on_bad_file="skip"`, with a warning saying how many).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from trainers.datasets.layouts import Layout

ON_BAD_FILE = ("error", "skip")

# Landmarks more than this fraction of the image side outside the image are an error:
# real annotations of cut-off faces stick out a little, never by a quarter of the image.
DEFAULT_MAX_OUTSIDE = 0.25


class DatasetError(ValueError):
    """A data set on disk is missing, malformed or holds bad files."""


class DatasetCountWarning(UserWarning):
    """The number of faces found differs from the official count."""


class SkippedFilesWarning(UserWarning):
    """Bad files were skipped (on_bad_file="skip"); see the data set's `skipped` list."""


def check_on_bad_file(value: str) -> str:
    if value not in ON_BAD_FILE:
        raise ValueError(f"on_bad_file must be one of {ON_BAD_FILE}, got {value!r}")
    return value


class BadFiles:
    """Collects bad files while a loader parses, then stops or skips as configured."""

    def __init__(self, on_bad_file: str, what: str) -> None:
        self.on_bad_file = check_on_bad_file(on_bad_file)
        self.what = what
        self.items: list[tuple[str, str]] = []

    def add(self, path: str | Path, reason: str) -> None:
        self.items.append((str(path), reason))

    def finish(self) -> list[tuple[str, str]]:
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
            stacklevel=3,
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
    """(width, height) from the image header, without decoding the pixels.

    Raises:
        DatasetError: when the file is missing or not an image Pillow can read.
    """
    if not path.is_file():
        raise DatasetError("image file not found")
    try:
        with Image.open(path) as im:
            return int(im.size[0]), int(im.size[1])
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


def decode_rgb(path: Path) -> np.ndarray:
    """Decode an image to HxWx3 uint8 RGB (grey, palette, RGBA, CMYK converted).

    Raises:
        DatasetError: naming the file when it is missing, truncated or not an image.
    """
    try:
        with Image.open(path) as im:
            im.load()
            if im.mode != "RGB":
                # Alpha is dropped, not blended, as 3FabRec's cv2 RGBA2RGB does.
                im = im.convert("RGB")
            arr = np.asarray(im, dtype=np.uint8)
    except FileNotFoundError as e:
        raise DatasetError(f"{path}: image file not found") from e
    except (UnidentifiedImageError, OSError, ValueError) as e:
        raise DatasetError(f"{path}: unreadable image ({e})") from e
    return arr


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


def landmark_boxes(landmarks: np.ndarray) -> np.ndarray:
    """(N, 4) tight boxes x_min, y_min, x_max, y_max around (N, L, 2) landmarks."""
    return np.concatenate([landmarks.min(axis=1), landmarks.max(axis=1)], axis=1)


class LandmarkDataset:
    """Faces of one split of one data set, with landmarks and boxes in original pixels.

    Attributes:
        name: data set name ("300w", "wflw", "folder", ...).
        split: split name.
        root: the folder the data set was read from.
        layout: landmark layout (count, flip permutation, normalising eye pair).
        landmarks: (N, L, 2) float64, 0-based (x, y) in original-image pixels.
        image_paths: N image paths (a photo with several faces appears several times).
        boxes: (N, 4) float64 x_min, y_min, x_max, y_max, 0-based: the default box
            (`box_sets["bb_ground_truth"]`).
        box_sets: named (N, 4) box arrays by crop source ("bb_ground_truth",
            "bb_detector"); a crop source missing here is not available for this data.
        box_adjust: (top, bottom) fractions of the box height by which the crop moves the
            box's top up and bottom down (3FabRec: 300-W (0.2, 0.12), WFLW (0.0, 0.1)).
        names: N unique identifiers (relative path, plus the annotation line for WFLW).
        groups: N source folder / list names (e.g. "helen/testset"), for reports.
        attributes: named (N,) per-face flags (WFLW: pose, expression, ...).
        skipped: (path, reason) for each face left out with on_bad_file="skip".
        image_sizes: (N, 2) width, height from the image headers (0 when not probed).
        annotation_files: the annotation files read, for cache keys.
        count_problems: messages of count mismatches found while loading.
    """

    def __init__(
        self,
        *,
        name: str,
        split: str,
        root: Path,
        layout: Layout,
        landmarks: np.ndarray,
        image_paths: Sequence[Path],
        box_sets: dict[str, np.ndarray] | None = None,
        box_adjust: tuple[float, float] = (0.0, 0.0),
        names: Sequence[str] | None = None,
        groups: Sequence[str] | None = None,
        attributes: dict[str, np.ndarray] | None = None,
        skipped: Sequence[tuple[str, str]] = (),
        image_sizes: np.ndarray | None = None,
        annotation_files: Sequence[Path] = (),
        count_problems: Sequence[str] = (),
        on_bad_file: str = "error",
    ) -> None:
        n = len(image_paths)
        landmarks = np.asarray(landmarks, dtype=np.float64).reshape(n, layout.num_landmarks, 2)
        self.name = name
        self.split = split
        self.root = Path(root)
        self.layout = layout
        self.landmarks = landmarks
        self.image_paths = [Path(p) for p in image_paths]
        sets = dict(box_sets or {})
        if "bb_ground_truth" not in sets:
            sets["bb_ground_truth"] = landmark_boxes(landmarks) if n else np.zeros((0, 4))
        self.box_sets = {k: np.asarray(v, dtype=np.float64).reshape(n, 4) for k, v in sets.items()}
        self.box_adjust = (float(box_adjust[0]), float(box_adjust[1]))
        self.names = list(names) if names is not None else [str(p) for p in self.image_paths]
        self.groups = list(groups) if groups is not None else [""] * n
        self.attributes = {k: np.asarray(v) for k, v in (attributes or {}).items()}
        self.skipped = list(skipped)
        self.image_sizes = (
            np.zeros((n, 2), dtype=np.int64) if image_sizes is None
            else np.asarray(image_sizes, dtype=np.int64).reshape(n, 2)
        )
        self.annotation_files = [Path(p) for p in annotation_files]
        self.count_problems = list(count_problems)
        self.on_bad_file = check_on_bad_file(on_bad_file)
        if len(self.names) != n or len(self.groups) != n:
            raise ValueError("names and groups must have one entry per face")

    def __len__(self) -> int:
        return len(self.image_paths)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(name={self.name!r}, split={self.split!r}, n={len(self)}, "
            f"landmarks={self.layout.num_landmarks}, skipped={len(self.skipped)})"
        )

    @property
    def boxes(self) -> np.ndarray:
        """(N, 4) default face boxes (ground-truth boxes), 0-based."""
        return self.box_sets["bb_ground_truth"]

    @property
    def flip_perm(self) -> np.ndarray:
        return self.layout.flip_perm

    @property
    def eye_idx(self) -> tuple[int, int]:
        return self.layout.eye_idx

    def load_image(self, i: int) -> np.ndarray:
        """Decode face i's image as HxWx3 uint8 RGB.

        Raises:
            DatasetError: naming the file when it cannot be decoded.
        """
        return decode_rgb(self.image_paths[i])

    def crop_boxes(self, crop_source: str) -> np.ndarray:
        """(N, 4) boxes for a box crop source ("bb_ground_truth" or "bb_detector").

        Raises:
            ValueError: when this data set has no boxes of that kind.
        """
        if crop_source not in self.box_sets:
            raise ValueError(
                f"{self.name}/{self.split} has no {crop_source!r} boxes "
                f"(available: {sorted(self.box_sets)}, or 'lm_ground_truth')"
            )
        boxes = self.box_sets[crop_source]
        missing = ~np.isfinite(boxes).all(axis=1)
        if missing.any():
            ex = [self.names[i] for i in np.flatnonzero(missing)[:5]]
            raise ValueError(
                f"{self.name}/{self.split}: {int(missing.sum())} face(s) have no "
                f"{crop_source!r} box, e.g. {ex}"
            )
        return boxes
