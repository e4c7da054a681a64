"""Random sampling: the baseline every acquisition is compared against."""

from __future__ import annotations

import numpy as np
import torch

from acquisition import checks
from acquisition.base import SetAcquisition
from acquisition.registry import register

__all__ = ["RandomAcquisition"]


@register("random")
class RandomAcquisition(SetAcquisition):
    """Uniform random baseline: k unlabeled items drawn without replacement from rng."""

    def select_from(
        self,
        k: int,
        labeled: np.ndarray,
        features: torch.Tensor | None,
        rng: np.random.Generator | None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Draw k unlabeled pool indices uniformly without replacement; scores are NaN."""
        generator = checks.generator(rng, self.name)
        unlabeled = np.flatnonzero(~labeled)
        picked = generator.choice(unlabeled, size=k, replace=False)
        return picked.astype(np.int64), np.full(k, np.nan)
