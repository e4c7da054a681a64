"""diverse_top: an uncertainty score thinned for diversity (a hybrid of the two families).

Rank by any registered score acquisition (the inner score), skip the top ``discard_top`` of
the unlabeled items as the paper's NNM10% does, keep the next ``candidates * k``, and pick k
of those by k-center-greedy on the latent features, with the labeled items as initial
centres. ``candidates = 1`` is the inner score's own top-k after the discard.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from acquisition import checks
from acquisition.base import ScoreAcquisition
from acquisition.inputs import PoolChunk
from acquisition.kcenter import kcenter_greedy
from acquisition.registry import get, register
from acquisition.selection import discard_count, take_top_k

__all__ = ["DiverseTop", "diverse_top_select"]


def diverse_top_select(
    scores: np.ndarray,
    features: torch.Tensor,
    labeled: np.ndarray,
    k: int,
    *,
    discard_top: float,
    candidates: int,
    rng: np.random.Generator | None,
) -> np.ndarray:
    """k picks: k-center-greedy among the ranked candidates after the discard.

    Args:
        scores: (n_pool,) float64 scores without NaN among unlabeled items.
        features: (n_pool, d) finite float tensor, labeled rows included.
        labeled: (n_pool,) boolean mask; labeled items are the initial centres.
        k: Number of picks, 1 <= k.
        discard_top: Fraction of the unlabeled items skipped from the top of the ranking.
        candidates: Multiple of k kept after the discard (fewer if the pool runs out).
        rng: Only used by k-center-greedy when nothing is labeled.

    Returns:
        (k,) int64 pool indices in k-center pick order.

    Raises:
        ValueError: fewer than k unlabeled items left after the discard.
    """
    n_unlabeled = int(np.count_nonzero(~labeled))
    left = n_unlabeled - discard_count(discard_top, n_unlabeled)
    # Ask for at least k so that too small a pool fails with take_top_k's message.
    kept = take_top_k(scores, labeled, max(k, min(candidates * k, left)), discard_top)
    rows = np.concatenate([np.flatnonzero(labeled), kept])  # centres first, then by rank
    centres = np.zeros(rows.size, dtype=bool)
    centres[: rows.size - kept.size] = True
    sub = features[torch.from_numpy(rows).to(features.device)]
    # Ties in k-center go to the lowest row, i.e. the better-ranked candidate.
    picks, _ = kcenter_greedy(sub, centres, k, rng)
    return rows[picks]


@register("diverse_top")
class DiverseTop(ScoreAcquisition):
    """Hybrid: the inner score's top candidates (after discard_top), thinned by k-center-greedy.

    Args:
        score: The inner score acquisition: a registered name (``"nnm"``) or a mapping
            ``{"name": "nnm", "window": 7}``. Any score-based acquisition, plugins included;
            its own ``discard_top`` must stay 0 (this one's applies).
        discard_top: Fraction of top-ranked unlabeled items skipped (outliers) before the
            candidates are taken.
        candidates: Keep ``candidates * k`` ranked items after the discard, then pick k of
            them by k-center-greedy on the latent features.

    The selection record's ``score`` holds each pick's inner score.
    """

    needs = frozenset({"features"})

    def __init__(
        self, *, score: str | Mapping[str, Any] = "nnm", discard_top: float = 0.0,
        candidates: int = 5,
    ) -> None:  # fmt: skip
        super().__init__(discard_top=discard_top)
        if isinstance(candidates, bool) or not isinstance(candidates, int) or candidates < 1:
            raise ValueError(
                f"diverse_top: candidates must be an integer >= 1 (a multiple of k); "
                f"got {candidates!r}"
            )
        self.candidates = candidates
        self.inner = _inner_score(score)
        self.needs = self.inner.needs | {"features"}
        self.tta_samples = self.inner.tta_samples

    @property
    def params(self) -> dict[str, Any]:
        """Resolved parameters; ``score`` as ``{"name": ..., **inner parameters}``."""
        inner = {k: v for k, v in self.inner.params.items() if k != "discard_top"}
        return {
            "score": {"name": self.inner.name, **inner},
            "discard_top": self.discard_top,
            "candidates": self.candidates,
        }

    def compute_chunk_score(self, chunk: PoolChunk) -> np.ndarray:
        """The inner acquisition's scores, given only the inputs it declares."""
        return self.inner.score_chunk(chunk.restrict(self.inner.needs))

    def _select(
        self, k: int, labeled: np.ndarray, scores: Any, features: Any, rng: Any
    ) -> tuple[np.ndarray, np.ndarray]:
        values = checks.pool_scores(scores, labeled, self.name)
        matrix = checks.pool_features(features, labeled, self.name)
        try:
            picked = diverse_top_select(
                values, matrix, labeled, k, discard_top=self.discard_top,
                candidates=self.candidates, rng=rng,
            )  # fmt: skip
        except ValueError as error:
            raise ValueError(f"{self.name}: {error}") from None
        return picked, values[picked]


def _inner_score(spec: str | Mapping[str, Any]) -> ScoreAcquisition:
    """Build the inner score acquisition from a name or a ``{"name": ..., **params}`` mapping."""
    if isinstance(spec, str):
        name, params = spec, {}
    elif isinstance(spec, Mapping) and isinstance(spec.get("name"), str):
        name, params = spec["name"], {k: v for k, v in spec.items() if k != "name"}
    else:
        raise TypeError(
            "diverse_top: score must be an acquisition name or a table with a name, e.g. "
            f'score = {{ name = "nnm", window = 7 }}; got {spec!r}'
        )
    inner = get(name, **params)
    if not isinstance(inner, ScoreAcquisition):
        raise TypeError(
            f"diverse_top: score must name a score-based acquisition; '{name}' selects a set "
            "directly (use kcenter_greedy or random on their own)"
        )
    if inner.discard_top:
        raise ValueError(
            f"diverse_top: the inner score's discard_top={inner.discard_top} would be ignored; "
            "set diverse_top's own discard_top instead"
        )
    return inner
