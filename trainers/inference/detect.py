"""Face detection that works offline: OpenCV's Haar cascades, shipped inside the
`opencv-python-headless` wheel (extra `scaf-al[detect]`; pinned below 5, whose wheels no
longer carry the cascade files).

The detector looks at a reduced copy of the photo (short side about `DETECT_SIDE` pixels,
a cheap `Image.draft` decode for JPEG) and returns boxes in the full-resolution, upright
frame. Each box carries a score: the cascade's final-stage weight (higher is more
face-like; `detectMultiScale3` with `outputRejectLevels`). Three cascades run: the
frontal one, the profile one and the profile one on the mirrored image (the profile
cascade knows one side only); a box whose centre lies inside a box already kept (higher
score first) is the same face and is dropped.

Why this detector: it is the only one that installs beside torch 2.13 and numpy 2 with its
weights inside a registry package (mediapipe's bundled models need numpy < 2, dlib builds
from source for minutes); the frontal cascades were compared by their recall on real
photographs and composed group photos (README, "Faces found offline"): the frontal
cascade with the profile cascade found 13 of 21 faces, the frontal cascades alone 7 to 9.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from trainers.inference.inputs import PredictError

EXTRA = "scaf-al[detect]"
CASCADES = ("haarcascade_frontalface_default.xml", "haarcascade_profileface.xml")
DETECT_SIDE = 1024  # short side of the copy the detector looks at
HAAR_WINDOW = 20  # the cascade's training window (pixels of the copy)
SCALE_FACTOR = 1.1
MIN_NEIGHBORS = 3


class DetectorMissing(PredictError):
    """Face detection was needed but the detector's package is not installed."""


def missing_message() -> str:
    return (f"finding faces needs the extra {EXTRA} (pip install '{EXTRA}', the OpenCV "
            "face detector); or give face boxes with --boxes")


@dataclass(frozen=True)
class DetectedFace:
    """One face: box (x_min, y_min, x_max, y_max) in full-resolution upright pixels, and
    the detector's score."""

    box: np.ndarray
    score: float


class FaceDetector:
    """OpenCV's frontal-face Haar cascade (see the module docstring).

    Args:
        min_face: leave out faces whose box side is below this many pixels (full
            resolution); 0 keeps every face the cascade can see.
    """

    name = "opencv-haar:frontalface_default+profileface"

    def __init__(self, min_face: int = 0) -> None:
        if min_face < 0:
            raise PredictError(f"--min-face must be >= 0 pixels, got {min_face}")
        try:
            import cv2
        except ImportError:
            raise DetectorMissing(missing_message()) from None
        self._cascades = []
        for name in CASCADES:
            path = Path(cv2.data.haarcascades) / name  # type: ignore[attr-defined]
            cascade = cv2.CascadeClassifier(str(path))
            if cascade.empty():
                raise DetectorMissing(f"{path}: the OpenCV cascade file is missing (opencv 5 "
                                      f"dropped them); reinstall {EXTRA}, or give --boxes")
            self._cascades.append(cascade)
        self._cv2: Any = cv2
        self.min_face = int(min_face)

    def _run(self, cascade: Any, grey: np.ndarray, min_side: int, mirrored: bool
             ) -> list[tuple[np.ndarray, float]]:
        """(box, weight) of one cascade in the reduced copy's pixels."""
        image = np.ascontiguousarray(grey[:, ::-1]) if mirrored else grey
        rects, _levels, weights = cascade.detectMultiScale3(
            image, scaleFactor=SCALE_FACTOR, minNeighbors=MIN_NEIGHBORS,
            minSize=(min_side, min_side), outputRejectLevels=True)
        width = grey.shape[1]
        out = []
        for (x, y, w, h), weight in zip(np.asarray(rects).reshape(-1, 4),
                                        np.asarray(weights).reshape(-1), strict=True):
            left = width - x - w if mirrored else x
            out.append((np.array([left, y, left + w, y + h], dtype=np.float64), float(weight)))
        return out

    def detect(self, small: np.ndarray, scale: float) -> list[DetectedFace]:
        """Faces in `small` (H x W x 3 uint8 RGB, the reduced copy), with `scale` the factor
        from its pixels to the full-resolution ones; sorted left to right, then top down."""
        cv2 = self._cv2
        grey = cv2.cvtColor(np.ascontiguousarray(small), cv2.COLOR_RGB2GRAY)
        min_side = max(HAAR_WINDOW, int(np.ceil(self.min_face / scale)))
        frontal, profile = self._cascades
        found = (self._run(frontal, grey, min_side, False)
                 + self._run(profile, grey, min_side, False)
                 + self._run(profile, grey, min_side, True))
        kept: list[DetectedFace] = []
        for box, weight in sorted(found, key=lambda f: -f[1]):
            full = box * scale
            cx, cy = (full[0] + full[2]) / 2, (full[1] + full[3]) / 2
            if any(k.box[0] <= cx <= k.box[2] and k.box[1] <= cy <= k.box[3] for k in kept):
                continue
            if min(full[2] - full[0], full[3] - full[1]) >= self.min_face:
                kept.append(DetectedFace(full, weight))
        return sorted(kept, key=lambda f: (round(float(f.box[0])), round(float(f.box[1]))))
