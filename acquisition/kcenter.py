"""k-center-greedy core-set selection (Sener & Savarese) on the encoder's latent features.

Labeled items are the initial centres; each pick is the unlabeled item farthest (Euclidean)
from its nearest centre, which then becomes a centre. Distances are computed directly from
coordinate differences (not the Gram-matrix shortcut, whose rounding can reorder near ties
and leaves duplicates at a small non-zero distance).
"""

from __future__ import annotations

import numpy as np
import torch

from acquisition import checks
from acquisition.base import SetAcquisition
from acquisition.registry import register

__all__ = ["KCenterGreedy", "distances_to", "kcenter_greedy", "nearest_centre_distances"]

# Centres per cdist call when initialising from the labeled set: bounds the (n, block)
# distance matrix at about 100 MB for a 100,000-item pool.
_CENTRE_BLOCK = 256
_DIRECT = "donot_use_mm_for_euclid_dist"


def kcenter_greedy(
    features: torch.Tensor, labeled: np.ndarray, k: int, rng: np.random.Generator | None
) -> tuple[np.ndarray, np.ndarray]:
    """Greedy k-center picks in order, with each pick's distance to its nearest centre.

    Ties go to the lowest pool index. Labeled and picked items are masked out, so duplicated
    feature rows are never picked twice. With no labeled item the first pick is drawn
    uniformly from ``rng`` (its distance is +inf: there is no centre yet).

    Args:
        features: (n, d) finite float tensor, any device.
        labeled: (n,) boolean numpy mask.
        k: Number of picks, 1 <= k <= number of unlabeled items.
        rng: numpy Generator; only needed when nothing is labeled.

    Returns:
        (pool indices (k,) int64, distances at pick time (k,) float64).

    References:
        Sener & Savarese, "Active Learning for Convolutional Neural Networks: A Core-Set
        Approach", ICLR 2018, Algorithm 1.
    """
    mask = torch.from_numpy(labeled).to(features.device)
    # (n,) distance of each item to its nearest centre; -inf marks centres so they never win.
    nearest = nearest_centre_distances(features, features[mask])
    nearest[mask] = -torch.inf
    picks = np.empty(k, dtype=np.int64)
    dists = np.empty(k, dtype=np.float64)
    for step in range(k):
        if step == 0 and not labeled.any():
            unlabeled = np.flatnonzero(~labeled)
            pick = int(unlabeled[checks.generator(rng, "kcenter_greedy").integers(unlabeled.size)])
        else:
            pick = int(torch.argmax(nearest))  # first maximum: lowest index wins ties
        picks[step], dists[step] = pick, float(nearest[pick])
        if step + 1 < k:
            torch.minimum(nearest, distances_to(features, features[pick]), out=nearest)
        nearest[pick] = -torch.inf
    return picks, dists


def distances_to(features: torch.Tensor, centre: torch.Tensor) -> torch.Tensor:
    """(n,) Euclidean distances from each row of ``features`` (n, d) to ``centre`` (d,)."""
    # Direct differences, fused in one pass over the features.
    return torch.cdist(features, centre[None, :], compute_mode=_DIRECT).view(-1)


def nearest_centre_distances(features: torch.Tensor, centres: torch.Tensor) -> torch.Tensor:
    """(n,) distance of each row to its nearest centre; +inf everywhere if there is none."""
    nearest = torch.full(
        (features.shape[0],), torch.inf, dtype=features.dtype, device=features.device
    )
    for start in range(0, centres.shape[0], _CENTRE_BLOCK):
        block = centres[start : start + _CENTRE_BLOCK]  # (b, d)
        pairwise = torch.cdist(features, block, compute_mode=_DIRECT)  # (n, b)
        torch.minimum(nearest, pairwise.amin(dim=1), out=nearest)
    return nearest


@register("kcenter_greedy")
class KCenterGreedy(SetAcquisition):
    """Core-set k-center-greedy on latent features: farthest from the labeled set first."""

    needs = frozenset({"features"})

    def __init__(self) -> None:
        super().__init__()

    def select_from(
        self,
        k: int,
        labeled: np.ndarray,
        features: torch.Tensor | None,
        rng: np.random.Generator | None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Greedy picks and their distances at pick time; see :func:`kcenter_greedy`."""
        assert features is not None  # guaranteed by SetAcquisition because of `needs`
        return kcenter_greedy(features, labeled, k, rng)
