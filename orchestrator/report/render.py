"""Renderers of a :class:`~orchestrator.report.tables.Report`: the terminal (rich), Markdown, CSV
and LaTeX versions of the paper-style tables, the conclusions (AUBC, labels saved, the
penalty matrix: :mod:`orchestrator.report.summary`) and the corrected comparisons against
random."""

from __future__ import annotations

import csv
import io
from typing import Any

from rich.console import Group
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from orchestrator.report.conclusions import aubc_rows, penalties, savings
from orchestrator.report.summary import (
    SUMMARY_HEADER,
    SUMMARY_NOTE,
    family_note,
    fmt_diff,
    fmt_p,
    latex_conclusions,
    penalty_rows,
    penalty_title,
    seeds_note,
    seeds_text,
    summary_rows,
    tex,
)
from orchestrator.report.tables import (
    CellStats,
    Comparison,
    DatasetReport,
    Method,
    Report,
    dataset_title,
    split_title,
)


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
    """Rich tables (one per data set, each followed by its conclusions and comparisons with
    random unless `comparisons` is False)."""
    parts: list[Any] = []
    for rep in report.datasets:
        parts.append(results_table(rep))
        if comparisons:
            parts += _conclusion_tables(rep, report.experiment_dir)
    return Group(*parts)


def _conclusion_tables(rep: DatasetReport, experiment_dir: str) -> list[Any]:
    t = Table(title="Over the whole budget", caption=escape(SUMMARY_NOTE))
    for col in SUMMARY_HEADER:
        t.add_column(col, justify="left" if col in SUMMARY_HEADER[:2] else "right")
    for row in summary_rows(rep):
        t.add_row(*(f"[bold green]{escape(x)} *[/]" if best else escape(x) for x, best in row))
    parts: list[Any] = [t]
    for p in penalties(rep):
        if len(p.methods) < 2:
            continue
        header, rows = penalty_rows(p)
        pt = Table(title=escape(penalty_title(rep, p)))
        for i, col in enumerate(header):
            pt.add_column(escape(col), justify="left" if i == 0 else "right")
        for r in rows:
            pt.add_row(*(escape(x) for x in r))
        parts.append(pt)
    if rep.comparisons:
        parts.append(_comparison_table(rep))
        parts.append(Text(family_note(rep)))
        note = seeds_note(rep, experiment_dir)
        if note:
            parts.append(Text(note, style="yellow"))
    return parts


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
    for col in COMPARISON_HEADER:
        t.add_column(col, justify="left" if col in ("acquisition", "split") else "right",
                     no_wrap=col in ("acquisition", "Δ mean ± sd"))
    for c, row in zip(rep.comparisons, comparison_rows(rep), strict=True):
        style = {"better": "green", "worse": "red"}.get(c.verdict)
        cells = [escape(x) for x in row]
        if style:
            cells[VERDICT_COLUMN] = f"[{style}]{cells[VERDICT_COLUMN]}[/]"
        t.add_row(*cells)
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
                   "p-values of the paired t-test (and adjusted by Holm–Bonferroni) and of the "
                   "Wilcoxon signed-rank test; seeds needed: for 80 % power to detect the "
                   "difference seen, where there is no verdict.")
COMPARISON_HEADER = ["acquisition", "labeled", "split", "Δ mean ± sd", "pairs", "t-test p",
                     "Holm p", "Wilcoxon p", "verdict (Holm, 5%)", "seeds needed"]
VERDICT_COLUMN = COMPARISON_HEADER.index("verdict (Holm, 5%)")


def comparison_rows(rep: DatasetReport) -> list[list[str]]:
    """The comparisons against random, one row per acquisition x size x split."""
    return [[c.method.name(), str(c.n_labeled), split_title(rep.dataset, c.split),
             fmt_diff(c), str(c.n_pairs), fmt_p(c.p_ttest), fmt_p(c.p_holm),
             fmt_p(c.p_wilcoxon), c.verdict, seeds_text(c)] for c in rep.comparisons]


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
        out += _markdown_conclusions(rep, report.experiment_dir)
    return "\n".join(out)


def _md_table(header: list[str], rows: list[list[tuple[str, bool]]], left: int = 1) -> list[str]:
    out = ["| " + " | ".join(header) + " |",
           "|" + "---|" * left + "---:|" * (len(header) - left)]
    out += ["| " + " | ".join(f"**{t}**" if best else t for t, best in row) + " |"
            for row in rows]
    return [*out, ""]


