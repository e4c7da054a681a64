"""The numbers behind a report's conclusions, on plain lists (no stores, no tables).

- :func:`aubc`: the area under one seed's NME-vs-labeled-images curve (trapezoids over
  the measured sizes) divided by the span of sizes, i.e. a mean NME over the budget range.
- :func:`labels_to_reach`: where a mean curve, linearly interpolated between the measured
  sizes, first reaches a target NME.
- :func:`paired_t`: a two-sided paired t-test by seed.
- :func:`holm`: Holm–Bonferroni adjusted p-values.
- :func:`paired_t_power` and :func:`seeds_needed`: the power of a two-sided paired t-test
  (non-central t) and the fewest pairs that give a wanted power.

scipy is imported inside the functions that need it: the live view imports this module on
every `scaf-al status`, which should answer fast.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike

#: Significance level of every test the report makes.
ALPHA = 0.05
#: Paired seeds below which the report draws no conclusion, whatever the p-value.
MIN_SEEDS = 3
#: The power a planned number of seeds should give, and the most seeds ever suggested.
POWER = 0.8
MAX_SEEDS = 100


def aubc(sizes: Sequence[float], values: Sequence[float]) -> float:
    """Area under the curve `values` over `sizes` (trapezoids), divided by the span of
    sizes; with a single size, that size's value.

    Raises:
        ValueError: no points, lengths that differ, or sizes not strictly increasing.
    """
    if len(sizes) != len(values) or not sizes:
        raise ValueError(f"aubc needs as many sizes as values (got {len(sizes)} and "
                         f"{len(values)}), at least one")
    x = np.asarray(sizes, dtype=float)
    y = np.asarray(values, dtype=float)
    if np.any(np.diff(x) <= 0):
        raise ValueError(f"aubc: sizes must increase strictly, got {list(sizes)}")
    if len(x) == 1:
        return float(y[0])
    area = float(np.sum(np.diff(x) * (y[1:] + y[:-1]) / 2.0))
    return area / float(x[-1] - x[0])


def labels_to_reach(sizes: Sequence[float], values: Sequence[float],
                    target: float) -> float | None:
    """The fewest labeled images at which the curve (linear between measured sizes) is at or
    below `target` (NME: lower is better); None when it never is."""
    for k, (n, e) in enumerate(zip(sizes, values, strict=True)):
        if e <= target:
            if k == 0:
                return float(n)
            n0, e0 = sizes[k - 1], values[k - 1]
            # e0 > target >= e: the crossing lies between n0 and n.
            return float(n0 + (e0 - target) * (n - n0) / (e0 - e))
    return None


def paired_t(a: ArrayLike, b: ArrayLike) -> float | None:
    """Two-sided p of the paired t-test of a against b (same order: pairs); None with fewer
    than two pairs or differences without variance (up to float noise)."""
    d = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    if len(d) < 2:
        return None
    tol = 1e-9 * max(1.0, float(np.abs(d).max()))
    if np.ptp(d) <= tol:
        return None
    from scipy import stats

    t = float(d.mean()) / (float(d.std(ddof=1)) / math.sqrt(len(d)))
    p = float(2.0 * stats.t.sf(abs(t), len(d) - 1))
    return p if math.isfinite(p) else None


@functools.cache
def t_critical(df: int, alpha: float = ALPHA) -> float:
    """The two-sided critical value of Student's t with `df` degrees of freedom."""
    from scipy import stats

    return float(stats.t.ppf(1.0 - alpha / 2.0, df))


def significantly_lower(a: ArrayLike, b: ArrayLike, alpha: float = ALPHA) -> bool:
    """Is a lower than b by a two-sided paired t-test at `alpha` (p < alpha, i.e. |t| above
    the critical value, and a lower on average)? False where `paired_t` has no p."""
    d = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    if len(d) < 2 or np.ptp(d) <= 1e-9 * max(1.0, float(np.abs(d).max())):
        return False
    t = float(d.mean()) / (float(d.std(ddof=1)) / math.sqrt(len(d)))
    return t < -t_critical(len(d) - 1, alpha)


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm–Bonferroni adjusted p-values, in the order given: with the m values sorted
    ascending, the k-th becomes max over l <= k of min(1, (m - l + 1) p_(l))."""
    m = len(pvalues)
    order = sorted(range(m), key=lambda i: pvalues[i])
    out = [0.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * pvalues[i]))
        out[i] = running
    return out


def paired_t_power(d: float, n: int, alpha: float = ALPHA) -> float:
    """Power of the two-sided paired t-test at level `alpha` with `n` pairs, for the effect
    size d = mean difference / sd of the differences (non-centrality d * sqrt(n))."""
    from scipy import stats

    df = n - 1
    crit = stats.t.ppf(1.0 - alpha / 2.0, df)
    nc = abs(d) * math.sqrt(n)
    return float(stats.nct.sf(crit, df, nc) + stats.nct.cdf(-crit, df, nc))


def seeds_needed(d: float, power: float = POWER, alpha: float = ALPHA,
                 cap: int = MAX_SEEDS, minimum: int = MIN_SEEDS) -> int:
    """The fewest pairs (at least `minimum`, at most `cap`) whose two-sided paired t-test at
    `alpha` has `power` for the effect size `d`; `cap` when none up to it does."""
    from scipy import stats

    if not math.isfinite(d):
        return minimum
    n = np.arange(2, cap + 1)
    df = n - 1
    crit = stats.t.ppf(1.0 - alpha / 2.0, df)
    nc = abs(d) * np.sqrt(n)
    pw = stats.nct.sf(crit, df, nc) + stats.nct.cdf(-crit, df, nc)
    enough = np.nonzero(pw >= power)[0]
    return cap if len(enough) == 0 else max(minimum, int(n[enough[0]]))
