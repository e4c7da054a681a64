"""TTA variance: how much the landmarks spread under random test-time augmentations.

Each augmented image is predicted and its landmarks mapped back to the un-augmented frame; a
landmark the model is sure of lands at the same place every time.
"""

from __future__ import annotations

import torch

from acquisition import checks
from acquisition.base import ScoreAcquisition
from acquisition.inputs import PoolChunk
from acquisition.registry import register

__all__ = ["TTAVariance", "tta_spread_scores"]


def tta_spread_scores(tta_landmarks: torch.Tensor, norm: torch.Tensor) -> torch.Tensor:
    """Mean over landmarks of the RMS distance to the landmark's mean position, over norm.

    With p_t = tta_landmarks[i, t, l] and m = (1/T) sum_t p_t, the spread of landmark l is
    s_l = sqrt((1/T) sum_t ||p_t - m||^2) (population RMS, 1/T), and
    score_i = (1/L) sum_l s_l / norm[i].

    Args:
        tta_landmarks: (n, T, L, 2) float32 or float64 landmarks under T augmentations,
            mapped back.
        norm: (n,) normalising distances in the same frame; its dtype is the result's.

    Returns:
        (n,) scores, higher = more spread = more worth labeling.
    """
    mean = tta_landmarks.mean(dim=1, keepdim=True)  # (n, 1, L, 2)
    per_axis = (tta_landmarks - mean).square_().mean(dim=1)  # (n, L, 2)
    # x + y from strided views: a reduction over a dimension of size 2 is slow in torch.
    spread = (per_axis[..., 0] + per_axis[..., 1]).sqrt_()  # (n, L)
    return spread.mean(dim=1, dtype=norm.dtype) / norm


@register("tta_variance")
class TTAVariance(ScoreAcquisition):
    """TTA variance: mean RMS spread of each landmark over T test-time augmentations, over norm.

    Args:
        samples: T, augmentations per pool image (>= 2); the loop reads it as
            :attr:`tta_samples`.
        discard_top: Fraction of top-ranked unlabeled items skipped before taking k.
    """

    needs = frozenset({"tta_landmarks"})

    def __init__(self, *, samples: int = 8, discard_top: float = 0.0) -> None:
        super().__init__(discard_top=discard_top)
        if isinstance(samples, bool) or not isinstance(samples, int):
            raise TypeError(f"tta_variance: samples must be an integer >= 2; got {samples!r}")
        if samples < 2:
            raise ValueError(
                f"tta_variance: samples must be >= 2 (one augmentation has no spread); "
                f"got {samples}"
            )
        self.samples = samples
        self.tta_samples = samples

    def compute_chunk_score(self, chunk: PoolChunk) -> torch.Tensor:
        """TTA spread of each item; see :func:`tta_spread_scores`."""
        points = checks.coordinates_tensor(
            chunk.tta_landmarks, "tta_landmarks", "(n, T, L, 2)", self.name
        )
        norm = checks.norm_tensor(chunk.norm, chunk.n, points.device, self.name)
        return tta_spread_scores(points, norm)
