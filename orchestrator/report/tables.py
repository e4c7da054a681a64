"""`scaf-al report DIR`: the result store as the paper's tables, with a paired comparison
against random sampling.

Layout (like the SCAF paper's Tables 2-4): one table per data set; methods
(architecture / acquisition) as rows; labeled-set sizes as columns, each split into the
test splits (Common / Challenging / Full for 300-W, Full plus subsets for WFLW, `test` for
synthetic data). A cell holds the NME in percent, mean +- std over seeds; the lowest mean
per column is the best (bold in Markdown / LaTeX, `*` in the terminal and CSV).

"Better than random" is measured, not eyeballed: for every acquisition, size and split the
NME difference to random sampling at the same architecture and size is paired by seed
(the same seed shares L0 and the round-0 model), then tested with a paired t-test and a
Wilcoxon signed-rank test. The verdicts correct for the number of comparisons: the t-test
p-values of every comparison of a data set's table (acquisition x size x split, each
against random) form one Holm-Bonferroni family, and a comparison is "better" or "worse"
only where its adjusted p is at most 5 %. With fewer than three paired seeds there is no
verdict ("too few seeds"), whatever the p-value; a comparison without a verdict says how
many seeds would give 80 % power to detect the difference seen (`stats.seeds_needed`).
"""

from __future__ import annotations

import json
import math
import warnings
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from orchestrator.report.stats import ALPHA, MIN_SEEDS, holm, paired_t, seeds_needed
from orchestrator.results.experiment_folder import ExperimentFolder
from orchestrator.results.readers import read_table
from orchestrator.results.schema import metric_splits
from trainers.datasets.registry import find_dataset

RANDOM = "random"


def split_title(dataset: str, split: str) -> str:
    """Column title of a split, as its data set names it (WFLW's `test` reads `Full`); the
    split's own name for a data set not registered here."""
    info = find_dataset(dataset)
    return split if info is None else info.split_title(split)


def dataset_title(dataset: str) -> str:
    """How reports name a data set ("300-W"); its name when it is not registered here."""
    info = find_dataset(dataset)
    return dataset if info is None else info.title


@dataclass(frozen=True)
class Method:
    """A table row: architecture, acquisition label and, when the experiment varies them,
    the model size / budget schedule that tell otherwise equal rows apart."""

    arch: str
    acq_label: str
    acquisition: str
    variant: str = ""

    def name(self) -> str:
        base = f"{self.arch} / {self.acq_label}"
        return f"{base} [{self.variant}]" if self.variant else base

    def key(self) -> str:
        """`arch/acquisition label` (and `[variant]`): the method as scripts read it."""
        base = f"{self.arch}/{self.acq_label}"
        return f"{base} [{self.variant}]" if self.variant else base


@dataclass
class CellStats:
    """NME (percent) of one method at one size on one split: value per seed."""

    by_seed: dict[int, float]

    @property
    def n(self) -> int:
        return len(self.by_seed)

    @property
    def mean(self) -> float:
        return float(np.mean(list(self.by_seed.values())))

    @property
    def std(self) -> float:
        """Sample standard deviation (ddof=1); 0 for a single seed."""
        v = np.asarray(list(self.by_seed.values()), dtype=float)
        return float(v.std(ddof=1)) if len(v) > 1 else 0.0


@dataclass
class Comparison:
    """An acquisition against random at the same architecture, size and split, by seed."""

    method: Method
    reference: Method
    n_labeled: int
    split: str
    n_pairs: int
    mean_diff: float | None  # percentage points, method - random (negative: better)
    std_diff: float | None
    p_ttest: float | None
    p_wilcoxon: float | None
    p_holm: float | None = None  # adjusted over the table's family (see `judge`)
    verdict: str = ""  # better | worse | n.s. | too few seeds
    seeds_needed: int | None = None  # for 80 % power, where there is no verdict

    @property
    def settled(self) -> bool:
        return self.verdict in ("better", "worse")


@dataclass
class DatasetReport:
    """Everything one data set's table shows."""

    dataset: str
    splits: list[str]
    sizes: list[int]
    methods: list[Method]
    cells: dict[tuple[Method, int, str], CellStats]
    best: dict[tuple[int, str], set[Method]]
    comparisons: list[Comparison]
    baseline: dict[str, float] = field(default_factory=dict)  # mean-shape NME %, per split
    family: int = 0  # comparisons in the Holm-Bonferroni family (those with a t-test p)
    memo: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def stats(self, method: Method, n: int, split: str) -> CellStats | None:
        return self.cells.get((method, n, split))

    @property
    def max_seeds(self) -> int:
        return max((c.n for c in self.cells.values()), default=0)


@dataclass
class Report:
    experiment: str
    datasets: list[DatasetReport]
    skipped_files: list[tuple[str, str]] = field(default_factory=list)
    experiment_dir: str = "DIR"  # the folder, for the commands a report suggests


