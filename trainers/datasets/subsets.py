"""Reduced training sets: a percentage or a count, random from a seed or the first N.

Two protocols (data-and-eval.md section 5):

* "random" (SCAF and most papers): a uniformly random subset drawn from a seed.
* "first" (3FabRec's `--train-count`): the first N rows of the training table, in the
  loaders' order (300-W: AFW, HELEN, LFPW in sorted file names; WFLW: list order).

A percentage becomes a count by rounding up, which reproduces the sizes SCAF reports
(300-W 10% = 315, 5% = 158, 20% = 630; WFLW 10% = 750, 5% = 375).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

PROTOCOLS = ("random", "first")


@dataclass(frozen=True)
class ReducedSet:
    """A chosen training subset and how it was chosen (recorded with the results).

    Attributes:
        indices: sorted indices into the full training set.
        size: the size as asked for ("10%", 0.1, 50, ...), as a string.
        protocol: "random" or "first".
        seed: the seed of a random draw (None for "first").
        total: size of the full training set.
    """

    indices: np.ndarray
    size: str
    protocol: str
    seed: int | None
    total: int

    @property
    def count(self) -> int:
        return int(len(self.indices))

    def record(self) -> dict:
        """JSON-ready description for results files (indices as a list)."""
        d = asdict(self)
        d["indices"] = [int(i) for i in self.indices]
        d["count"] = self.count
        return d


def resolve_count(total: int, size: int | float | str) -> int:
    """How many faces a size means.

    Args:
        total: size of the full set.
        size: a count (int, or a string of digits), a fraction in (0, 1] (float), or a
            percentage string such as "10%" or "12.5%".

    Raises:
        ValueError: for sizes that are not positive or exceed `total`.
    """
    if isinstance(size, bool):
        raise ValueError(f"size must be a count, fraction or percentage, got {size!r}")
    if isinstance(size, str):
        s = size.strip()
        if s.endswith("%"):
            try:
                pct = float(s[:-1])
            except ValueError as e:
                raise ValueError(f"bad percentage {size!r}") from e
            if not 0 < pct <= 100:
                raise ValueError(f"percentage must be in (0, 100], got {size!r}")
            return resolve_count(total, pct / 100.0)
        if s.isdigit():
            return resolve_count(total, int(s))
        raise ValueError(f"size must be a count like '50' or a percentage like '10%', got {size!r}")
    if isinstance(size, int | np.integer):
        count = int(size)
    elif isinstance(size, float | np.floating):
        if not 0 < size <= 1:
            raise ValueError(f"a fractional size must be in (0, 1], got {size}")
        # Round up, with a tolerance so 0.1 * 7500 (= 750.0000000000001) stays 750.
        count = math.ceil(float(size) * total - 1e-9)
    else:
        raise ValueError(f"size must be a count, fraction or percentage, got {size!r}")
    if count < 1:
        raise ValueError(f"size {size!r} of {total} faces selects no face")
    if count > total:
        raise ValueError(f"size {size!r} asks for {count} faces, but the set has only {total}")
    return count


def select_subset(
    total: int,
    size: int | float | str,
    protocol: str = "random",
    seed: int | None = 0,
    start: int = 0,
) -> ReducedSet:
    """Choose a reduced training set.

    Args:
        total: size of the full training set.
        size: count, fraction or percentage (see `resolve_count`).
        protocol: "random" (uniform without replacement, from `seed`) or "first" (rows
            start .. start + count - 1, 3FabRec's `--st` / `--train-count`).
        seed: random seed (required for "random").
        start: first row for "first".

    Returns:
        The ReducedSet, indices sorted ascending.
    """
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol must be one of {PROTOCOLS}, got {protocol!r}")
    count = resolve_count(total, size)
    if protocol == "first":
        if start < 0 or start + count > total:
            raise ValueError(f"rows {start}..{start + count - 1} do not fit in {total} faces")
        return ReducedSet(np.arange(start, start + count), str(size), protocol, None, total)
    if seed is None:
        raise ValueError("the random protocol needs a seed")
    rng = np.random.default_rng(seed)
    idx = np.sort(rng.choice(total, size=count, replace=False))
    return ReducedSet(idx.astype(np.int64), str(size), protocol, int(seed), total)


def reduced_indices(
    total: int,
    size: int | float | str,
    protocol: str = "random",
    seed: int | None = 0,
    start: int = 0,
) -> np.ndarray:
    """Just the sorted indices of `select_subset` (same arguments)."""
    return select_subset(total, size, protocol=protocol, seed=seed, start=start).indices
