"""One self-contained HTML page of an experiment: the progress headline and grid, the
paper-style tables, the conclusions (AUBC, labels saved, penalty matrices), the corrected
tests against random, the learning curves and the first picks of each acquisition. No
network: styles inline, plots as inline SVG, gallery images as data URIs.

`scaf-al report DIR --format html --out FILE` writes it once; `scaf-al watch DIR --html FILE`
rewrites it atomically every interval, and the page reloads itself.
"""

from __future__ import annotations

import base64
import html
import io
import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from orchestrator.progress.grid import grid_view
from orchestrator.progress.render import duration
from orchestrator.progress.snapshot import Snapshot, take_snapshot
from orchestrator.report.conclusions import penalties
from orchestrator.report.render import (
    COMPARISON_HEADER,
    COMPARISON_NOTE,
    caption,
    comparison_rows,
    table_rows,
    title,
)
from orchestrator.report.summary import (
    SUMMARY_HEADER,
    SUMMARY_NOTE,
    family_note,
    penalty_rows,
    penalty_title,
    seeds_note,
    summary_rows,
)
from orchestrator.report.tables import Report, build_report
from orchestrator.results.experiment_folder import ExperimentFolder
from orchestrator.results.readers import read_table

STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:1.5em;
color:#222;max-width:1200px}
h1{font-size:1.4em}h2{font-size:1.15em;margin-top:1.6em}h3{font-size:1em}
table{border-collapse:collapse;margin:.5em 0}
th,td{border:1px solid #ccc;padding:.25em .6em;text-align:right;font-size:.9em}
th:first-child,td:first-child{text-align:left}
.best{font-weight:bold;background:#eef7ee}.note{color:#555;font-size:.85em}
.bar{background:#eee;height:14px;width:420px;display:inline-block;vertical-align:middle}
.bar span{background:#3a7;height:14px;display:block}
.bad{color:#b00}.warn{color:#a60}svg{max-width:100%;height:auto}
"""


def _esc(text: object) -> str:
    return html.escape(str(text))


def _table(header: list[str], rows: list[list[tuple[str, bool]]]) -> str:
    head = "".join(f"<th>{_esc(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td class='best'>{_esc(t)}</td>" if best else f"<td>{_esc(t)}</td>"
                         for t, best in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _plain_rows(rows: list[list[str]]) -> list[list[tuple[str, bool]]]:
    return [[(v, False) for v in row] for row in rows]


def progress_section(snap: Snapshot) -> str:
    """The headline, a bar, the architecture x acquisition grid, problems and nodes."""
    view = grid_view(snap)
    pct = 100.0 * snap.done / snap.total if snap.total else 0.0
    states = ", ".join(f"{n} {s.lower()}" for s, n in sorted(view.states.items()))
    rate = f"{view.rounds_per_hour:.0f} trial-rounds/h" if view.rounds_per_hour else "-"
    out = [f"<p id='headline'><b>{snap.done}/{snap.total} trial-rounds ({pct:.0f}%)</b>, "
           f"{snap.finished_cells}/{len(snap.cells)} cells complete ({_esc(states)}); "
           f"{rate}; elapsed {duration(snap.elapsed())}, ETA {duration(view.eta)}</p>",
           f"<div class='bar'><span style='width:{pct:.1f}%'></span></div>"]
    budgets = view.budgets
    rows = [[(f"{g.arch} / {g.acquisition}", False)]
            + [(f"{g.done.get(b, 0)}/{g.total[b]}" if b in g.total else "-", False)
               for b in budgets]
            + [(f"{100 * g.mean_nme:.2f}%" if g.mean_nme is not None else "-", False)]
            for g in view.groups]
    out.append(_table(["architecture / acquisition", *(f"cells done, budget {b}"
                                                        for b in budgets), "mean NME"], rows))
    st = view.standings
    if st is not None:
        out.append(f"<h3>AUBC so far and standing against random ({_esc(st.split)}; cells "
                   f"finished, at least 3 seeds; Holm–Bonferroni over {st.family})</h3>")
        out.append(_table(["method", "AUBC (NME %)", "seeds", "sizes by verdict"],
                          [[(r.method, False), (f"{r.aubc:.2f} ± {r.std:.2f}", False),
                            (str(r.seeds), False), (r.text(), False)] for r in st.rows]))
    if view.problems:
        items = "".join(f"<li class='{'bad' if p.kind == 'ERROR' else 'warn'}'>{_esc(p.kind)} "
                        f"{_esc(p.label)}: {_esc(p.detail)}</li>" for p in view.problems[:50])
        more = len(view.problems) - 50
        out.append(f"<h3>Problems ({len(view.problems)})</h3><ul>{items}</ul>"
                   + (f"<p class='note'>... {more} more</p>" if more > 0 else ""))
    return "\n".join(out)


def results_section(report: Report) -> str:
    """The paper-style tables and the comparisons against random, per data set."""
    out = []
    for rep in report.datasets:
        header, rows = table_rows(rep)
        out += [f"<h2>{_esc(title(rep))}</h2>", _table(header, rows),
                f"<p class='note'>{_esc(caption(rep, 'bold: best (lowest mean) per column'))}"
                "</p>"]
        out += ["<h3>Over the whole budget</h3>", _table(SUMMARY_HEADER, summary_rows(rep)),
                f"<p class='note'>{_esc(SUMMARY_NOTE)} Bold: lowest AUBC.</p>"]
        for p in penalties(rep):
            if len(p.methods) > 1:
                p_header, p_rows = penalty_rows(p)
                out += [f"<h3>{_esc(penalty_title(rep, p))}</h3>",
                        _table(p_header, _plain_rows(p_rows))]
        if rep.comparisons:
            note = seeds_note(rep, report.experiment_dir)
            out += ["<h3>Against random at the same size (paired by seed)</h3>",
                    f"<p class='note'>{_esc(COMPARISON_NOTE)}</p>",
                    _table(COMPARISON_HEADER, _plain_rows(comparison_rows(rep))),
                    f"<p class='note'>{_esc(family_note(rep))}</p>"]
            out += [f"<p class='warn'>{_esc(note)}</p>"] if note else []
    return "\n".join(out)


def curves_section(report: Report) -> str:
    """The learning curves as inline SVG."""
    import matplotlib.pyplot as plt

    from orchestrator.report.plots import learning_curve_figure

    out = []
    for rep in report.datasets:
        fig = learning_curve_figure(rep)
        try:
            buf = io.StringIO()
            fig.savefig(buf, format="svg")
        finally:
            plt.close(fig)
        svg = buf.getvalue()
        out.append(svg[svg.index("<svg"):])
    return "\n".join(out)


def gallery_section(folder: ExperimentFolder, top: int = 4) -> str:
    """The first picks of each acquisition (round 0 of its first cell), as a PNG data URI;
    a note instead when the pool cannot be loaded here."""
    from orchestrator.report.gallery import write_first_picks

    with tempfile.TemporaryDirectory() as d:
        try:
            png = write_first_picks(folder, Path(d) / "picks.png", top=top)
        except (OSError, ValueError) as e:
            return f"<p class='note'>No gallery: {_esc(e)}</p>"
        if png is None:
            return "<p class='note'>No picks yet (round 0 has not finished).</p>"
        data = base64.b64encode(png.read_bytes()).decode()
    return f"<img alt='first picks of each acquisition' src='data:image/png;base64,{data}'>"


def render_html(folder: ExperimentFolder, *, refresh: float | None = None,
                gallery: str | None = None) -> str:
    """The whole page. `refresh`: seconds after which the page reloads itself;
    `gallery`: a gallery section already rendered (it only changes until round 0 ends)."""
    snap = take_snapshot(folder)
    read = read_table(folder.store, "rounds")
    report = build_report(read.table, experiment=snap.name)
    report.experiment_dir = str(folder.path)
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    meta = f"<meta http-equiv='refresh' content='{refresh:g}'>" if refresh else ""
    parts = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>{meta}"
             f"<title>scaf-al: {_esc(snap.name)}</title><style>{STYLE}</style></head><body>",
             f"<h1>scaf-al: {_esc(snap.name)}</h1>",
             f"<p class='note'>{_esc(folder.path)} · written {now}</p>",
             "<h2>Progress</h2>", progress_section(snap)]
    if report.datasets:
        parts += [results_section(report), "<h2>Learning curves</h2>", curves_section(report)]
    else:
        parts.append("<p class='note'>No finished rounds yet.</p>")
    parts += ["<h2>First picks of each acquisition</h2>",
              gallery if gallery is not None else gallery_section(folder), "</body></html>"]
    return "\n".join(parts)


def write_html(experiment_dir: str | Path, out: str | Path, *, refresh: float | None = None,
               gallery: str | None = None) -> Path:
    """Write the page atomically (a temporary file renamed over `out`)."""
    folder = ExperimentFolder.open(experiment_dir)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    text = render_html(folder, refresh=refresh, gallery=gallery)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", dir=out.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.chmod(tmp, 0o644)
    os.replace(tmp, out)
    return out
