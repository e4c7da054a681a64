"""Landmark layouts: flip permutations and normalising eye corners (0-based indices).

After mirroring x, a flipped face's landmarks are `new[i] = old[FLIP[i]]`; each table is
its own inverse. Outer eye corners normalise NME: 36/45 for iBUG-68, 60/72 for WFLW-98.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FLIP_68 = np.array(
    [16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0,
     26, 25, 24, 23, 22, 21, 20, 19, 18, 17,
     27, 28, 29, 30,
     35, 34, 33, 32, 31,
     45, 44, 43, 42, 47, 46,
     39, 38, 37, 36, 41, 40,
     54, 53, 52, 51, 50, 49, 48,
     59, 58, 57, 56, 55,
     64, 63, 62, 61, 60,
     67, 66, 65],
    dtype=np.int64,
)  # fmt: skip

FLIP_98 = np.array(
    [32, 31, 30, 29, 28, 27, 26, 25, 24, 23, 22, 21, 20, 19, 18, 17, 16, 15, 14, 13, 12,
     11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0,
     46, 45, 44, 43, 42, 50, 49, 48, 47,
     37, 36, 35, 34, 33, 41, 40, 39, 38,
     51, 52, 53, 54,
     59, 58, 57, 56, 55,
     72, 71, 70, 69, 68, 75, 74, 73,
     64, 63, 62, 61, 60, 67, 66, 65,
     82, 81, 80, 79, 78, 77, 76,
     87, 86, 85, 84, 83,
     92, 91, 90, 89, 88,
     95, 94, 93,
     97, 96],
    dtype=np.int64,
)  # fmt: skip

@dataclass(frozen=True)
class Layout:
    """A landmark convention: number of points, flip permutation, outer eye corners."""

    name: str
    num_landmarks: int
    flip_perm: np.ndarray
    eye_idx: tuple[int, int]


IBUG_68 = Layout("ibug68", 68, FLIP_68, (36, 45))
WFLW_98 = Layout("wflw98", 98, FLIP_98, (60, 72))

LAYOUTS = {layout.name: layout for layout in (IBUG_68, WFLW_98)}


def standard_layout(num_landmarks: int) -> Layout | None:
    """The standard layout with `num_landmarks` points (68: iBUG, 98: WFLW), or None."""
    return next((lay for lay in LAYOUTS.values() if lay.num_landmarks == num_landmarks), None)


def check_flip_perm(perm: np.ndarray, num_landmarks: int) -> np.ndarray:
    """Validate a user-given flip permutation: a self-inverse permutation of range(L)."""
    perm = np.asarray(perm, dtype=np.int64)
    if perm.shape != (num_landmarks,) or sorted(perm.tolist()) != list(range(num_landmarks)):
        raise ValueError(
            f"flip permutation must be a permutation of 0..{num_landmarks - 1}, got {perm.tolist()}"
        )
    if not np.array_equal(perm[perm], np.arange(num_landmarks)):
        raise ValueError("flip permutation must be its own inverse (pairs swap, others fixed)")
    return perm
