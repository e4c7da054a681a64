"""The table `scaf-al run` prints at the end: NME per acquisition and labeled-set size,
mean +- std over seeds, next to the mean-shape baseline."""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pyarrow as pa
from rich.table import Table

from orchestrator.results import metric_splits


def nme_by_method(rounds: pa.Table, split: str) -> dict[tuple[str, str], dict[int, list[float]]]:
    """{(arch, acquisition label): {n_labeled: [NME per seed]}} for one split (fractions)."""
    out: dict[tuple[str, str], dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
    cols = rounds.select(["arch", "acq_label", "n_labeled", f"nme_{split}"]).to_pylist()
    for r in cols:
        if r[f"nme_{split}"] is not None:
            out[(r["arch"], r["acq_label"])][r["n_labeled"]].append(r[f"nme_{split}"])
    return out


def summary_table(rounds: pa.Table, split: str | None = None) -> Table:
    """Rich table: methods as rows, labeled-set sizes as columns, NME % mean +- std (seeds)."""
    splits = metric_splits(rounds)
    split = split or (splits[-1] if splits else "test")
    data = nme_by_method(rounds, split)
    sizes = sorted({n for per in data.values() for n in per})
    table = Table(title=f"NME (%) on {split}, mean ± std over seeds [n seeds]")
    table.add_column("architecture / acquisition")
    for n in sizes:
        table.add_column(f"{n} labeled", justify="right")
    for (arch, acq), per in sorted(data.items()):
        cells = []
        for n in sizes:
            v = np.asarray(per.get(n, []), dtype=float) * 100
            if len(v) == 0:
                cells.append("-")
            else:
                sd = v.std(ddof=1) if len(v) > 1 else 0.0
                cells.append(f"{v.mean():.2f} ± {sd:.2f} [{len(v)}]")
        table.add_row(f"{arch} / {acq}", *cells)
    col = f"baseline_nme_{split}"
    if col in rounds.column_names:
        base = [b for b in rounds.column(col).to_pylist() if b is not None]
        if base:
            table.caption = (f"mean-shape baseline (average pool shape on every test image): "
                             f"{100 * float(np.mean(base)):.2f}%")
    return table
