"""Take-K from scores, with the paper's discard-top-p% (NNM10%, Entropy10%), defined once.

Every score-based acquisition selects through :func:`take_top_k`, so ranking, tie-breaking and
the discard rule cannot drift apart between acquisitions.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

__all__ = ["discard_count", "rank_unlabeled", "take_top_k"]


def discard_count(discard_top: float, n_unlabeled: int) -> int:
    """Number of top-ranked items dropped: ``floor(p * n_unlabeled)``, computed exactly.

    ``p`` is read as the decimal it is written as (0.29 means 29/100, not the nearest binary
    float 0.28999...), so ``discard_count(0.29, 100) == 29`` as a reader of the config expects.

    Args:
        discard_top: Fraction p in [0, 1).
        n_unlabeled: Number of unlabeled items in the pool.

    Returns:
        The number of items to skip from the top of the ranking.
    """
    return math.floor(Fraction(repr(float(discard_top))) * n_unlabeled)


def rank_unlabeled(scores: np.ndarray, labeled: np.ndarray) -> np.ndarray:
    """Unlabeled pool indices sorted by score descending, ties by lower pool index first.

    Args:
        scores: (n_pool,) float64 scores; labeled entries are ignored.
        labeled: (n_pool,) boolean mask.

    Returns:
        (n_unlabeled,) int64 pool indices, best first.
    """
    unlabeled = np.flatnonzero(~labeled)
    # A stable sort keeps equal scores in pool-index order, which is the tie rule.
    order = np.argsort(-scores[unlabeled], kind="stable")
    return unlabeled[order].astype(np.int64, copy=False)


def take_top_k(scores: np.ndarray, labeled: np.ndarray, k: int, discard_top: float) -> np.ndarray:
    """Pick k unlabeled items: rank by score, drop the top ``floor(p * n_unlabeled)``, take k.

    The result equals ``rank_unlabeled(scores, labeled)[n_drop : n_drop + k]``; only the items
    that can reach the first ``n_drop + k`` places are sorted, so large pools cost O(n).

    Args:
        scores: (n_pool,) float64 scores without NaN among unlabeled items.
        labeled: (n_pool,) boolean mask.
        k: Number of items to select, 1 <= k <= n_unlabeled.
        discard_top: Fraction p in [0, 1) of the unlabeled items to skip from the top.

    Returns:
        (k,) int64 pool indices in selection order.

    Raises:
        ValueError: if fewer than k unlabeled items remain after the discard.
    """
    unlabeled = np.flatnonzero(~labeled)
    n_drop = discard_count(discard_top, unlabeled.size)
    needed = n_drop + k
    if needed > unlabeled.size:
        raise ValueError(
            f"k={k} exceeds the {unlabeled.size - n_drop} unlabeled item(s) left after "
            f"discard_top={discard_top} drops the top {n_drop} of {unlabeled.size}; lower k or "
            "discard_top"
        )
    values = scores[unlabeled]
    if needed < unlabeled.size:
        # Everything in the first `needed` places scores at least the needed-th largest value;
        # keeping every item tied with it lets the index order settle the ties below.
        threshold = np.partition(values, unlabeled.size - needed)[unlabeled.size - needed]
        keep = np.flatnonzero(values >= threshold)
        unlabeled, values = unlabeled[keep], values[keep]
    order = np.argsort(-values, kind="stable")  # stable: equal scores stay in index order
    return unlabeled[order[n_drop:needed]].astype(np.int64)