# -- building --------------------------------------------------------------------------
def _ordered_splits(datasets: list[str], splits: list[str]) -> list[str]:
    """The splits in their data sets' order (300-W common, challenging, full), then the
    others in the store's column order."""
    order = [s for d in datasets if (info := find_dataset(d)) is not None for s in info.splits]
    known = [s for s in dict.fromkeys(order) if s in splits]
    return known + [s for s in splits if s not in known]


# Protocol settings that split a table's rows when they vary (null in stores written before
# they existed, which ran the defaults).
PROTOCOL_COLUMNS = ("trainer_init", "warm_steps", "l0", "budget_remainder")
PROTOCOL_DEFAULTS = {"trainer_init": "scratch", "l0": "random", "budget_remainder": "round"}
#: The `rounds` columns a report reads (plus the metric columns): never the index lists.
REPORT_COLUMNS = ("dataset", "arch", "acq_label", "acquisition", "n_labeled", "seed",
                  "input_size", "width", "budget_sizes_json", *PROTOCOL_COLUMNS)


def _setting(row: dict[str, Any], col: str) -> Any:
    value = row.get(col)
    return PROTOCOL_DEFAULTS.get(col) if value is None else value


def _protocol_text(col: str, row: dict[str, Any]) -> str:
    value = _setting(row, col)
    if col == "warm_steps":
        return f"warm {value} steps" if value is not None else "warm steps = steps"
    return {"trainer_init": f"init {value}", "l0": f"L0 {value}",
            "budget_remainder": f"remainder {value}"}[col]


def _variant_fields(rows: list[dict[str, Any]]) -> list[str]:
    """The setting columns that differ between rows (they must tell methods apart)."""
    out = []
    for col in ("input_size", "width", "budget_sizes_json", *PROTOCOL_COLUMNS):
        if len({_setting(r, col) for r in rows}) > 1:
            out.append(col)
    return out


def _variant(row: dict[str, Any], cols: list[str]) -> str:
    parts = []
    for c in cols:
        if c == "input_size":
            parts.append(f"{row[c]}px")
        elif c == "width":
            parts.append(f"w{row[c]:g}")
        elif c == "warm_steps" and _setting(row, "trainer_init") != "warm":
            continue  # only a warm start has warm steps
        elif c in PROTOCOL_COLUMNS:
            parts.append(_protocol_text(c, row))
        else:
            sizes = json.loads(row[c])
            step = sizes[1] - sizes[0] if len(sizes) > 1 else 0
            parts.append(f"K={step}, final {sizes[-1]}")
    return ", ".join(parts)


def _p(value: float) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def paired_test(a: dict[int, float], b: dict[int, float], wilcoxon: bool = True) -> tuple[
        int, float | None, float | None, float | None, float | None]:
    """Pair two {seed: value} maps by seed: (n, mean a-b, std a-b, t-test p, Wilcoxon p).

    The p-values are None when they cannot be computed: fewer than two pairs, or (Wilcoxon)
    every difference zero, or (t-test) differences without variance; the Wilcoxon p also
    when not asked for (`wilcoxon=False`: the live view, which shows only the t-test's).
    """
    seeds = sorted(set(a) & set(b))
    n = len(seeds)
    if n == 0:
        return 0, None, None, None, None
    x = np.array([a[s] for s in seeds], dtype=float)
    y = np.array([b[s] for s in seeds], dtype=float)
    d = x - y
    mean_d = float(d.mean())
    std_d = float(d.std(ddof=1)) if n > 1 else None
    if n < 2:
        return n, mean_d, std_d, None, None
    # Differences equal up to float noise (NME stored as fractions, shown in percent) have
    # no variance: a t-test p there would be an artefact of rounding (paired_t says None).
    p_t = paired_t(x, y)
    tol = 1e-9 * max(1.0, float(np.abs(d).max()))
    if not wilcoxon or not np.any(np.abs(d) > tol):
        return n, mean_d, std_d, p_t, None
    from scipy import stats  # here: `scaf-al status` imports this module and should be fast

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scipy warns on degenerate inputs: n/a instead
        try:
            p_w = _p(stats.wilcoxon(d).pvalue)
        except ValueError:
            p_w = None
    return n, mean_d, std_d, p_t, p_w


