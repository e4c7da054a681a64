"""`scaf-al report DIR`: the result store as the paper's tables, with a paired comparison
against random sampling.

Layout (like the SCAF paper's Tables 2-4): one table per data set; methods
(architecture / acquisition) as rows; labeled-set sizes as columns, each split into the
test splits (Common / Challenging / Full for 300-W, Full plus subsets for WFLW, `test` for
synthetic data). A cell holds the NME in percent, mean +- std over seeds; the lowest mean
per column is the best (bold in Markdown / LaTeX, `*` in the terminal and CSV).

"Better than random" is measured, not eyeballed: for every acquisition, size and split the
NME difference to random sampling at the same architecture and size is paired by seed
(the same seed shares L0 and the round-0 model), then tested with a paired t-test
(`scipy.stats.ttest_rel`) and a Wilcoxon signed-rank test. With fewer than two paired
seeds there is nothing to test and the report says "n/a".
"""

from __future__ import annotations

import csv
import io
import json
import math
import warnings
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
from rich.console import Group
from rich.markup import escape
from rich.table import Table
from scipy import stats

from orchestrator.experiment_folder import ExperimentFolder
from orchestrator.results import SPLIT_ORDER, metric_splits, read_table

SPLIT_TITLES = {"common": "Common", "challenging": "Challenging", "full": "Full",
                "test": "Full", "pose": "Pose", "expression": "Expr.", "illumination": "Illum.",
                "makeup": "Make-up", "occlusion": "Occl.", "blur": "Blur"}
DATASET_TITLES = {"300w": "300-W", "wflw": "WFLW", "synthetic": "synthetic faces",
                  "folder": "image folder"}
RANDOM = "random"


def split_title(dataset: str, split: str) -> str:
    """Column title of a split (`test` reads as `Full` for WFLW, stays `test` otherwise)."""
    if split == "test" and dataset not in ("wflw",):
        return "test"
    return SPLIT_TITLES.get(split, split)


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


# -- building --------------------------------------------------------------------------
def _ordered_splits(splits: list[str]) -> list[str]:
    known = [s for s in SPLIT_ORDER if s in splits]
    return known + [s for s in splits if s not in known]


def _variant_fields(rows: list[dict[str, Any]]) -> list[str]:
    """The setting columns that differ between rows (they must tell methods apart)."""
    out = []
    for col in ("input_size", "width", "budget_sizes_json"):
        if len({r[col] for r in rows}) > 1:
            out.append(col)
    return out


def _variant(row: dict[str, Any], cols: list[str]) -> str:
    parts = []
    for c in cols:
        if c == "input_size":
            parts.append(f"{row[c]}px")
        elif c == "width":
            parts.append(f"w{row[c]:g}")
        else:
            sizes = json.loads(row[c])
            step = sizes[1] - sizes[0] if len(sizes) > 1 else 0
            parts.append(f"K={step}, final {sizes[-1]}")
    return ", ".join(parts)


