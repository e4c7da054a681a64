"""CropSet: the one in-memory form every data set takes before training.

Every source (synthetic faces, 300-W, WFLW, a user's folder) ends up as face crops of a
fixed *margin size* M = ceil(S * sqrt(2)) around the face square, exactly as 3FabRec cuts
its 363x363 crops for a 256 input. Augmentation (flip, affine) runs on the M crop; the
network then sees the central S x S window (offset (M - S) // 2), which shows exactly the
face square. Landmarks live in the M-crop frame, 0-based pixel centres, (x, y).

`to_original` maps crop coordinates back to the original image so metrics can be computed
in original-image pixels: p_orig = A[:, :2] @ p_crop + A[:, 2] per image.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np


def margin_size(input_size: int) -> int:
    """Side of the stored crop for a network input of `input_size` (256 -> 363)."""
    return math.ceil(input_size * math.sqrt(2))


def centre_offset(input_size: int) -> int:
    """Offset of the network's S x S window inside the M x M crop (256 -> 53)."""
    return (margin_size(input_size) - input_size) // 2


@dataclass
class CropSet:
    """Face crops plus landmarks, ready for training, scoring and evaluation.

    Attributes:
        images: (N, M, M, 3) uint8 RGB crops, M = margin_size(input_size).
        landmarks: (N, L, 2) float32, (x, y) in the M-crop frame, 0-based.
        input_size: network input side S.
        flip_perm: (L,) int, horizontal-flip permutation: new[i] = old[flip_perm[i]].
        eye_idx: indices of the two outer eye corners used to normalise NME.
        to_original: (N, 2, 3) float64 affine crop -> original-image coordinates.
        names: (N,) identifiers (file path or synthetic id), for reports and galleries.
        meta: free-form facts about the source (data set name, split, crop settings).
    """

    images: np.ndarray
    landmarks: np.ndarray
    input_size: int
    flip_perm: np.ndarray
    eye_idx: tuple[int, int]
    to_original: np.ndarray
    names: list[str]
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.images)
        m = margin_size(self.input_size)
        if self.images.ndim != 4 or self.images.shape[1:] != (m, m, 3):
            raise ValueError(
                f"CropSet.images must be (N, {m}, {m}, 3) for input_size={self.input_size}, "
                f"got {self.images.shape}"
            )
        if self.images.dtype != np.uint8:
            raise ValueError(f"CropSet.images must be uint8, got {self.images.dtype}")
        if self.landmarks.shape[0] != n or self.landmarks.shape[2:] != (2,):
            raise ValueError(
                f"CropSet.landmarks must be ({n}, L, 2), got {self.landmarks.shape}"
            )
        if self.to_original.shape != (n, 2, 3):
            raise ValueError(
                f"CropSet.to_original must be ({n}, 2, 3), got {self.to_original.shape}"
            )
        if len(self.names) != n:
            raise ValueError(f"CropSet.names has {len(self.names)} entries for {n} images")
        if len(self.flip_perm) != self.num_landmarks:
            raise ValueError(
                f"flip_perm has {len(self.flip_perm)} entries for {self.num_landmarks} landmarks"
            )

    def __len__(self) -> int:
        return len(self.images)

    @property
    def num_landmarks(self) -> int:
        return int(self.landmarks.shape[1])

    @property
    def margin(self) -> int:
        return margin_size(self.input_size)

    def subset(self, idx: np.ndarray) -> CropSet:
        """The crops at `idx` (a view-free copy of only those rows)."""
        idx = np.asarray(idx, dtype=np.int64)
        return CropSet(
            images=self.images[idx],
            landmarks=self.landmarks[idx],
            input_size=self.input_size,
            flip_perm=self.flip_perm,
            eye_idx=self.eye_idx,
            to_original=self.to_original[idx],
            names=[self.names[i] for i in idx],
            meta=dict(self.meta),
        )

    def landmarks_to_original(
        self, crop_xy: np.ndarray, idx: np.ndarray | None = None
    ) -> np.ndarray:
        """Map (n, L, 2) points from the M-crop frame to original-image coordinates."""
        a = self.to_original if idx is None else self.to_original[np.asarray(idx)]
        return np.einsum("nij,nlj->nli", a[:, :, :2], crop_xy) + a[:, None, :, 2]