def _dataset_report(dataset: str, rows: list[dict[str, Any]], splits: list[str],
                    wilcoxon: bool = True, plan: bool = True) -> DatasetReport:
    vcols = _variant_fields(rows)
    cells: dict[tuple[Method, int, str], dict[int, float]] = defaultdict(dict)
    base: dict[str, list[float]] = defaultdict(list)
    variants: dict[tuple[Any, ...], str] = {}  # parsed once per setting, not per row
    for r in rows:
        key = tuple(r[c] for c in vcols)
        if key not in variants:
            variants[key] = _variant(r, vcols)
        m = Method(r["arch"], r["acq_label"], r["acquisition"], variants[key])
        for s in splits:
            v = r.get(f"nme_{s}")
            if v is not None and math.isfinite(v):
                cells[(m, r["n_labeled"], s)][int(r["seed"])] = 100.0 * v
            b = r.get(f"baseline_nme_{s}")
            if b is not None and math.isfinite(b):
                base[s].append(100.0 * b)
    stats_ = {k: CellStats(v) for k, v in cells.items()}
    used_splits = [s for s in splits if any(k[2] == s for k in stats_)]
    sizes = sorted({k[1] for k in stats_})
    # Random first (the reference), then the others by architecture, name and variant.
    methods = sorted({k[0] for k in stats_},
                     key=lambda m: (m.arch, m.acquisition != RANDOM, m.acq_label, m.variant))
    best: dict[tuple[int, str], set[Method]] = {}
    for n in sizes:
        for s in used_splits:
            have = {m: stats_[(m, n, s)].mean for m in methods if (m, n, s) in stats_}
            if have:
                # Ties at the printed precision are all best.
                low = round(min(have.values()), 2)
                best[(n, s)] = {m for m, v in have.items() if round(v, 2) == low}
    comparisons = []
    for m in methods:
        if m.acquisition == RANDOM:
            continue
        ref = reference_of(m, methods)
        if ref is None:
            continue
        for n in sizes:
            for s in used_splits:
                a, b = stats_.get((m, n, s)), stats_.get((ref, n, s))
                if a is None or b is None:
                    continue
                comparisons.append(Comparison(m, ref, n, s, *paired_test(a.by_seed, b.by_seed,
                                                                         wilcoxon)))
    return DatasetReport(dataset, used_splits, sizes, methods, stats_, best, comparisons,
                         {s: float(np.mean(v)) for s, v in base.items()},
                         judge(comparisons, plan))


def _verdict(c: Comparison) -> str:
    if c.n_pairs < MIN_SEEDS:
        return "too few seeds"
    if c.p_holm is not None and c.mean_diff is not None and c.p_holm <= ALPHA:
        return "better" if c.mean_diff < 0 else "worse"
    return "n.s."


def judge(comparisons: list[Comparison], plan: bool = True) -> int:
    """Fill in each comparison's Holm-adjusted p, verdict and seeds needed; return the size
    of the family (the comparisons with a t-test p-value).

    Seeds needed, where there is no verdict: the pairs that give 80 % power to detect the
    observed mean difference (d = |mean| / sd of the differences), at least three; None
    where the differences have no spread (no t-test p: nothing to plan from).
    """
    tested = [c for c in comparisons if c.p_ttest is not None]
    for c, p in zip(tested, holm([c.p_ttest for c in tested if c.p_ttest is not None]),
                    strict=True):
        c.p_holm = p
    for c in comparisons:
        c.verdict = _verdict(c)
        c.seeds_needed = None
        if (plan and not c.settled and c.p_ttest is not None and c.mean_diff is not None
                and c.std_diff):
            c.seeds_needed = seeds_needed(abs(c.mean_diff) / c.std_diff)
    return len(tested)


def reference_of(m: Method, methods: list[Method]) -> Method | None:
    """Random sampling with the same architecture (and the same variant when there is one)."""
    same = [r for r in methods if r.acquisition == RANDOM and r.arch == m.arch]
    exact = [r for r in same if r.variant == m.variant]
    candidates = exact or same
    return candidates[0] if candidates else None


def build_report(rounds: pa.Table, split: str | None = None, experiment: str = "",
                 wilcoxon: bool = True, plan: bool = True) -> Report:
    """Aggregate a `rounds` table into per-data-set tables and comparisons with random.

    Args:
        rounds: the `rounds` table (`orchestrator.results.read_rounds`).
        split: show only this test split (default: every split in the store).
        experiment: a name for titles.
        wilcoxon: also the Wilcoxon signed-rank test's p (False: None, and faster).
        plan: work out the seeds needed where there is no verdict (False: None).

    Raises:
        ValueError: `split` is not a split of the store.
    """
    splits = _ordered_splits(sorted(set(rounds.column("dataset").to_pylist())),
                             metric_splits(rounds))
    if split is not None:
        if split not in splits:
            raise ValueError(f"--split {split!r} is not in the results; splits: "
                             f"{', '.join(splits) or '(none)'}")
        splits = [split]
    rows = rounds.to_pylist()
    by_ds: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        by_ds[r["dataset"]].append(r)
    datasets = []
    for ds in sorted(by_ds):
        rep = _dataset_report(ds, by_ds[ds], splits, wilcoxon, plan)
        if rep.cells:
            datasets.append(rep)
    return Report(experiment, datasets)


def load_report(experiment_dir: str | Path, split: str | None = None) -> Report:
    """Read an experiment folder's result store and build its report.

    Raises:
        ValueError: the folder has no results (names the folder).
    """
    exp = Path(experiment_dir)
    if not exp.exists():
        raise ValueError(f"experiment folder {exp} does not exist")
    read = read_table(str(exp), "rounds", columns=REPORT_COLUMNS)
    if read.table.num_rows == 0:
        raise ValueError(f"{exp} has no results yet ({exp}/results/rounds holds no rows)")
    folder = ExperimentFolder(exp)
    name = folder.name if folder.exists() else exp.name
    rep = build_report(read.table, split, name)
    rep.skipped_files = read.skipped
    rep.experiment_dir = str(exp)
    return rep
