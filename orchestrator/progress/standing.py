"""Where each acquisition stands while a grid runs: its AUBC over the seeds that have finished
and its corrected verdicts against random, as `scaf-al report` draws them
(:mod:`orchestrator.report.conclusions`), on the headline split of the views.

Only finished cells count (a running cell has part of a curve), and a method shows once
at least MIN_SEEDS of its seeds have finished: before that there is nothing to conclude.
The verdicts come from the report built on the finished cells alone (Holm-Bonferroni over
its comparisons; "too few seeds" below three pairs), so a researcher watching the run sees
when the answer is settled. The last answer is kept, keyed by the finished cells, so a
refresh that finished nothing new reads nothing more.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from orchestrator.report.conclusions import aubc_row
from orchestrator.report.stats import MIN_SEEDS
from orchestrator.report.tables import RANDOM, REPORT_COLUMNS, build_report


@dataclass(frozen=True)
class Standing:
    """One method (architecture / acquisition label, and its variant when the grid varies
    one) on the headline split."""

    method: str  # `arch/acquisition label [variant]`, as in the report's JSON
    acquisition: str  # the acquisition's name ("random" for the reference)
    aubc: float  # NME %, mean over the finished seeds
    std: float
    seeds: int
    verdicts: Counter = field(default_factory=Counter)  # verdict -> sizes
    sizes: int = 0  # sizes compared with random

    def text(self) -> str:
        """`worse 3/4, n.s. 1/4` (sizes by verdict); `reference` for random."""
        if self.acquisition == RANDOM:
            return "reference"
        if not self.sizes:
            return "no random to compare with"
        order = ("better", "worse", "n.s.", "too few seeds")
        return ", ".join(f"{v} {self.verdicts[v]}/{self.sizes}" for v in order
                         if self.verdicts[v])


@dataclass(frozen=True)
class Standings:
    split: str
    family: int  # comparisons in the Holm-Bonferroni family
    rows: list[Standing]


_last: dict[tuple[Any, ...], Standings | None] = {}


def _finished_rows(table: pa.Table, finished: list[str]) -> pa.Table:
    return table.filter(pc.is_in(table.column("cell_id"), value_set=pa.array(finished)))


def standings(table: pa.Table | None, finished: list[str], split: str,
              key: tuple[Any, ...] = ()) -> Standings | None:
    """The standings of the methods with at least MIN_SEEDS finished seeds (None before
    any has them, or without the columns a report needs).

    Args:
        table: the `rounds` rows (the report's columns and `cell_id`).
        finished: the ids of the finished cells.
        split: the split the views show.
        key: what identifies the experiment, for the kept last answer.
    """
    if table is None or not split or len(finished) < MIN_SEEDS:
        return None
    if not {"seed", "arch", "acq_label", "dataset"} <= set(table.column_names):
        return None
    rows = _finished_rows(table, finished)
    if rows.num_rows == 0 or f"nme_{split}" not in rows.column_names:
        return None
    memo = (*key, split, tuple(sorted(finished)), rows.num_rows)
    if memo in _last:
        return _last[memo]
    _last.clear()
    # Only what the report of one split needs: a row list of every column costs seconds.
    rows = rows.select([c for c in (*REPORT_COLUMNS, f"nme_{split}") if c in rows.column_names])
    report = build_report(rows, split=split, wilcoxon=False, plan=False)
    out: list[Standing] = []
    family = 0
    for rep in report.datasets:
        family += rep.family
        for m in rep.methods:
            a = aubc_row(rep, m, split)
            if a is None or a.seeds < MIN_SEEDS:
                continue
            mine = [c for c in rep.comparisons if c.method == m]
            out.append(Standing(m.key(), m.acquisition, a.mean, a.std, a.seeds,
                                Counter(c.verdict for c in mine), len(mine)))
    _last[memo] = Standings(split, family, out) if out else None
    return _last[memo]
