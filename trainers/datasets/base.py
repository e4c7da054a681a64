"""LandmarkDataset: the common face of every landmark data source, and its errors.

A data set is a list of faces: for face i an image file, its landmarks in original-image
pixel coordinates (0-based pixel centres, (x, y)) and one or more face boxes. Loaders
(300-W, WFLW, a user's folder) parse their on-disk formats into `FaceRecord`s, which one
`FaceCollector` (trainers.datasets.collect) checks and builds into this class;
`build_cropset` turns it into a CropSet. Images are decoded only when asked (`load_image`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from trainers.datasets.layouts import Layout
from trainers.datasets.upright import draft_for, orientation, to_upright

ON_BAD_FILE = ("error", "skip")


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


def decode_rgb(path: Path) -> np.ndarray:
    """Decode an image to HxWx3 uint8 RGB (grey, palette, RGBA, CMYK converted), upright:
    its EXIF orientation applied (`trainers.datasets.upright`).

    Raises:
        DatasetError: naming the file when it is missing, truncated or not an image.
    """
    return decode_reduced(path, 0)[0]


def decode_reduced(path: Path, min_side: int) -> tuple[np.ndarray, float]:
    """Decode an image upright (as `decode_rgb`), reduced so that its short side stays at
    least `min_side` pixels (0: full size): JPEG decodes at 1/2, 1/4 or 1/8 scale, other
    formats are decoded whole and resized. Returns the image and the factor from its pixels
    to the full-resolution ones (1.0 when not reduced).

    Raises:
        DatasetError: naming the file when it is missing, truncated or not an image.
    """
    im: Image.Image  # the opened file, or its RGB conversion
    try:
        with Image.open(path) as im:
            turn = orientation(im)
            full_w = im.size[0]
            if min_side:
                draft_for(im, min_side)
            im.load()
            if im.mode != "RGB":
                # Alpha is dropped, not blended, as 3FabRec's cv2 RGBA2RGB does.
                im = im.convert("RGB")
            if min_side and min(im.size) > 2 * min_side:
                factor = min_side / min(im.size)
                im = im.resize((max(1, round(im.size[0] * factor)),
                                max(1, round(im.size[1] * factor))), Image.Resampling.BOX)
            scale = full_w / im.size[0]
            arr = np.asarray(to_upright(im, turn), dtype=np.uint8)
    except FileNotFoundError as e:
        raise DatasetError(f"{path}: image file not found") from e
    except Image.DecompressionBombError as e:
        raise DatasetError(f"{path}: {too_many_pixels(e)}") from e
    except (UnidentifiedImageError, OSError, ValueError) as e:
        raise DatasetError(f"{path}: unreadable image ({e})") from e
    return arr, scale


def too_many_pixels(error: Image.DecompressionBombError) -> str:
    """The reason for an image over Pillow's decompression-bomb limit, in one phrase."""
    numbers = [f"{int(n):,}" for n in re.findall(r"(\d+) pixels", str(error))]
    size, limit = (numbers + ["?", "?"])[:2]
    return (f"image too large ({size} pixels, over Pillow's decompression-bomb limit of "
            f"{limit}); not read")


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
