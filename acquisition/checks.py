"""Input checks shared by every acquisition: clear errors on what callers pass in.

Each check names the argument, what it got and what is allowed, so a wrong call from the loop or
from a plugin author fails at the boundary rather than deep inside a kernel.
"""

from __future__ import annotations

import operator
import warnings
from typing import Any

import numpy as np
import torch

__all__ = [
    "budget",
    "coordinates_tensor",
    "generator",
    "heatmaps_tensor",
    "labeled_mask",
    "norm_tensor",
    "pool_features",
    "pool_scores",
    "to_numpy",
]


def to_numpy(values: Any) -> np.ndarray:
    """Return ``values`` (numpy array, torch tensor on any device, or sequence) as numpy."""
    if isinstance(values, torch.Tensor):
        return values.detach().cpu().numpy()
    return np.asarray(values)


def labeled_mask(labeled: Any) -> np.ndarray:
    """Check the labeled mask: a 1-d boolean array over the whole pool.

    Raises:
        TypeError: if it is not boolean (an int "labelled map" of cycle numbers is refused,
            because treating cycle numbers as truth values silently is an easy mistake).
        ValueError: if it is not 1-d or the pool is empty.
    """
    if labeled is None:
        raise TypeError("labeled is required: a boolean mask over the whole pool (True = labeled)")
    mask = to_numpy(labeled)
    if mask.dtype != np.bool_:
        raise TypeError(
            f"labeled must be a boolean mask over the pool; got dtype {mask.dtype}. "
            "For a labelled map of acquisition cycles (0 = unlabelled) pass `labelled_map > 0`."
        )
    if mask.ndim != 1 or mask.size == 0:
        raise ValueError(
            f"labeled must be a non-empty 1-d mask with one entry per pool index; "
            f"got shape {mask.shape}"
        )
    return mask


def budget(k: Any, mask: np.ndarray, name: str) -> int:
    """Check the number of items to select against the unlabeled items left in the pool."""
    if isinstance(k, bool):
        raise TypeError(f"{name}: k must be an integer number of items to select; got {k!r}")
    try:
        k = operator.index(k)
    except TypeError:
        raise TypeError(
            f"{name}: k must be an integer number of items to select; got {k!r}"
        ) from None
    n_unlabeled = int(mask.size - np.count_nonzero(mask))
    if k <= 0:
        raise ValueError(f"{name}: k must be >= 1; got k={k}")
    if k > n_unlabeled:
        raise ValueError(
            f"{name}: k={k} exceeds the {n_unlabeled} unlabeled item(s) left in the pool of "
            f"{mask.size}; select at most {n_unlabeled}"
        )
    return k


def generator(rng: Any, name: str) -> np.random.Generator:
    """Check that ``rng`` is a numpy Generator (the only source of randomness we accept)."""
    if not isinstance(rng, np.random.Generator):
        raise TypeError(
            f"{name}: rng must be a numpy Generator, e.g. rng=np.random.default_rng(seed); "
            f"got {type(rng).__name__}"
        )
    return rng


def pool_scores(scores: Any, mask: np.ndarray, name: str) -> np.ndarray:
    """Check scores: one float per pool index; NaN is refused among unlabeled items.

    Labeled entries are ignored (they may hold anything, NaN included).
    """
    if scores is None:
        raise TypeError(
            f"{name} is score-based: pass scores=<acq.score_chunk(chunk) per chunk, or "
            f"acq.score(heatmaps)> for the whole pool "
            f"({mask.size} items; labeled entries are ignored)"
        )
    values = to_numpy(scores)
    if values.shape != mask.shape:
        raise ValueError(
            f"{name}: scores has shape {values.shape}; expected ({mask.size},), one score per "
            "pool index (the same length as labeled)"
        )
    if not np.issubdtype(values.dtype, np.number) or np.iscomplexobj(values):
        raise TypeError(f"{name}: scores must be real numbers; got dtype {values.dtype}")
    values = values.astype(np.float64, copy=False)
    bad = np.flatnonzero(np.isnan(values) & ~mask)
    if bad.size:
        raise ValueError(
            f"{name}: scores has {bad.size} NaN value(s) among unlabeled items "
            f"(first pool indices: {bad[:5].tolist()}); NaN cannot be ranked. Check the "
            "heatmaps for NaN (a diverged model) before scoring"
        )
    return values


