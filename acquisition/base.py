"""Base classes: subclasses write one method, validation and bookkeeping live here once.

* :class:`ScoreAcquisition` subclasses write ``compute_score(heatmaps) -> (n,)`` (higher = more
  worth labeling); ranking, discard-top-p% and take-K come from :mod:`acquisition.selection`.
* :class:`SetAcquisition` subclasses write ``select_from(k, labeled, features, rng)`` for
  selections that are not a ranking (random, k-center-greedy).

Parameters are the keyword arguments of the subclass ``__init__``; each must be stored as an
attribute of the same name, which is how :attr:`Acquisition.params` reads them back for result
rows and configs.
"""

from __future__ import annotations

import abc
import inspect
from typing import Any, ClassVar

import numpy as np
import torch

from acquisition import checks
from acquisition.selection import take_top_k

__all__ = ["NEEDS", "Acquisition", "ScoreAcquisition", "SetAcquisition"]

#: What an acquisition may ask the loop for, besides the labeled mask.
NEEDS = frozenset({"heatmaps", "features"})


class Acquisition(abc.ABC):
    """An acquisition function: chooses which unlabeled pool items to label next.

    Attributes:
        name: Registry name, set by :func:`acquisition.register`.
        needs: What the loop must provide: a subset of ``{"heatmaps", "features"}``.
        last_selection: After :meth:`select`, ``{"pool_index", "score", "rank"}`` numpy arrays
            for the selected items in selection order (``score`` is NaN where the acquisition
            has no score); ``None`` before the first selection.
    """

    name: ClassVar[str] = ""
    needs: ClassVar[frozenset[str]] = frozenset()

    def __init__(self) -> None:
        self.last_selection: dict[str, np.ndarray] | None = None

    @classmethod
    def description(cls) -> str:
        """One-line description: the first line of the class docstring."""
        # The class's own docstring: inspect.getdoc would inherit the base class's.
        doc = inspect.cleandoc(cls.__doc__ or "")
        return doc.splitlines()[0].strip() if doc else ""

    @classmethod
    def parameter_defaults(cls) -> dict[str, Any]:
        """Accepted parameters and their defaults (``inspect.Parameter.empty`` if required)."""
        signature = inspect.signature(cls.__init__)
        return {
            p.name: p.default
            for p in list(signature.parameters.values())[1:]
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
        }

    @property
    def params(self) -> dict[str, Any]:
        """The resolved parameters (defaults filled in), JSON-serialisable, for result rows."""
        return {key: getattr(self, key) for key in self.parameter_defaults()}

    def score(self, heatmaps: np.ndarray | torch.Tensor) -> np.ndarray:
        """Score-based acquisitions only; see :meth:`ScoreAcquisition.score`."""
        raise TypeError(
            f"acquisition '{self.name}' is not score-based (needs: {sorted(self.needs)}); "
            "call select() directly"
        )

    def select(
        self,
        k: int,
        *,
        labeled: np.ndarray | torch.Tensor,
        scores: np.ndarray | torch.Tensor | None = None,
        features: np.ndarray | torch.Tensor | None = None,
        rng: np.random.Generator | None = None,
    ) -> np.ndarray:
        """Choose k unlabeled pool items.

        Args:
            k: Number of items to select (1 <= k <= number of unlabeled items).
            labeled: (n_pool,) boolean mask, True where an item is already labeled.
            scores: (n_pool,) scores from :meth:`score`, for score-based acquisitions.
            features: (n_pool, d) features, for acquisitions that need ``"features"``.
            rng: numpy Generator, for acquisitions that draw at random.

        Returns:
            (k,) int64 distinct pool indices, all unlabeled, in selection order. The same
            selection with scores and ranks is kept in :attr:`last_selection`.

        Raises:
            TypeError: wrong input types, or a required input is missing.
            ValueError: wrong shapes, k out of range, or NaN scores among unlabeled items.
        """
        mask = checks.labeled_mask(labeled)
        k = checks.budget(k, mask, self.name)
        picked, picked_scores = self._select(k, mask, scores, features, rng)
        picked = np.asarray(picked, dtype=np.int64).reshape(-1)
        self._check_result(picked, mask, k)
        self.last_selection = {
            "pool_index": picked.copy(),
            "score": np.asarray(picked_scores, dtype=np.float64).reshape(-1).copy(),
            "rank": np.arange(k, dtype=np.int64),
        }
        return picked

    @abc.abstractmethod
    def _select(
        self, k: int, labeled: np.ndarray, scores: Any, features: Any, rng: Any
    ) -> tuple[np.ndarray, np.ndarray]:
        """Return (pool indices, their scores) for validated ``k`` and ``labeled``."""

    def _check_result(self, picked: np.ndarray, mask: np.ndarray, k: int) -> None:
        # Plugins are outside code: a wrong selection must fail here, not corrupt a run.
        problem = None
        if picked.size != k:
            problem = f"returned {picked.size} indices for k={k}"
        elif picked.min() < 0 or picked.max() >= mask.size:
            problem = f"returned indices outside the pool [0, {mask.size})"
        elif np.unique(picked).size != k:
            problem = "returned repeated indices"
        elif mask[picked].any():
            problem = f"returned labeled indices {picked[mask[picked]][:5].tolist()}"
        if problem:
            raise RuntimeError(f"acquisition '{self.name}' ({type(self).__module__}) {problem}")

    def __repr__(self) -> str:
        args = ", ".join(f"{key}={value!r}" for key, value in self.params.items())
        return f"{type(self).__name__}(name={self.name!r}{', ' if args else ''}{args})"