def _markdown_conclusions(rep: DatasetReport, experiment_dir: str) -> list[str]:
    out = ["### Over the whole budget\n", *_md_table(SUMMARY_HEADER, summary_rows(rep), 2),
           SUMMARY_NOTE + " **Bold**: lowest AUBC.\n"]
    for p in penalties(rep):
        if len(p.methods) > 1:
            header, rows = penalty_rows(p)
            out += [f"#### {penalty_title(rep, p)}\n",
                    *_md_table(header, [[(x, False) for x in r] for r in rows])]
    if rep.comparisons:
        out.append("### Against random at the same size (paired by seed)\n")
        out.append(COMPARISON_NOTE + "\n")
        out.append("| " + " | ".join(COMPARISON_HEADER) + " |")
        out.append("|---|---:|---|---:|---:|---:|---:|---:|---|---:|")
        out += ["| " + " | ".join(r) + " |" for r in comparison_rows(rep)]
        out += ["", family_note(rep) + "\n"]
        note = seeds_note(rep, experiment_dir)
        if note:
            out.append(note.replace("scaf-al extend", "`scaf-al extend") + "`\n"
                       if "scaf-al extend" in note else note + "\n")
    return out


CSV_FIELDS = ["dataset", "arch", "acquisition", "variant", "n_labeled", "split",
              "nme_mean_pct", "nme_std_pct", "n_seeds", "best", "ref_acquisition",
              "diff_vs_random_pp", "n_pairs", "p_ttest", "p_wilcoxon",
              "p_holm", "holm_family", "verdict", "seeds_needed",
              "aubc_mean_pct", "aubc_std_pct", "aubc_seeds", "aubc_best",
              "labels_to_reach_random", "saved_fraction", "beaten"]


def _num(x: float | None, fmt: str = ".4f") -> str:
    return "" if x is None else format(x, fmt)


def _method_split_columns(rep: DatasetReport) -> dict[tuple[Method, str], list[str]]:
    """The conclusions about a method on a split, as the CSV's last columns (repeated on
    each of its sizes)."""
    out: dict[tuple[Method, str], list[str]] = {}
    for a in aubc_rows(rep):
        out[(a.method, a.split)] = [f"{a.mean:.4f}", f"{a.std:.4f}", str(a.seeds),
                                    "*" if a.best else "", "", "", ""]
    for sv in savings(rep):
        row = out.setdefault((sv.method, sv.split), [""] * 7)
        row[4], row[5] = _num(sv.labels), _num(sv.saved_fraction)
    for p in penalties(rep):
        for m, col in zip(p.methods, p.column_mean, strict=True):
            out.setdefault((m, p.split), [""] * 7)[6] = f"{col:.4f}"
    return out


def _comparison_columns(c: Comparison | None, family: int) -> list[Any]:
    if c is None:
        return [""] * 9
    return [c.reference.acq_label, _num(c.mean_diff), c.n_pairs, _num(c.p_ttest, ".6g"),
            _num(c.p_wilcoxon, ".6g"), _num(c.p_holm, ".6g"), family, c.verdict,
            c.seeds_needed if c.seeds_needed is not None else ""]


def render_csv(report: Report) -> str:
    """Long format: one line per method x size x split; `best` is `*` on the column's best;
    the comparison with random (Holm-adjusted p over `holm_family` comparisons, verdict,
    seeds needed) on the acquisitions' lines; the method's AUBC, labels to reach random,
    the share saved and how often it is beaten (penalty column mean) on each of its lines."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_FIELDS)
    for rep in report.datasets:
        comp = {(c.method, c.n_labeled, c.split): c for c in rep.comparisons}
        per_method = _method_split_columns(rep)
        for m in rep.methods:
            for n, s in _columns(rep):
                st = rep.stats(m, n, s)
                if st is None:
                    continue
                w.writerow([rep.dataset, m.arch, m.acq_label, m.variant, n, s,
                            f"{st.mean:.4f}", f"{st.std:.4f}", st.n,
                            "*" if m in rep.best.get((n, s), set()) else "",
                            *_comparison_columns(comp.get((m, n, s)), rep.family),
                            *per_method.get((m, s), [""] * 7)])
    return buf.getvalue()


def render_latex(report: Report) -> str:
    """booktabs tables: sizes as multicolumn headers over the split sub-columns."""
    out = []
    for rep in report.datasets:
        cols = _columns(rep)
        k = len(rep.splits)
        out.append(r"\begin{table}[t]")
        out.append(r"\centering")
        name = tex(title(rep)).replace("±", r"$\pm$")
        out.append(r"\caption{" + name + r". Best per column in bold.}")
        out.append(r"\begin{tabular}{l" + "c" * len(cols) + "}")
        out.append(r"\toprule")
        top = ["Method"] + [rf"\multicolumn{{{k}}}{{c}}{{{n}}}" for n in rep.sizes]
        out.append(" & ".join(top) + r" \\")
        if k > 1:
            rules = "".join(rf"\cmidrule(lr){{{2 + i * k}-{1 + (i + 1) * k}}}"
                            for i in range(len(rep.sizes)))
            out.append(rules)
            out.append(" & ".join([""] + [tex(split_title(rep.dataset, s)) for _, s in cols])
                       + r" \\")
        out.append(r"\midrule")
        for m in rep.methods:
            cells = [tex(m.name())]
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
        out += latex_conclusions(rep, report.experiment_dir)
        out.append("")
    return "\n".join(out)
