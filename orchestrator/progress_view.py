"""Renderers of a progress :class:`~orchestrator.progress.Snapshot`: rich (terminals),
plain text (logs, pipes, CI) and the one-line status. The views share the labels,
colours and columns defined here."""

from __future__ import annotations

from typing import Any

from rich.console import Group
from rich.markup import escape
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from orchestrator.progress import CellProgress, Snapshot

STATE_STYLES = {"ERROR": "red", "RETRY": "yellow", "DONE": "green", "RUNNING": "cyan",
                "STOPPED": "magenta"}
COLUMNS = ("cell", "state", "rounds", "labeled", "last NME", "elapsed", "where")
RIGHT_ALIGNED = ("rounds", "labeled", "elapsed")
CELL_CAPTION = "cell = architecture/acquisition/b<final budget>/s<seed>"
STOPPED_HINT = "the run has stopped with cells unfinished; continue it with `scaf-al resume DIR`"


def duration(s: float | None) -> str:
    """`m:ss` or `h:mm:ss`; "-" when unknown."""
    if s is None:
        return "-"
    s = int(round(s))
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}"


def headline(snap: Snapshot) -> str:
    pct = 100.0 * snap.done / snap.total if snap.total else 0.0
    return (f"{snap.name}: {snap.done}/{snap.total} trial-rounds ({pct:.0f}%), "
            f"{snap.finished_cells}/{len(snap.cells)} cells complete, "
            f"elapsed {duration(snap.elapsed())}, ETA {duration(snap.eta())}")


def status_lines(snap: Snapshot) -> list[str]:
    """`scaf-al status`: the counts, then any result file the store had to skip."""
    lines = [f"{snap.name}: {snap.done}/{snap.total} trial-rounds, "
             f"{snap.finished_cells}/{len(snap.cells)} cells complete"]
    lines += [f"skipped unreadable result file {p}: {why}" for p, why in snap.skipped_files]
    return lines


def cell_values(c: CellProgress, now: float) -> list[str]:
    """One cell's values, in COLUMNS order."""
    nme = f"{100 * c.nme:.2f}%" if c.nme is not None else "-"
    return [c.label, c.state, f"{c.rounds_done}/{c.rounds_total}",
            str(c.n_labeled) if c.n_labeled is not None else "-", nme,
            duration(c.elapsed(now)), c.where or "-"]


def _footer(snap: Snapshot) -> list[tuple[str, str]]:
    """(text, style) lines under the table."""
    out = [(f"skipped unreadable result file {p}: {why}", "yellow")
           for p, why in snap.skipped_files]
    if snap.ended and not snap.complete:
        out.append((STOPPED_HINT, "magenta"))
    return out


def render_rich(snap: Snapshot) -> Group:
    """Headline, a progress bar over trial-rounds, then the table of cells."""
    bar = Table.grid(padding=(0, 1))
    bar.add_row("trial-rounds", ProgressBar(total=max(snap.total, 1), completed=snap.done,
                                            width=50), f"{snap.done}/{snap.total}")
    split = snap.nme_split
    t = Table(expand=False, caption=CELL_CAPTION)
    for col in COLUMNS:
        title = f"{col} ({split})" if col == "last NME" and split else col
        t.add_column(title, justify="right" if col in RIGHT_ALIGNED else "left", no_wrap=True)
    with_problems = any(c.problem for c in snap.cells)
    if with_problems:
        t.add_column("failures / error")  # the only column that wraps when space is short
    for c in snap.cells:
        vals = [escape(v) for v in cell_values(c, snap.taken)]
        style = STATE_STYLES.get(c.state)
        if style:
            vals[1] = f"[{style}]{vals[1]}[/]"
        if with_problems:
            # Past failures stay visible (yellow) even once a retry has finished the cell.
            colour = "red" if c.state == "ERROR" else "yellow"
            vals.append(f"[{colour}]{escape(c.problem)}[/]" if c.problem else "")
        t.add_row(*vals)
    parts: list[Any] = [Text(headline(snap), style="bold"), bar, t]
    parts += [Text(line, style=style) for line, style in _footer(snap)]
    return Group(*parts)


def render_plain(snap: Snapshot) -> str:
    """The same view as plain lines."""
    rows = [cell_values(c, snap.taken) for c in snap.cells]
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
              for i, h in enumerate(COLUMNS)]
    lines = [headline(snap),
             "  ".join(h.ljust(w) for h, w in zip(COLUMNS, widths, strict=True)).rstrip()]
    for c, r in zip(snap.cells, rows, strict=True):
        line = "  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip()
        lines.append(f"{line}  ! {c.problem}" if c.problem else line)
    lines += [line for line, _ in _footer(snap)]
    return "\n".join(lines)


def progress_key(snap: Snapshot) -> list[tuple]:
    """What counts as a change worth printing again in plain mode (elapsed times change
    every tick and do not)."""
    return [(c.state, c.rounds_done, c.nme, c.problem) for c in snap.cells]