class ScoreAcquisition(Acquisition):
    """Ranks items by a per-item score from their heatmaps; subclasses write compute_score.

    Args:
        discard_top: Fraction p in [0, 1) of unlabeled items skipped from the top of the
            ranking before taking k (the paper's NNM10% is ``discard_top=0.10``).
    """

    needs: ClassVar[frozenset[str]] = frozenset({"heatmaps"})

    def __init__(self, *, discard_top: float = 0.0) -> None:
        super().__init__()
        if isinstance(discard_top, bool) or not isinstance(discard_top, int | float):
            raise TypeError(f"discard_top must be a number in [0, 1); got {discard_top!r}")
        if not 0.0 <= discard_top < 1.0:
            raise ValueError(
                f"discard_top must be in [0, 1) (a fraction, e.g. 0.10 for the paper's NNM10%); "
                f"got {discard_top!r}"
            )
        self.discard_top = float(discard_top)

    @abc.abstractmethod
    def compute_score(self, heatmaps: torch.Tensor) -> torch.Tensor:
        """Per-item scores, higher = more worth labeling.

        Args:
            heatmaps: (n, L, H, W) float32 or float64 tensor on any device, n >= 1.

        Returns:
            (n,) tensor on the same device. Each score must depend on its own item only, so
            that scoring the pool in chunks gives the same result as scoring it whole.
        """

    def score(self, heatmaps: np.ndarray | torch.Tensor) -> np.ndarray:
        """Score items from their heatmaps, computing on the heatmaps' device.

        Args:
            heatmaps: (n, L, H, W) numpy array or torch tensor (any device).

        Returns:
            (n,) float64 numpy scores, higher = more worth labeling.
        """
        maps = checks.heatmaps_tensor(heatmaps, self.name)
        if maps.shape[0] == 0:
            return np.zeros(0, dtype=np.float64)
        with torch.no_grad():
            result = self.compute_score(maps)
        result = torch.as_tensor(result)
        if tuple(result.shape) != (maps.shape[0],):
            raise RuntimeError(
                f"acquisition '{self.name}' compute_score returned shape {tuple(result.shape)} "
                f"for {maps.shape[0]} items; expected ({maps.shape[0]},)"
            )
        return result.detach().to("cpu", torch.float64).numpy()

    def _select(
        self, k: int, labeled: np.ndarray, scores: Any, features: Any, rng: Any
    ) -> tuple[np.ndarray, np.ndarray]:
        values = checks.pool_scores(scores, labeled, self.name)
        try:
            picked = take_top_k(values, labeled, k, self.discard_top)
        except ValueError as error:
            raise ValueError(f"{self.name}: {error}") from None
        return picked, values[picked]


class SetAcquisition(Acquisition):
    """Selects a set directly rather than by ranking scores; subclasses write select_from."""

    @abc.abstractmethod
    def select_from(
        self,
        k: int,
        labeled: np.ndarray,
        features: torch.Tensor | None,
        rng: np.random.Generator | None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Choose k items.

        Args:
            k: Validated budget, 1 <= k <= number of unlabeled items.
            labeled: (n_pool,) boolean numpy mask.
            features: (n_pool, d) finite float tensor if ``"features"`` is in ``needs``,
                else None.
            rng: What the caller passed; check it with :func:`acquisition.checks.generator`
                before drawing from it.

        Returns:
            (pool indices (k,), scores (k,)): distinct unlabeled indices in selection order
            and the score of each at pick time (NaN where there is none).
        """

    def _select(
        self, k: int, labeled: np.ndarray, scores: Any, features: Any, rng: Any
    ) -> tuple[np.ndarray, np.ndarray]:
        matrix = None
        if "features" in self.needs:
            matrix = checks.pool_features(features, labeled, self.name)
        return self.select_from(k, labeled, matrix, rng)
