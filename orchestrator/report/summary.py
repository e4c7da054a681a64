"""The conclusions of a report as text every format shares (rows of strings, notes) and as
one JSON object (`scaf-al report DIR --format json`)."""

from __future__ import annotations

import json
import math
from typing import Any

from orchestrator.report.conclusions import (
    Penalty,
    aubc_rows,
    penalties,
    savings,
    seeds_to_settle,
)
from orchestrator.report.stats import ALPHA, MAX_SEEDS, MIN_SEEDS, POWER
from orchestrator.report.tables import Comparison, DatasetReport, Method, Report, split_title

SUMMARY_HEADER = ["architecture / acquisition", "split", "AUBC (NME %)", "seeds",
                  "labels to reach random", "saved", "beaten"]
SUMMARY_NOTE = (
    "AUBC: each seed's NME over the labeled range (area under its learning curve / span of "
    "sizes), mean ± std over the seeds with the whole curve; lowest marked best. Labels to "
    "reach random: where the mean curve (linear between sizes) first reaches random's mean "
    "NME at random's largest size, and the share of that budget saved. Beaten: how often "
    "another method of the architecture is significantly better (BADGE penalty matrix, "
    "column mean; paired t-test at 5 % per size, at least 3 shared seeds).")


def fmt_p(p: float | None) -> str:
    if p is None:
        return "n/a"
    return f"{p:.3f}" if p >= 0.001 else f"{p:.1e}"


def fmt_diff(c: Comparison) -> str:
    if c.mean_diff is None:
        return "n/a"
    sd = f" ± {c.std_diff:.2f}" if c.std_diff is not None else ""
    return f"{c.mean_diff:+.2f}{sd}"


_TEX_ESCAPES = {"\\": r"\textbackslash{}", "_": r"\_", "%": r"\%", "&": r"\&", "#": r"\#",
                "$": r"\$", "{": r"\{", "}": r"\}"}


def tex(s: str) -> str:
    """Escape LaTeX specials (one pass, so an inserted backslash is not escaped again);
    ± and × as math."""
    out = "".join(_TEX_ESCAPES.get(ch, ch) for ch in s)
    return out.replace("±", r"$\pm$").replace("×", r"$\times$").replace("≤", r"$\le$")


def _num(x: float) -> str:
    return f"{x:.1f}".removesuffix(".0")


def summary_rows(rep: DatasetReport) -> list[list[tuple[str, bool]]]:
    """One row per method and split: (text, is_best) cells, best = lowest AUBC."""
    saved = {(s.method, s.split): s for s in savings(rep)}
    beaten = {(m, p.split): col for p in penalties(rep)
              for m, col in zip(p.methods, p.column_mean, strict=True)}
    rows = []
    for a in aubc_rows(rep):
        s = saved.get((a.method, a.split))
        if s is None:
            reach, frac = "-", "-"
        elif s.labels is None:
            reach, frac = f"not reached ({s.target:.2f}% at {s.budget})", "-"
        else:
            reach = f"{_num(s.labels)} (of {s.budget})"
            frac = f"{100 * (s.saved_fraction or 0.0):.0f}%"
        b = beaten.get((a.method, a.split))
        rows.append([(a.method.name(), False), (split_title(rep.dataset, a.split), False),
                     (f"{a.mean:.2f} ± {a.std:.2f}", a.best), (str(a.seeds), False),
                     (reach, False), (frac, False), ("-" if b is None else f"{b:.2f}", False)])
    return rows


def penalty_title(rep: DatasetReport, p: Penalty) -> str:
    return (f"Penalty matrix, {p.arch}, {split_title(rep.dataset, p.split)}: share of the "
            f"{p.sizes} labeled sizes at which the row is significantly better than the "
            f"column (paired t-test, 5 %)")


def _short(m: Method) -> str:
    return f"{m.acq_label} [{m.variant}]" if m.variant else m.acq_label


def penalty_rows(p: Penalty) -> tuple[list[str], list[list[str]]]:
    """(header, rows): a row per method i, a column per method j, then the column means."""
    header = ["row beats column", *(_short(m) for m in p.methods)]
    rows = [[_short(m), *(f"{v:.2f}" for v in row)]
            for m, row in zip(p.methods, p.matrix, strict=True)]
    rows.append(["beaten (column mean)", *(f"{v:.2f}" for v in p.column_mean)])
    return header, rows


def family_note(rep: DatasetReport) -> str:
    return (f"Verdicts: paired t-test p adjusted by Holm–Bonferroni over the family of the "
            f"{rep.family} comparisons of this table with a p-value (every acquisition × "
            f"labeled size × split, each against random of its architecture); better / "
            f"worse where the adjusted p ≤ {ALPHA:g}; with fewer than {MIN_SEEDS} paired "
            f"seeds \"too few seeds\", whatever the p-value.")


def seeds_text(c: Comparison) -> str:
    """The seeds-needed cell of a comparison."""
    if c.settled:
        return "-"
    if c.seeds_needed is None:
        return f"at least {MIN_SEEDS}" if c.verdict == "too few seeds" else "-"
    capped = " (cap)" if c.seeds_needed >= MAX_SEEDS else ""
    return f"about {c.seeds_needed} seeds{capped}"