def _p(value: float) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def paired_test(a: dict[int, float], b: dict[int, float]) -> tuple[
        int, float | None, float | None, float | None, float | None]:
    """Pair two {seed: value} maps by seed: (n, mean a-b, std a-b, t-test p, Wilcoxon p).

    The p-values are None when they cannot be computed: fewer than two pairs, or (Wilcoxon)
    every difference zero, or (t-test) differences without variance.
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
    with warnings.catch_warnings():
        # scipy warns on degenerate inputs (zero variance); we report those as n/a instead.
        warnings.simplefilter("ignore")
        # Differences equal up to float noise (NME stored as fractions, shown in percent)
        # have no variance: a t-test p there would be an artefact of rounding.
        tol = 1e-9 * max(1.0, float(np.abs(d).max()))
        p_t = _p(stats.ttest_rel(x, y).pvalue) if np.ptp(d) > tol else None
        try:
            p_w = _p(stats.wilcoxon(d).pvalue) if np.any(np.abs(d) > tol) else None
        except ValueError:
            p_w = None
    return n, mean_d, std_d, p_t, p_w


def _dataset_report(dataset: str, rows: list[dict[str, Any]], splits: list[str]) -> DatasetReport:
    vcols = _variant_fields(rows)
    cells: dict[tuple[Method, int, str], dict[int, float]] = defaultdict(dict)
    base: dict[str, list[float]] = defaultdict(list)
    for r in rows:
        m = Method(r["arch"], r["acq_label"], r["acquisition"], _variant(r, vcols))
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
        ref = _reference(m, methods)
        if ref is None:
            continue
        for n in sizes:
            for s in used_splits:
                a, b = stats_.get((m, n, s)), stats_.get((ref, n, s))
                if a is None or b is None:
                    continue
                comparisons.append(Comparison(m, ref, n, s, *paired_test(a.by_seed, b.by_seed)))
    return DatasetReport(dataset, used_splits, sizes, methods, stats_, best, comparisons,
                         {s: float(np.mean(v)) for s, v in base.items()})


def _reference(m: Method, methods: list[Method]) -> Method | None:
    """Random sampling with the same architecture (and the same variant when there is one)."""
    same = [r for r in methods if r.acquisition == RANDOM and r.arch == m.arch]
    exact = [r for r in same if r.variant == m.variant]
    return (exact or same or [None])[0]


def build_report(rounds: pa.Table, split: str | None = None, experiment: str = "") -> Report:
    """Aggregate a `rounds` table into per-data-set tables and comparisons with random.

    Args:
        rounds: the `rounds` table (`orchestrator.results.read_rounds`).
        split: show only this test split (default: every split in the store).
        experiment: a name for titles.

    Raises:
        ValueError: `split` is not a split of the store.
    """
    splits = _ordered_splits(metric_splits(rounds))
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
        rep = _dataset_report(ds, by_ds[ds], splits)
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
    read = read_table(str(exp), "rounds")
    if read.table.num_rows == 0:
        raise ValueError(f"{exp} has no results yet ({exp}/results/rounds holds no rows)")
    folder = ExperimentFolder(exp)
    name = folder.name if folder.exists() else exp.name
    rep = build_report(read.table, split, name)
    rep.skipped_files = read.skipped
    return rep


# -- formatting ------------------------------------------------------------------------
def _fmt_p(p: float | None) -> str:
    if p is None:
        return "n/a"
    return f"{p:.3f}" if p >= 0.001 else f"{p:.1e}"


def _fmt_diff(c: Comparison) -> str:
    if c.mean_diff is None:
        return "n/a"
    sd = f" ± {c.std_diff:.2f}" if c.std_diff is not None else ""
    return f"{c.mean_diff:+.2f}{sd}"


def _verdict(c: Comparison, alpha: float = 0.05) -> str:
    """A short reading of the paired t-test: better / worse than random, or no evidence."""
    if c.p_ttest is None or c.mean_diff is None:
        return "n/a"
    if c.p_ttest < alpha:
        return "better" if c.mean_diff < 0 else "worse"
    return "n.s."


def _cell_text(rep: DatasetReport, st: CellStats | None, std_sep: str = " ± ") -> str:
    if st is None:
        return "-"
    text = f"{st.mean:.2f}{std_sep}{st.std:.2f}"
    if st.n < rep.max_seeds:
        text += f" [{st.n}]"  # fewer seeds than the rest of the table: say so
    return text


def _columns(rep: DatasetReport) -> list[tuple[int, str]]:
    return [(n, s) for n in rep.sizes for s in rep.splits]


def _seed_range(rep: DatasetReport, m: Method) -> str:
    ns = [c.n for (mm, _, _), c in rep.cells.items() if mm == m]
    lo, hi = min(ns), max(ns)
    return str(hi) if lo == hi else f"{lo}-{hi}"


def _title(rep: DatasetReport) -> str:
    return (f"NME (%) on {DATASET_TITLES.get(rep.dataset, rep.dataset)}, mean ± std over "
            f"seeds; columns: labeled images / test split")


def results_table(rep: DatasetReport) -> Table:
    """The paper-style table of one data set: methods x (labeled size, split), NME %."""
    t = Table(title=_title(rep),
              caption=escape(_caption(rep, "* best (lowest mean) per column")))
    t.add_column("architecture / acquisition", no_wrap=True)
    t.add_column("seeds", justify="right")
    for n, s in _columns(rep):
        t.add_column(f"{n}\n{split_title(rep.dataset, s)}", justify="right")
    for m in rep.methods:
        row = [escape(m.name()), _seed_range(rep, m)]
        for n, s in _columns(rep):
            text = escape(_cell_text(rep, rep.stats(m, n, s)))
            if m in rep.best.get((n, s), set()):
                text = f"[bold green]{text} *[/]"
            row.append(text)
        t.add_row(*row)
    return t


def render_terminal(report: Report, comparisons: bool = True) -> Group:
    """Rich tables (one per data set, each followed by its comparisons with random)."""
    parts: list[Any] = []
    for rep in report.datasets:
        parts.append(results_table(rep))
        if comparisons and rep.comparisons:
            parts.append(_comparison_table(rep))
    return Group(*parts)


def _caption(rep: DatasetReport, best_note: str) -> str:
    notes = [best_note]
    if any(c.n < rep.max_seeds for c in rep.cells.values()):
        notes.append(f"[k] = only k seeds (others have {rep.max_seeds})")
    if rep.baseline:
        base = ", ".join(f"{split_title(rep.dataset, s)} {v:.2f}%"
                         for s, v in rep.baseline.items() if s in rep.splits)
        if base:
            notes.append(f"mean-shape baseline: {base}")
    return "; ".join(notes)


def _comparison_table(rep: DatasetReport) -> Table:
    t = Table(title="Against random at the same size: NME difference (pp, negative = better), "
                    "paired by seed")
    for col in ("acquisition", "labeled", "split", "Δ mean ± sd", "pairs", "t-test p",
                "Wilcoxon p", "verdict (t, 5%)"):
        t.add_column(col, justify="left" if col in ("acquisition", "split") else "right",
                     no_wrap=col in ("acquisition", "Δ mean ± sd"))
    for c in rep.comparisons:
        v = _verdict(c)
        style = {"better": "green", "worse": "red"}.get(v)
        t.add_row(escape(c.method.name()), str(c.n_labeled), split_title(rep.dataset, c.split),
                  _fmt_diff(c), str(c.n_pairs), _fmt_p(c.p_ttest), _fmt_p(c.p_wilcoxon),
                  f"[{style}]{v}[/]" if style else v)
    return t


def render_markdown(report: Report) -> str:
    """GitHub Markdown: one table per data set (best in bold), then the comparisons."""
    out = [f"# Results: {report.experiment}\n" if report.experiment else "# Results\n"]
    for rep in report.datasets:
        out.append(f"## {_title(rep)}\n")
        cols = _columns(rep)
        header = ["architecture / acquisition", "seeds"] + [
            f"{n} · {split_title(rep.dataset, s)}" for n, s in cols]
        out.append("| " + " | ".join(header) + " |")
        out.append("|" + "---|" * 2 + "---:|" * len(cols))
        for m in rep.methods:
            cells = [m.name(), _seed_range(rep, m)]
            for n, s in cols:
                text = _cell_text(rep, rep.stats(m, n, s))
                if m in rep.best.get((n, s), set()):
                    text = f"**{text}**"
                cells.append(text)
            out.append("| " + " | ".join(cells) + " |")
        out.append("")
        out.append(_caption(rep, "**bold**: best (lowest mean) per column") + ".\n")
        if rep.comparisons:
            out.append("### Against random at the same size (paired by seed)\n")
            out.append("Δ = acquisition − random in NME percentage points (negative = better); "
                       "p-values of the paired t-test and the Wilcoxon signed-rank test.\n")
            out.append("| acquisition | labeled | split | Δ mean ± sd | pairs | t-test p | "
                       "Wilcoxon p | verdict (t, 5%) |")
            out.append("|---|---:|---|---:|---:|---:|---:|---|")
            for c in rep.comparisons:
                out.append(f"| {c.method.name()} | {c.n_labeled} | "
                           f"{split_title(rep.dataset, c.split)} | {_fmt_diff(c)} | "
                           f"{c.n_pairs} | {_fmt_p(c.p_ttest)} | {_fmt_p(c.p_wilcoxon)} | "
                           f"{_verdict(c)} |")
            out.append("")
    return "\n".join(out)


CSV_FIELDS = ["dataset", "arch", "acquisition", "variant", "n_labeled", "split",
              "nme_mean_pct", "nme_std_pct", "n_seeds", "best", "ref_acquisition",
              "diff_vs_random_pp", "n_pairs", "p_ttest", "p_wilcoxon"]


def render_csv(report: Report) -> str:
    """Long format: one line per method x size x split; `best` is `*` on the column's best."""
    comp = {(c.method, c.n_labeled, c.split): c for rep in report.datasets
            for c in rep.comparisons}
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_FIELDS)
    for rep in report.datasets:
        for m in rep.methods:
            for n, s in _columns(rep):
                st = rep.stats(m, n, s)
                if st is None:
                    continue
                c = comp.get((m, n, s))

                def num(x: float | None, fmt: str = ".4f") -> str:
                    return "" if x is None else format(x, fmt)

                w.writerow([rep.dataset, m.arch, m.acq_label, m.variant, n, s,
                            f"{st.mean:.4f}", f"{st.std:.4f}", st.n,
                            "*" if m in rep.best.get((n, s), set()) else "",
                            c.reference.acq_label if c else "",
                            num(c.mean_diff) if c else "", c.n_pairs if c else "",
                            num(c.p_ttest, ".6g") if c else "",
                            num(c.p_wilcoxon, ".6g") if c else ""])
    return buf.getvalue()


