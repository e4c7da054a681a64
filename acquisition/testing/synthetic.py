"""A small synthetic pool with every input an acquisition may need, for tests and the kit.

Values are plausible rather than realistic: Gaussian heatmaps at random landmark positions,
mirrored and augmented predictions that scatter around them by a per-item amount (so that
flip and TTA scores differ between items), random latent codes. Seeded: the same arguments
give the same arrays.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from acquisition.inputs import LABELED_INPUTS, PoolChunk

__all__ = ["SyntheticPool", "synthetic_pool"]

# Landmark coordinates live in a frame this many times finer than the heatmaps.
_FRAME_SCALE = 4.0


@dataclass(frozen=True)
class SyntheticPool:
    """Inputs for n pool items plus a labeled mask.

    Attributes:
        items: Per-item inputs and ``norm``, each with n rows (``tta_landmarks`` only when
            the pool was made with ``tta_samples >= 1``).
        labeled: (n,) boolean mask.
        labeled_inputs: ``labeled_features`` and ``labeled_landmarks`` of the labeled items.
    """

    items: dict[str, np.ndarray]
    labeled: np.ndarray
    labeled_inputs: dict[str, np.ndarray]

    @property
    def n(self) -> int:
        return int(self.labeled.size)

    def chunk(
        self, rows: np.ndarray | slice, names: Sequence[str], chunk_type: type = PoolChunk
    ) -> PoolChunk:
        """A chunk of ``rows`` holding ``names`` (labeled-set inputs whole) and ``norm``."""
        inputs = {"norm": self.items["norm"][rows]}
        for name in names:
            if name in LABELED_INPUTS:
                inputs[name] = self.labeled_inputs[name]
            elif name in self.items:
                inputs[name] = self.items[name][rows]
        return chunk_type(**inputs)

    def with_nan_item(self, row: int) -> SyntheticPool:
        """A copy in which every per-item input of ``row`` (norm included) is NaN."""
        items = {key: value.copy() for key, value in self.items.items()}
        for value in items.values():
            value[row] = np.nan
        return SyntheticPool(items, self.labeled, self.labeled_inputs)


def synthetic_pool(
    n: int = 48,
    *,
    n_landmarks: int = 5,
    map_size: int = 16,
    feature_dim: int = 8,
    tta_samples: int = 0,
    n_labeled: int = 8,
    seed: int = 0,
) -> SyntheticPool:
    """Make a seeded synthetic pool; see the module docstring for what the values are.

    Args:
        n: Pool items.
        n_landmarks: L.
        map_size: Heatmap side H = W; landmarks are in a frame 4x finer.
        feature_dim: d.
        tta_samples: T for ``tta_landmarks`` (0: none).
        n_labeled: Labeled items, drawn at random.
        seed: Seed of all draws.
    """
    rng = np.random.default_rng(seed)
    shape = (n, n_landmarks)
    centres = rng.uniform(2.0, map_size - 3.0, size=(*shape, 2))  # (n, L, 2) heatmap (x, y)
    sigmas = rng.uniform(0.7, 3.0, size=shape)
    landmarks = _FRAME_SCALE * centres
    flip_landmarks = landmarks + rng.normal(size=landmarks.shape) * rng.uniform(0.2, 3.0, (n, 1, 1))
    items = {
        "heatmaps": _gaussian_maps(centres, sigmas, map_size, rng),
        "flip_heatmaps": _gaussian_maps(flip_landmarks / _FRAME_SCALE, sigmas, map_size, rng),
        "landmarks": landmarks,
        "flip_landmarks": flip_landmarks,
        "features": rng.normal(size=(n, feature_dim)),
        "norm": rng.uniform(20.0, 30.0, size=n),
    }
    if tta_samples:
        scatter = rng.uniform(0.3, 4.0, size=(n, 1, 1, 1))
        noise = rng.normal(size=(n, tta_samples, n_landmarks, 2))
        items["tta_landmarks"] = landmarks[:, None] + scatter * noise
    labeled = np.zeros(n, dtype=bool)
    labeled[rng.choice(n, size=n_labeled, replace=False)] = True
    labeled_inputs = {
        "labeled_features": items["features"][labeled],
        "labeled_landmarks": landmarks[labeled] + rng.normal(0.0, 0.5, (n_labeled, *shape[1:], 2)),
    }
    return SyntheticPool(_float32(items), labeled, _float32(labeled_inputs))


def _float32(arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    # float32, as the loop provides them.
    return {key: value.astype(np.float32) for key, value in arrays.items()}


def _gaussian_maps(
    centres: np.ndarray, sigmas: np.ndarray, size: int, rng: np.random.Generator
) -> np.ndarray:
    """(n, L, size, size) Gaussians of peak 1 at (x, y) centres, plus a little noise."""
    grid = np.arange(size, dtype=np.float64)
    dx = grid[None, None, None, :] - centres[..., 0, None, None]
    dy = grid[None, None, :, None] - centres[..., 1, None, None]
    maps = np.exp(-(dx**2 + dy**2) / (2.0 * sigmas[..., None, None] ** 2))
    return maps + rng.normal(0.0, 0.02, size=maps.shape)