def seeds_note(rep: DatasetReport, experiment_dir: str) -> str:
    """What it would take to settle the comparisons without a verdict ("" when none)."""
    open_ = [c for c in rep.comparisons if not c.settled]
    if not open_:
        return ""
    n = seeds_to_settle(rep)
    head = (f"{len(open_)} of {len(rep.comparisons)} comparisons have no verdict")
    if n is None:
        return head + " (their differences have no spread to plan from)."
    power = (f"about {n} seeds per configuration would give {100 * POWER:.0f} % power to "
             f"detect each difference seen (two-sided paired t-test at {100 * ALPHA:g} %, "
             f"before the correction)")
    if n <= rep.max_seeds:
        return (f"{head}; {power}, no more than there are: what is open is due to the "
                f"correction over {rep.family} comparisons.")
    return f"{head}; {power}: scaf-al extend {experiment_dir} --seeds {n}"


# -- LaTeX ---------------------------------------------------------------------------
def _tex_table(caption: str, header: list[str], rows: list[list[str]], align: str) -> list[str]:
    return [r"\begin{table}[t]", r"\centering", r"\caption{" + caption + "}",
            r"\begin{tabular}{" + align + "}", r"\toprule", " & ".join(header) + r" \\",
            r"\midrule", *(" & ".join(r) + r" \\" for r in rows), r"\bottomrule",
            r"\end{tabular}", r"\end{table}", ""]


def latex_conclusions(rep: DatasetReport, experiment_dir: str) -> list[str]:
    """The summary over the budget, the penalty matrices and the corrected comparisons
    against random as booktabs tables."""
    rows = [[rf"\textbf{{{tex(t)}}}" if best else tex(t) for t, best in row]
            for row in summary_rows(rep)]
    out = ["", *_tex_table(tex("Over the whole budget. " + SUMMARY_NOTE + " Bold: lowest AUBC."),
                           [tex(h) for h in SUMMARY_HEADER], rows, "llrrrrr")]
    for p in penalties(rep):
        if len(p.methods) > 1:
            header, prow = penalty_rows(p)
            out += _tex_table(tex(penalty_title(rep, p) + "."), [tex(h) for h in header],
                              [[tex(x) for x in r] for r in prow], "l" + "r" * len(p.methods))
    if rep.comparisons:
        crows = [[tex(c.method.name()), tex(split_title(rep.dataset, c.split)),
                  str(c.n_labeled), tex(fmt_diff(c)), str(c.n_pairs),
                  f"{fmt_p(c.p_ttest)} / {fmt_p(c.p_holm)} / {fmt_p(c.p_wilcoxon)}",
                  tex(c.verdict), tex(seeds_text(c))] for c in rep.comparisons]
        cap = ("Against random at the same size: NME difference in percentage points "
               "(negative = better), paired by seed. " + family_note(rep) + " "
               + seeds_note(rep, experiment_dir))
        out += _tex_table(tex(cap.strip()), [
            "Method", "Split", "Labeled", r"$\Delta$", "Pairs", r"$p_t$ / $p_{Holm}$ / $p_W$",
            "Verdict", "Seeds needed"], crows, "llrrrrll")
    return out


# -- JSON ------------------------------------------------------------------------------
def _f(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def _key(m: Method) -> str:
    return m.key()


def conclusions_json(rep: DatasetReport) -> dict[str, list[dict[str, Any]]]:
    """The four lists of one data set's conclusions."""
    return {
        "aubc": [{"method": _key(a.method), "split": a.split, "mean": _f(a.mean),
                  "std": _f(a.std), "seeds": a.seeds} for a in aubc_rows(rep)],
        "savings": [{"method": _key(s.method), "split": s.split, "labels": _f(s.labels),
                     "saved_fraction": _f(s.saved_fraction)} for s in savings(rep)],
        "penalty": [{"split": p.split, "arch": p.arch,
                     "methods": [_key(m) for m in p.methods], "matrix": p.matrix}
                    for p in penalties(rep)],
        "versus_random": [{"method": _key(c.method), "split": c.split,
                           "labeled": c.n_labeled, "delta_mean": _f(c.mean_diff),
                           "p_ttest": _f(c.p_ttest), "p_holm": _f(c.p_holm),
                           "verdict": c.verdict, "seeds_needed": c.seeds_needed}
                          for c in rep.comparisons],
    }


def render_json(report: Report) -> str:
    """One JSON object: the experiment, how the verdicts are made, the lists `aubc`,
    `savings`, `penalty` and `versus_random` over every data set of the report, and
    `settle`: per data set with comparisons left open, the seeds that would settle them and
    the command that gets them."""
    out: dict[str, Any] = {"experiment": report.experiment, "alpha": ALPHA,
                           "min_seeds": MIN_SEEDS,
                           "family": "per data set: every acquisition x labeled size x "
                                     "split against random with a t-test p (Holm-Bonferroni)",
                           "aubc": [], "savings": [], "penalty": [], "versus_random": []}
    settle = []
    for rep in report.datasets:
        for key, rows in conclusions_json(rep).items():
            out[key] += rows
        n = seeds_to_settle(rep)
        if n is not None and n > rep.max_seeds:
            settle.append({"dataset": rep.dataset, "seeds": n,
                           "command": f"scaf-al extend {report.experiment_dir} --seeds {n}"})
    out["settle"] = settle
    return json.dumps(out, indent=2, ensure_ascii=False)
