"""Base classes: subclasses write one method, validation and bookkeeping live here once.

* :class:`ScoreAcquisition` subclasses write ``compute_score(heatmaps) -> (n,)`` or, for inputs
  other than heatmaps, ``compute_chunk_score(chunk) -> (n,)`` (higher = more worth labeling);
  ranking, discard-top-p% and take-K come from :mod:`acquisition.selection`.
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
from acquisition.inputs import NEEDS, MissingInputError, PoolChunk
from acquisition.selection import take_top_k

__all__ = ["NEEDS", "Acquisition", "ScoreAcquisition", "SetAcquisition"]


class Acquisition(abc.ABC):
    """An acquisition function: chooses which unlabeled pool items to label next.

    What the loop provides. Score acquisitions get the inputs named in ``needs`` per streamed
    chunk of n pool items, as a :class:`~acquisition.inputs.PoolChunk` passed to
    :meth:`ScoreAcquisition.score_chunk`; set acquisitions get ``features`` in :meth:`select`.
    Arrays are numpy or torch (any device), float32 from the loop (float64 accepted). All
    coordinates are pixels of one frame, the loop's crop frame (3FabRec's M x M margin crop,
    0-based pixel centres, (x, y)); scores built from them divide by ``norm``, so they do not
    depend on the frame's scale.

    * ``heatmaps``: (n, L, H, W) float32 model heatmaps of the un-augmented image.
    * ``features``: (n, d) float32 latent codes of the un-augmented image. In :meth:`select`
      the whole pool's (n_pool, d) matrix, labeled rows included (they are the initial
      centres of k-center-greedy).
    * ``landmarks``: (n, L, 2) float32 landmarks predicted on the un-augmented image.
    * ``flip_heatmaps``: (n, L, H, W) float32 heatmaps predicted on the network input
      mirrored left-right, mapped back: channel l is the flipped prediction's channel
      ``flip_perm[l]`` and each map is mirrored back along W, so ``flip_heatmaps[i, l]``
      compares pixel by pixel with ``heatmaps[i, l]``.
    * ``flip_landmarks``: (n, L, 2) float32 landmarks predicted on the mirrored input, mapped
      back the same way (x -> 2c - x about the input's centre column c, in the crop frame,
      then the flip permutation): a model whose predictions mirror exactly with the image
      gives ``flip_landmarks == landmarks``.
    * ``tta_landmarks``: (n, T, L, 2) float32 landmarks predicted under T random
      augmentations (the run's augmentation level), each mapped back to the un-augmented
      frame with the inverse of its transform. T is the instance's :attr:`tta_samples`. The
      augmentations of an item must be drawn from a generator seeded by (cell seed, round,
      pool index), so that they do not depend on how the pool is chunked.
    * ``labeled_features``: (m, d) float32 latent codes of the m labeled items, rows in
      increasing pool index (``np.flatnonzero(labeled)``); the same array in every chunk.
    * ``labeled_landmarks``: (m, L, 2) float32 annotated (ground-truth) landmarks of the
      labeled items, same row order and frame; the same array in every chunk.
    * ``norm`` (always provided, not a need): (n,) float32 > 0, the per-item normalising
      distance in the same frame, computed without labels (the loop's choice, e.g. the
      distance between the predicted outer eye corners).

    NaN in an item's inputs gives that item a NaN score (the built-ins), which :meth:`select`
    refuses with the item's pool index: a diverged model fails the round loudly.

    Attributes:
        name: Registry name, set by :func:`acquisition.register`.
        needs: What the loop must provide: a subset of :data:`acquisition.NEEDS`. Set
            acquisitions may only need ``features``. An instance may widen it (a composer
            adds its inner score's needs), so the loop reads it from the instance.
        tta_samples: T, the number of test-time augmentations per item when ``needs`` holds
            ``tta_landmarks``; 0 otherwise.
        last_selection: After :meth:`select`, ``{"pool_index", "score", "rank"}`` numpy arrays
            for the selected items in selection order (``score`` is NaN where the acquisition
            has no score); ``None`` before the first selection.
    """

    name: ClassVar[str] = ""
    needs: frozenset[str] = frozenset()
    tta_samples: int = 0

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

    @property
    def is_score_based(self) -> bool:
        """True when the loop must score the pool (:meth:`score_chunk`) before :meth:`select`."""
        return False

    def score(self, heatmaps: np.ndarray | torch.Tensor) -> np.ndarray:
        """Score-based acquisitions only; see :meth:`ScoreAcquisition.score`."""
        raise self._not_score_based()

    def score_chunk(self, chunk: PoolChunk) -> np.ndarray:
        """Score-based acquisitions only; see :meth:`ScoreAcquisition.score_chunk`."""
        raise self._not_score_based()

    def _not_score_based(self) -> TypeError:
        return TypeError(
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
            scores: (n_pool,) scores from :meth:`score_chunk` (or :meth:`score`) for
                score-based acquisitions (:attr:`is_score_based`).
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
    """Ranks items by a per-item score; subclasses write compute_score or compute_chunk_score.

    Heatmap scores override ``compute_score(heatmaps)``; scores on other inputs override
    ``compute_chunk_score(chunk)`` and declare what they read in ``needs``.

    Args:
        discard_top: Fraction p in [0, 1) of unlabeled items skipped from the top of the
            ranking before taking k (the paper's NNM10% is ``discard_top=0.10``).
    """

    needs: frozenset[str] = frozenset({"heatmaps"})

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

    @property
    def is_score_based(self) -> bool:
        """True: the loop scores the pool with :meth:`score_chunk` before :meth:`select`."""
        return True

    def compute_score(self, heatmaps: torch.Tensor) -> torch.Tensor:
        """Per-item scores from heatmaps, higher = more worth labeling.

        Args:
            heatmaps: (n, L, H, W) float32 or float64 tensor on any device, n >= 1.

        Returns:
            (n,) tensor on the same device. Each score must depend on its own item only, so
            that scoring the pool in chunks gives the same result as scoring it whole.
        """
        raise NotImplementedError(
            f"acquisition '{self.name}' ({type(self).__qualname__}) implements neither "
            "compute_score(heatmaps) nor compute_chunk_score(chunk)"
        )

    def compute_chunk_score(self, chunk: PoolChunk) -> torch.Tensor | np.ndarray:
        """Per-item scores from any declared inputs; by default ``compute_score(heatmaps)``.

        Args:
            chunk: The inputs named in ``needs`` (plus ``norm``) for n >= 1 items.

        Returns:
            (n,) tensor or array; each score must depend on its own item (and on the
            labeled-set inputs) only, so that chunking the pool does not change it.
        """
        return self.compute_score(checks.heatmaps_tensor(chunk.heatmaps, self.name))

    def score_chunk(self, chunk: PoolChunk) -> np.ndarray:
        """Score one streamed chunk of the pool: the loop's entry point.

        Args:
            chunk: A :class:`~acquisition.inputs.PoolChunk` holding ``needs`` and ``norm``.

        Returns:
            (n,) float64 numpy scores, higher = more worth labeling.

        Raises:
            MissingInputError: the acquisition read an input the chunk does not hold (the
                message says whether ``needs`` declares it).
            ValueError: ``tta_landmarks`` with a T other than :attr:`tta_samples`.
        """
        if not isinstance(chunk, PoolChunk):
            raise TypeError(
                f"{self.name}: score_chunk takes an acquisition.PoolChunk; got "
                f"{type(chunk).__name__} (for bare heatmaps call score(heatmaps))"
            )
        if chunk.n == 0:
            return np.zeros(0, dtype=np.float64)
        self._check_tta(chunk)
        try:
            with torch.no_grad():
                result = torch.as_tensor(self.compute_chunk_score(chunk))
        except MissingInputError as error:
            key = error.args[1] if len(error.args) > 1 else "an input"
            raise MissingInputError(self._missing_message(key, error), key) from None
        if tuple(result.shape) != (chunk.n,):
            raise RuntimeError(
                f"acquisition '{self.name}' returned scores of shape {tuple(result.shape)} "
                f"for {chunk.n} items; expected ({chunk.n},)"
            )
        return result.detach().to("cpu", torch.float64).numpy()

    def score(self, heatmaps: np.ndarray | torch.Tensor) -> np.ndarray:
        """Score items from their heatmaps alone: ``score_chunk(PoolChunk(heatmaps=...))``.

        Args:
            heatmaps: (n, L, H, W) numpy array or torch tensor (any device).

        Returns:
            (n,) float64 numpy scores, higher = more worth labeling.
        """
        maps = checks.heatmaps_tensor(heatmaps, self.name)
        return self.score_chunk(PoolChunk(heatmaps=maps))

    def _check_tta(self, chunk: PoolChunk) -> None:
        if "tta_landmarks" in self.needs and "tta_landmarks" in chunk:
            samples = int(chunk["tta_landmarks"].shape[1])
            if samples != self.tta_samples:
                raise ValueError(
                    f"{self.name}: tta_landmarks holds T={samples} augmentations per item; "
                    f"this acquisition asks for tta_samples={self.tta_samples}"
                )

    def _missing_message(self, key: str, error: MissingInputError) -> str:
        if key == "norm":
            return (
                f"{self.name} reads 'norm', which the loop always provides but this chunk "
                "lacks; pass PoolChunk(norm=...) rather than score(heatmaps)"
            )
        if key in self.needs:
            return (
                f"{self.name} reads {key!r}, which it declares in needs {sorted(self.needs)}, "
                f"but the caller did not provide it: {error}"
            )
        return (
            f"{self.name} ({type(self).__module__}) reads {key!r} without declaring it in "
            f"needs {sorted(self.needs)}; add it to `needs` so the loop computes it"
        )

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
