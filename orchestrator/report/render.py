"""Renderers of a :class:`~orchestrator.report.tables.Report`: the terminal (rich), Markdown, CSV
and LaTeX versions of the paper-style tables and of the comparisons against random."""

from __future__ import annotations

import csv
import io
from typing import Any

from rich.console import Group
from rich.markup import escape
from rich.table import Table

from orchestrator.report.tables import (
    CellStats,
    Comparison,
    DatasetReport,
    Method,
    Report,
    dataset_title,
    split_title,
)


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


def title(rep: DatasetReport) -> str:
    return (f"NME (%) on {dataset_title(rep.dataset)}, mean ± std over "
            f"seeds; columns: labeled images / test split")


def results_table(rep: DatasetReport) -> Table:
    """The paper-style table of one data set: methods x (labeled size, split), NME %."""
    t = Table(title=title(rep),
              caption=escape(caption(rep, "* best (lowest mean) per column")))
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


def caption(rep: DatasetReport, best_note: str) -> str:
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


def table_rows(rep: DatasetReport) -> tuple[list[str], list[list[tuple[str, bool]]]]:
    """The paper-style table as (header, rows of (text, is_best) cells), shared by the
    Markdown and HTML renderers."""
    cols = _columns(rep)
    header = ["architecture / acquisition", "seeds"] + [
        f"{n} · {split_title(rep.dataset, s)}" for n, s in cols]
    rows = []
    for m in rep.methods:
        cells = [(m.name(), False), (_seed_range(rep, m), False)]
        cells += [(_cell_text(rep, rep.stats(m, n, s)), m in rep.best.get((n, s), set()))
                  for n, s in cols]
        rows.append(cells)
    return header, rows


COMPARISON_NOTE = ("Δ = acquisition − random in NME percentage points (negative = better); "
                   "p-values of the paired t-test and the Wilcoxon signed-rank test.")
COMPARISON_HEADER = ["acquisition", "labeled", "split", "Δ mean ± sd", "pairs", "t-test p",
                     "Wilcoxon p", "verdict (t, 5%)"]


def comparison_rows(rep: DatasetReport) -> list[list[str]]:
    """The comparisons against random, one row per acquisition x size x split."""
    return [[c.method.name(), str(c.n_labeled), split_title(rep.dataset, c.split),
             _fmt_diff(c), str(c.n_pairs), _fmt_p(c.p_ttest), _fmt_p(c.p_wilcoxon),
             _verdict(c)] for c in rep.comparisons]


def render_markdown(report: Report) -> str:
    """GitHub Markdown: one table per data set (best in bold), then the comparisons."""
    out = [f"# Results: {report.experiment}\n" if report.experiment else "# Results\n"]
    for rep in report.datasets:
        out.append(f"## {title(rep)}\n")
        header, rows = table_rows(rep)
        out.append("| " + " | ".join(header) + " |")
        out.append("|" + "---|" * 2 + "---:|" * (len(header) - 2))
        for row in rows:
            out.append("| " + " | ".join(f"**{t}**" if best else t for t, best in row) + " |")
        out.append("")
        out.append(caption(rep, "**bold**: best (lowest mean) per column") + ".\n")
        if rep.comparisons:
            out.append("### Against random at the same size (paired by seed)\n")
            out.append(COMPARISON_NOTE + "\n")
            out.append("| " + " | ".join(COMPARISON_HEADER) + " |")
            out.append("|---|---:|---|---:|---:|---:|---:|---|")
            out += ["| " + " | ".join(r) + " |" for r in comparison_rows(rep)]
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
        name = _tex(title(rep)).replace("±", r"$\pm$")
        out.append(r"\caption{" + name + r". Best per column in bold.}")
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