def pool_features(features: Any, mask: np.ndarray, name: str) -> torch.Tensor:
    """Check features: a finite (n_pool, d) float matrix, kept on its device as a tensor."""
    if features is None:
        raise TypeError(
            f"{name} needs features: pass features=<(n_pool, d) array> for the whole pool "
            f"({mask.size} rows, labeled rows included: they are the initial centres)"
        )
    matrix = features if isinstance(features, torch.Tensor) else _numpy_to_torch(features)
    matrix = matrix.detach()
    if matrix.ndim != 2 or matrix.shape[0] != mask.size or matrix.shape[1] == 0:
        raise ValueError(
            f"{name}: features has shape {tuple(matrix.shape)}; expected ({mask.size}, d), "
            "one row per pool index"
        )
    matrix = _as_float(matrix, "features", name)
    # A NaN or inf entry makes the sum non-finite, so a finite sum (one read pass) clears the
    # matrix; a per-row isfinite costs about 50x more and runs only when the sum is not.
    if bool(torch.isfinite(matrix.sum())):
        return matrix
    finite_rows = torch.isfinite(matrix).all(dim=1)
    n_bad = int((~finite_rows).sum())
    if n_bad:
        first = torch.nonzero(~finite_rows).flatten()[:5].tolist()
        raise ValueError(
            f"{name}: features has {n_bad} row(s) with NaN or inf (first pool indices: {first})"
        )
    return matrix


def heatmaps_tensor(heatmaps: Any, name: str) -> torch.Tensor:
    """Check heatmaps (n, L, H, W), numpy or torch, and return a float tensor on their device.

    float32 and float64 are kept as they are (no copy); other real dtypes become float32
    (float16/bfloat16, to avoid overflow in sums) or float64 (integers, exactly).
    """
    maps = heatmaps if isinstance(heatmaps, torch.Tensor) else _numpy_to_torch(heatmaps)
    maps = maps.detach()
    if maps.ndim != 4 or min(maps.shape[1:], default=0) == 0:
        raise ValueError(
            f"{name}: heatmaps must have shape (n, L, H, W) with L, H, W >= 1 "
            f"(n images, L landmarks); got shape {tuple(maps.shape)}"
        )
    return _as_float(maps, "heatmaps", name)


def coordinates_tensor(values: Any, what: str, shape: str, name: str) -> torch.Tensor:
    """Check landmark coordinates (..., L, 2), numpy or torch; return a float tensor.

    float32 and float64 are kept (no copy): differences of float32 pixel coordinates below a
    few hundred pixels are exact to about 1e-5 px, far below any spread worth ranking.

    Args:
        values: The array, e.g. (n, L, 2) landmarks or (n, T, L, 2) TTA landmarks.
        what: Input name for messages.
        shape: Expected shape written for messages, e.g. ``"(n, L, 2)"``; its number of
            dimensions is checked.
        name: Acquisition name for messages.
    """
    points = values if isinstance(values, torch.Tensor) else _numpy_to_torch(values)
    ndim = shape.count(",") + 1
    if points.ndim != ndim or points.shape[-1] != 2 or points.shape[-2] == 0:
        raise ValueError(
            f"{name}: {what} must have shape {shape} with (x, y) last and L >= 1; got shape "
            f"{tuple(points.shape)}"
        )
    return _as_float(points.detach(), what, name)


def norm_tensor(norm: Any, n: int, device: torch.device, name: str) -> torch.Tensor:
    """Check per-item normalising distances: (n,) and > 0 (NaN passes, to give NaN scores).

    Returns:
        ``norm`` as a float64 tensor on ``device`` (float32 on mps, which lacks float64).
    """
    values = norm if isinstance(norm, torch.Tensor) else _numpy_to_torch(norm)
    dtype = torch.float32 if device.type == "mps" else torch.float64
    values = _as_float(values.detach(), "norm", name).to(device, dtype)
    if tuple(values.shape) != (n,):
        raise ValueError(f"{name}: norm has shape {tuple(values.shape)}; expected ({n},)")
    bad = (values <= 0) | torch.isinf(values)
    if bool(bad.any()):
        first = torch.nonzero(bad).flatten()[:5].tolist()
        raise ValueError(
            f"{name}: norm must be a positive finite distance per item; got "
            f"{values[bad][:5].tolist()} at chunk rows {first}. Clamp the normalising distance "
            "(e.g. the predicted inter-ocular distance) to at least one pixel"
        )
    return values


def _numpy_to_torch(values: Any) -> torch.Tensor:
    array = np.asarray(values)
    if any(stride < 0 for stride in array.strides):
        array = np.ascontiguousarray(array)  # torch cannot view negative strides
    with warnings.catch_warnings():
        # We never write into the array, so a read-only input is safe to view without a copy.
        warnings.filterwarnings("ignore", message=".*not writ.*", category=UserWarning)
        try:
            return torch.from_numpy(array)
        except TypeError:
            raise TypeError(f"expected a numeric array; got dtype {array.dtype}") from None


def _as_float(values: torch.Tensor, what: str, name: str) -> torch.Tensor:
    if values.dtype in (torch.float32, torch.float64):
        return values
    if values.dtype in (torch.float16, torch.bfloat16):
        return values.float()
    if values.is_complex():
        raise TypeError(f"{name}: {what} must be real; got dtype {values.dtype}")
    return values.double()
