"""k-center-greedy core-set selection (Sener & Savarese) on the encoder's latent features.

Labeled items are the initial centres; each pick is the unlabeled item farthest (Euclidean)
from its nearest centre, which then becomes a centre.

Distances are exact: every distance that can change a nearest-centre value is computed from
coordinate differences. The Gram-matrix shortcut (|x|^2 + |c|^2 - 2 x.c, one matrix-vector
product per pick) only screens out items the new centre cannot be nearer to, using a rigorous
bound on its rounding error; that keeps a pick at about one read of the features.
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
# Unit roundoff of float32 matrix products under torch's matmul precision setting.
_MATMUL_ROUNDOFF = {"highest": 2.0**-24, "high": 2.0**-11, "medium": 2.0**-8}


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
    state = _NearestCentres(features, torch.from_numpy(labeled).to(features.device))
    picks = np.empty(k, dtype=np.int64)
    dists = np.empty(k, dtype=np.float64)
    for step in range(k):
        if step == 0 and not labeled.any():
            unlabeled = np.flatnonzero(~labeled)
            pick = int(unlabeled[checks.generator(rng, "kcenter_greedy").integers(unlabeled.size)])
        else:
            pick = int(torch.argmax(state.nearest))  # first maximum: lowest index wins ties
        picks[step], dists[step] = pick, float(state.nearest[pick])
        state.add_centre(pick, update=step + 1 < k)
    return picks, dists


class _NearestCentres:
    """Each item's exact distance to its nearest centre, updated one new centre at a time."""

    def __init__(self, features: torch.Tensor, centres: torch.Tensor) -> None:
        self.features = features  # (n, d)
        # (n,) distances; -inf marks centres so they never win the argmax.
        self.nearest = nearest_centre_distances(features, features[centres])
        self.nearest[centres] = -torch.inf
        self.nearest_sq = self.nearest.to(torch.float64).square()  # (n,) screening threshold
        self.nearest_sq[centres] = -torch.inf
        sq_norms = torch.linalg.vector_norm(features, dim=1, dtype=torch.float64).square()
        # The rounding error of the Gram formula (a dot product of d terms) plus that of the
        # direct distance stays below about 3 (d + 2) u (|x|^2 + |c|^2) for unit roundoff u.
        # Scaling both squared norms down by more than that (8 (d + 4) u) turns the formula
        # into a lower bound: an item whose bound is not below its current nearest distance
        # cannot get a nearer centre, so its exact distance need not be computed.
        self.shrink = 1.0 - 8.0 * (features.shape[1] + 4) * _dot_roundoff(features)
        self.sq_norms = self.shrink * sq_norms  # (n,)

    def add_centre(self, index: int, update: bool = True) -> None:
        """Make item ``index`` a centre; with ``update``, lower the distances it is nearer to."""
        if update:
            centre = self.features[index]
            dots = torch.mv(self.features, centre).to(torch.float64)  # (n,): one read pass
            lower = torch.add(self.sq_norms, dots, alpha=-2.0).add_(self.sq_norms[index])
            closer = torch.nonzero(lower < self.nearest_sq).flatten()  # all others stay
            if closer.numel():
                exact = distances_to(self.features[closer], centre)
                nearest = torch.minimum(self.nearest[closer], exact)
                self.nearest[closer] = nearest
                self.nearest_sq[closer] = nearest.to(torch.float64).square()
        self.nearest[index] = -torch.inf
        self.nearest_sq[index] = -torch.inf


def _dot_roundoff(features: torch.Tensor) -> float:
    # Reduced-precision matmul settings (TF32, bfloat16) weaken the bound; respect them.
    if features.dtype == torch.float64:
        return 2.0**-53
    precision = torch.get_float32_matmul_precision()
    if features.device.type == "cuda" and torch.backends.cuda.matmul.allow_tf32:
        precision = "medium" if precision == "medium" else "high"
    return _MATMUL_ROUNDOFF.get(precision, _MATMUL_ROUNDOFF["medium"])


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