_TEX_ESCAPES = {"\\": r"\textbackslash{}", "_": r"\_", "%": r"\%", "&": r"\&", "#": r"\#",
                "$": r"\$", "{": r"\{", "}": r"\}"}


def _tex(s: str) -> str:
    """Escape LaTeX specials (one pass, so an inserted backslash is not escaped again)."""
    return "".join(_TEX_ESCAPES.get(ch, ch) for ch in s)


def render_latex(report: Report) -> str:
    """booktabs tables: sizes as multicolumn headers over the split sub-columns."""
    out = []
    for rep in report.datasets:
        cols = _columns(rep)
        k = len(rep.splits)
        out.append(r"\begin{table}[t]")
        out.append(r"\centering")
        title = _tex(_title(rep)).replace("±", r"$\pm$")
        out.append(r"\caption{" + title + r". Best per column in bold.}")
        out.append(r"\begin{tabular}{l" + "c" * len(cols) + "}")
        out.append(r"\toprule")
        top = ["Method"] + [rf"\multicolumn{{{k}}}{{c}}{{{n}}}" for n in rep.sizes]
        out.append(" & ".join(top) + r" \\")
        if k > 1:
            rules = "".join(rf"\cmidrule(lr){{{2 + i * k}-{1 + (i + 1) * k}}}"
                            for i in range(len(rep.sizes)))
            out.append(rules)
            out.append(" & ".join([""] + [_tex(split_title(rep.dataset, s)) for _, s in cols])
                       + r" \\")
        out.append(r"\midrule")
        for m in rep.methods:
            cells = [_tex(m.name())]
            for n, s in cols:
                st = rep.stats(m, n, s)
                if st is None:
                    cells.append("--")
                    continue
                mean = f"{st.mean:.2f}"
                if m in rep.best.get((n, s), set()):
                    mean = rf"\textbf{{{mean}}}"
                cell = rf"{mean}{{\scriptsize$\pm${st.std:.2f}}}"
                if st.n < rep.max_seeds:
                    cell += rf"$^{{{st.n}}}$"
                cells.append(cell)
            out.append(" & ".join(cells) + r" \\")
        out.append(r"\bottomrule")
        out.append(r"\end{tabular}")
        out.append(r"\end{table}")
        if rep.comparisons:
            out.append("")
            out.append(r"\begin{table}[t]")
            out.append(r"\centering")
            out.append(r"\caption{Against random at the same size: NME difference in "
                       r"percentage points (negative = better), paired by seed.}")
            out.append(r"\begin{tabular}{llrrrr}")
            out.append(r"\toprule")
            out.append(r"Method & Split & Labeled & $\Delta$ & Pairs & $p_t$ / $p_W$ \\")
            out.append(r"\midrule")
            for c in rep.comparisons:
                out.append(" & ".join([
                    _tex(c.method.name()), _tex(split_title(rep.dataset, c.split)),
                    str(c.n_labeled), _tex(_fmt_diff(c)).replace("±", r"$\pm$"),
                    str(c.n_pairs), f"{_fmt_p(c.p_ttest)} / {_fmt_p(c.p_wilcoxon)}"]) + r" \\")
            out.append(r"\bottomrule")
            out.append(r"\end{tabular}")
            out.append(r"\end{table}")
        out.append("")
    return "\n".join(out)
