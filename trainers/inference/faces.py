"""From a photo to its faces' crops, keeping only the crops: decode, detect, crop, release.

A photo's faces come from a face-box CSV (several rows per image), from the face detector
(`trainers.inference.detect`, on a reduced-size decode), or, in whole-image mode, the
photo is one face already. Each face is (image, face index n), n = 1, 2, ... (the box
file's, or the detector's left-to-right order).

The full-resolution image is decoded once per photo, only to cut its face crops, and
released before the next photo: memory holds the crops, not the collection.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from trainers.datasets.base import decode_reduced, decode_rgb
from trainers.datasets.crops import crop_image
from trainers.inference.detect import DETECT_SIDE, FaceDetector


@dataclass(frozen=True)
class PhotoFace:
    """One face of a photo: its index n, box (x_min, y_min, x_max, y_max; upright
    original pixels) and the detector's score (NaN for a given box)."""

    face: int
    box: np.ndarray
    score: float = math.nan


def detect_faces(path: Path, detector: FaceDetector) -> list[PhotoFace]:
    """The detector's faces of one photo (reduced decode, released at once), numbered
    1, 2, ... left to right."""
    small, scale = decode_reduced(path, DETECT_SIDE)
    found = detector.detect(small, scale)
    del small
    return [PhotoFace(n, f.box, f.score) for n, f in enumerate(found, start=1)]


def given_faces(boxes: dict[int, np.ndarray]) -> list[PhotoFace]:
    """A box file's faces of one photo, by face index."""
    return [PhotoFace(n, np.asarray(b, dtype=np.float64)) for n, b in sorted(boxes.items())]


def whole_image_face(size: tuple[int, int]) -> PhotoFace:
    """The whole image as face 1 (its extent [0, w] x [0, h] as the box)."""
    return PhotoFace(1, np.array([0.0, 0.0, float(size[0]), float(size[1])]))


def cut_crops(path: Path, rois: Sequence[np.ndarray], m: int) -> list[np.ndarray]:
    """The M x M crops of `rois` from the full-resolution upright image (decoded here and
    released on return)."""
    if not rois:
        return []
    image = decode_rgb(path)
    crops = [crop_image(image, roi, m) for roi in rois]
    del image
    return crops


def stack(crops: list[np.ndarray], m: int) -> np.ndarray:
    """(N, M, M, 3) from a list of crops, emptying the list as it goes (no second copy of
    every crop at the peak)."""
    out = np.zeros((len(crops), m, m, 3), dtype=np.uint8)
    for i in range(len(crops)):
        out[i] = crops[i]
        crops[i] = out[i]  # the list now points into `out`
    crops.clear()
    return out
