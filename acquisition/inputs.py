"""What the loop hands a score acquisition per streamed chunk of the pool: a :class:`PoolChunk`.

A chunk holds only the inputs the acquisition declared in ``needs`` (plus ``norm``), so reading
anything else fails at once with a message naming the input, instead of a ``None`` surfacing
deep inside a kernel. The frame, dtype and shape of every input are documented on
:class:`acquisition.Acquisition`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import numpy as np
import torch

__all__ = [
    "LABELED_INPUTS",
    "NEEDS",
    "PER_ITEM_INPUTS",
    "MissingInputError",
    "PoolChunk",
]

#: Inputs with one entry per chunk item: name -> (dimensions, shape written for messages).
PER_ITEM_INPUTS: dict[str, tuple[int, str]] = {
    "heatmaps": (4, "(n, L, H, W)"),
    "features": (2, "(n, d)"),
    "landmarks": (3, "(n, L, 2)"),
    "flip_heatmaps": (4, "(n, L, H, W)"),
    "flip_landmarks": (3, "(n, L, 2)"),
    "tta_landmarks": (4, "(n, T, L, 2)"),
}
#: Inputs about the labeled set, the same in every chunk of a pass (m = labeled items).
LABELED_INPUTS: dict[str, tuple[int, str]] = {
    "labeled_features": (2, "(m, d)"),
    "labeled_landmarks": (3, "(m, L, 2)"),
}
#: What an acquisition may ask the loop for, besides the labeled mask.
NEEDS = frozenset(PER_ITEM_INPUTS) | frozenset(LABELED_INPUTS)
# Pairs that must have the same shape, so they compare element by element.
_SAME_SHAPE = (("flip_heatmaps", "heatmaps"), ("flip_landmarks", "landmarks"))


class MissingInputError(KeyError, AttributeError):
    """An input was read from a :class:`PoolChunk` that does not hold it.

    Both a ``KeyError`` (``chunk["landmarks"]``) and an ``AttributeError``
    (``chunk.landmarks``), so ``Mapping.get`` and ``hasattr`` behave as usual. Arguments:
    the message, then the name of the missing input.
    """

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class PoolChunk(Mapping[str, Any]):
    """Inputs for n pool items, read as ``chunk.landmarks`` or ``chunk["landmarks"]``.

    Arrays are numpy arrays or torch tensors on any device, kept as given (no copy). Only the
    inputs passed in exist; reading another raises :class:`MissingInputError`.

    Args:
        norm: (n,) per-item normalising distances (pixels, same frame as the landmarks). The
            loop always provides it; ``None`` only outside the loop (e.g. ``score(heatmaps)``).
        **inputs: Inputs named in :data:`NEEDS`.

    Raises:
        ValueError: unknown input name, wrong number of dimensions, per-item inputs that
            disagree on n, or ``flip_*`` inputs whose shape differs from the unflipped ones.
    """

    __slots__ = ("_inputs", "_n")

    def __init__(self, *, norm: Any = None, **inputs: Any) -> None:
        unknown = sorted(set(inputs) - NEEDS)
        if unknown:
            raise ValueError(f"PoolChunk got unknown input(s) {unknown}; allowed: {sorted(NEEDS)}")
        given = {key: value for key, value in inputs.items() if value is not None}
        if norm is not None:
            given["norm"] = norm
        object.__setattr__(self, "_inputs", given)
        object.__setattr__(self, "_n", _check_shapes(given))

    @property
    def n(self) -> int:
        """Number of pool items in the chunk."""
        return self._n

    def restrict(self, names: Iterable[str]) -> PoolChunk:
        """A chunk with only ``names`` (those present) and ``norm``: what a composer hands on."""
        keep = set(names) | {"norm"}
        return type(self)(**{key: value for key, value in self._inputs.items() if key in keep})

    def __getitem__(self, key: str) -> Any:
        try:
            return self._inputs[key]
        except KeyError:
            raise MissingInputError(
                f"the pool chunk has no {key!r}; it holds {sorted(self._inputs)}. An "
                "acquisition gets only the inputs it declares in `needs` (plus norm)",
                key,
            ) from None

    def __getattr__(self, key: str) -> Any:
        if key.startswith("__"):
            raise AttributeError(key)
        return self[key]

    def __setattr__(self, key: str, value: Any) -> None:
        raise AttributeError(f"PoolChunk is read-only; cannot set {key!r}")

    def __contains__(self, key: object) -> bool:
        # Asking whether an input is there is not reading it (the conformance kit counts reads).
        return key in self._inputs

    def __iter__(self) -> Iterator[str]:
        return iter(self._inputs)

    def __len__(self) -> int:
        return len(self._inputs)

    def __repr__(self) -> str:
        shapes = ", ".join(f"{key}={tuple(value.shape)}" for key, value in self._inputs.items())
        return f"PoolChunk(n={self._n}, {shapes})"


def _check_shapes(inputs: dict[str, Any]) -> int:
    """Validate dimensions and agreement on n; return n."""
    sizes: dict[str, int] = {}
    for key, value in inputs.items():
        if not isinstance(value, np.ndarray | torch.Tensor):
            raise ValueError(
                f"PoolChunk input {key!r} must be a numpy array or torch tensor; "
                f"got {type(value).__name__}"
            )
        ndim, shape = (1, "(n,)") if key == "norm" else {**PER_ITEM_INPUTS, **LABELED_INPUTS}[key]
        if value.ndim != ndim:
            raise ValueError(
                f"PoolChunk input {key!r} must have shape {shape}; got {tuple(value.shape)}"
            )
        if key not in LABELED_INPUTS:
            sizes[key] = int(value.shape[0])
    if len(set(sizes.values())) > 1:
        raise ValueError(f"PoolChunk per-item inputs disagree on the number of items n: {sizes}")
    for flipped, plain in _SAME_SHAPE:
        both = flipped in inputs and plain in inputs
        if both and tuple(inputs[flipped].shape) != tuple(inputs[plain].shape):
            raise ValueError(
                f"PoolChunk input {flipped!r} has shape {tuple(inputs[flipped].shape)}; it "
                f"must match {plain!r} {tuple(inputs[plain].shape)} (mapped back already)"
            )
    if not sizes:
        raise ValueError("PoolChunk needs norm or at least one per-item input, to know n")
    return next(iter(sizes.values()))
