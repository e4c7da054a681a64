"""Flip consistency: how far the landmarks move when the face is mirrored and mapped back.

A model that knows where a landmark is predicts it at the same place on the image and on its
mirror; disagreement between the two predictions is a label-free sign of uncertainty.
"""

from __future__ import annotations

import torch

from acquisition import checks
from acquisition.base import ScoreAcquisition
from acquisition.inputs import PoolChunk
from acquisition.registry import register

__all__ = ["FlipConsistency", "flip_consistency_scores"]


def flip_consistency_scores(
    landmarks: torch.Tensor, flip_landmarks: torch.Tensor, norm: torch.Tensor
) -> torch.Tensor:
    """Mean Euclidean distance between matching landmarks, divided by the item's norm.

    score_i = (1/L) sum_l ||landmarks[i, l] - flip_landmarks[i, l]||_2 / norm[i]

    Args:
        landmarks: (n, L, 2) float32 or float64 predictions on the image.
        flip_landmarks: (n, L, 2) predictions on its mirror, mapped back, same dtype.
        norm: (n,) normalising distances in the same frame; its dtype is the result's.

    Returns:
        (n,) scores, higher = less consistent = more worth labeling.
    """
    squared = (landmarks - flip_landmarks).square_()  # (n, L, 2)
    # x^2 + y^2 from strided views: a reduction over a dimension of size 2 is slow in torch.
    distances = (squared[..., 0] + squared[..., 1]).sqrt_()  # (n, L)
    return distances.mean(dim=1, dtype=norm.dtype) / norm


@register("flip_consistency")
class FlipConsistency(ScoreAcquisition):
    """Flip consistency: mean landmark distance between an image and its mirror, over norm.

    Args:
        discard_top: Fraction of top-ranked unlabeled items skipped before taking k.
    """

    needs = frozenset({"landmarks", "flip_landmarks"})

    def __init__(self, *, discard_top: float = 0.0) -> None:
        super().__init__(discard_top=discard_top)

    def compute_chunk_score(self, chunk: PoolChunk) -> torch.Tensor:
        """Flip consistency of each item; see :func:`flip_consistency_scores`."""
        plain = checks.coordinates_tensor(chunk.landmarks, "landmarks", "(n, L, 2)", self.name)
        flipped = checks.coordinates_tensor(
            chunk.flip_landmarks, "flip_landmarks", "(n, L, 2)", self.name
        ).to(plain.device)
        norm = checks.norm_tensor(chunk.norm, chunk.n, plain.device, self.name)
        return flip_consistency_scores(plain, flipped, norm)
