"""What a data set's table says once summed up: the area under each method's learning curve,
the labels it saves against random, and how often each method is beaten by another.

- **AUBC**: per seed, the area under the NME-vs-labeled-images curve over the method's
  measured sizes (trapezoids) divided by their span, a mean NME in %; mean +- std over the
  seeds that have every size of the method (a seed still running has part of a curve,
  which would not compare). The lowest mean per split is the best.
- **Labels saved**: the fewest labeled images at which the method's mean curve (linear
  between measured sizes) reaches the mean NME of random sampling (same architecture) at
  random's largest size n_K, and the share 1 - n / n_K of that budget saved; none when the
  curve never gets there.
- **Penalty matrix** (Ash et al., BADGE, ICLR 2020): per architecture and split, for every
  ordered pair (i, j) and every labeled size, a two-sided paired t-test over the seeds the
  two share; when i is significantly (5 %) better, P[i, j] += 1 / (number of sizes). As
  with the verdicts against random, a pair is tested only with at least three shared
  seeds. The mean of column j over all rows is how often j is beaten (lower is better).

The verdicts against random (Holm-Bonferroni, too few seeds, seeds needed) are on the
comparisons themselves (`tables.judge`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from orchestrator.report.stats import MIN_SEEDS, aubc, labels_to_reach, significantly_lower
from orchestrator.report.tables import RANDOM, DatasetReport, Method, reference_of


@dataclass(frozen=True)
class AubcRow:
    method: Method
    split: str
    mean: float  # NME %, mean over seeds of each seed's AUBC
    std: float  # sample std over seeds (0 for one seed)
    seeds: int  # seeds with the whole curve
    best: bool = False


@dataclass(frozen=True)
class Saving:
    method: Method
    split: str
    budget: int  # random's largest labeled size n_K
    target: float  # random's mean NME (%) there
    labels: float | None  # where the method's mean curve reaches it (None: never)

    @property
    def saved_fraction(self) -> float | None:
        return None if self.labels is None else 1.0 - self.labels / self.budget


@dataclass(frozen=True)
class Penalty:
    arch: str
    split: str
    methods: list[Method]
    matrix: list[list[float]]  # P[i][j]: share of sizes at which i beats j
    sizes: int  # the number of labeled sizes, L

    @property
    def column_mean(self) -> list[float]:
        """How often each method is beaten: the mean of its column over all rows."""
        return [float(np.mean(col)) for col in zip(*self.matrix, strict=True)]


def _sizes(rep: DatasetReport, m: Method, split: str) -> list[int]:
    return [n for n in rep.sizes if (m, n, split) in rep.cells]


def aubc_row(rep: DatasetReport, m: Method, split: str) -> AubcRow | None:
    """The AUBC of `m` on `split` over the seeds with every size of its curve."""
    sizes = _sizes(rep, m, split)
    if not sizes:
        return None
    by_size = [rep.cells[(m, n, split)].by_seed for n in sizes]
    seeds = sorted(set.intersection(*(set(b) for b in by_size)))
    if not seeds:
        return None
    values = np.array([aubc(sizes, [b[s] for b in by_size]) for s in seeds])
    std = float(values.std(ddof=1)) if len(values) > 1 else 0.0
    return AubcRow(m, split, float(values.mean()), std, len(seeds))


def aubc_rows(rep: DatasetReport) -> list[AubcRow]:
    """One row per method and split (split-major, methods in table order); the lowest mean
    of each split (at the printed precision) is marked best."""
    out = []
    for split in rep.splits:
        rows = [r for m in rep.methods if (r := aubc_row(rep, m, split)) is not None]
        low = min((round(r.mean, 2) for r in rows), default=None)
        out += [AubcRow(r.method, r.split, r.mean, r.std, r.seeds, round(r.mean, 2) == low)
                for r in rows]
    return out


def saving(rep: DatasetReport, m: Method, split: str) -> Saving | None:
    """Labels saved by `m` against its random reference on `split` (None without one)."""
    ref = m if m.acquisition == RANDOM else reference_of(m, rep.methods)
    ref_sizes = _sizes(rep, ref, split) if ref is not None else []
    sizes = _sizes(rep, m, split)
    if ref is None or not ref_sizes or not sizes:
        return None
    n_k = ref_sizes[-1]
    target = rep.cells[(ref, n_k, split)].mean
    curve = [rep.cells[(m, n, split)].mean for n in sizes]
    return Saving(m, split, n_k, target, labels_to_reach(sizes, curve, target))


def savings(rep: DatasetReport) -> list[Saving]:
    return [s for split in rep.splits for m in rep.methods
            if (s := saving(rep, m, split)) is not None]


def beats(a: dict[int, float], b: dict[int, float]) -> bool:
    """Is `a` significantly lower than `b` (two-sided paired t-test at 5 %, seeds paired,
    at least MIN_SEEDS of them)?"""
    seeds = sorted(set(a) & set(b))
    if len(seeds) < MIN_SEEDS:
        return False
    return significantly_lower([a[s] for s in seeds], [b[s] for s in seeds])


def penalty(rep: DatasetReport, arch: str, split: str) -> Penalty:
    """BADGE's pairwise penalty matrix of one architecture's methods on one split."""
    methods = [m for m in rep.methods if m.arch == arch and _sizes(rep, m, split)]
    sizes = sorted({n for m in methods for n in _sizes(rep, m, split)})
    k = len(methods)
    matrix = [[0.0] * k for _ in range(k)]
    for n in sizes:
        cells = [rep.cells.get((m, n, split)) for m in methods]
        for i, ci in enumerate(cells):
            for j, cj in enumerate(cells):
                if i != j and ci is not None and cj is not None and beats(ci.by_seed,
                                                                           cj.by_seed):
                    matrix[i][j] += 1.0 / len(sizes)
    return Penalty(arch, split, methods, matrix, len(sizes))


def penalties(rep: DatasetReport) -> list[Penalty]:
    """One matrix per split and architecture (architectures in table order); worked out
    once per report (k^2 tests per size: the renderers ask more than once)."""
    if "penalties" not in rep.memo:
        archs = list(dict.fromkeys(m.arch for m in rep.methods))
        rep.memo["penalties"] = [p for split in rep.splits for arch in archs
                                 if (p := penalty(rep, arch, split)).methods]
    return list(rep.memo["penalties"])


def seeds_to_settle(rep: DatasetReport) -> int | None:
    """The seeds per configuration that would settle every comparison without a verdict
    (the largest "seeds needed", at least MIN_SEEDS when some have too few seeds); None
    when every comparison is settled or nothing more can be planned."""
    open_ = [c for c in rep.comparisons if not c.settled]
    wanted = [c.seeds_needed for c in open_ if c.seeds_needed is not None]
    wanted += [MIN_SEEDS for c in open_ if c.verdict == "too few seeds"]
    return max(wanted) if wanted else None
