"""Renderers of a progress :class:`~orchestrator.progress.snapshot.Snapshot`: rich (terminals),
plain text (logs, pipes, CI) and the one-line status. The views share the labels,
colours and columns defined here."""

from __future__ import annotations

from typing import Any

from rich.console import Group
from rich.markup import escape
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from orchestrator.progress.grid import GridView, NodeUse, grid_view
from orchestrator.progress.snapshot import CellProgress, Snapshot

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


# -- the grid view: aggregated by the grid's axes, at most `max_lines` lines of 80 columns
WIDTH = 80
MAX_BUDGET_COLUMNS = 5
LABEL_WIDTH = 30


def _clip(text: str, width: int = WIDTH) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def _state_counts(view: GridView, snap: Snapshot) -> str:
    s = view.states
    parts = [f"{s['DONE']} done", f"{s['RUNNING']} running"]
    parts += [f"{s[k]} {name}" for k, name in (("RETRY", "retrying"), ("PENDING", "pending"),
                                                 ("ERROR", "failed"), ("STOPPED", "stopped"))
              if s[k] or k in ("PENDING", "ERROR")]
    rate = f"{view.rounds_per_hour:.0f} trial-rounds/h" if view.rounds_per_hour else "- /h"
    return f"cells: {', '.join(parts)} | {rate}"


def _grid_headline(snap: Snapshot, view: GridView) -> str:
    pct = 100.0 * snap.done / snap.total if snap.total else 0.0
    return (f"{snap.name}: {snap.done}/{snap.total} trial-rounds ({pct:.0f}%), "
            f"{snap.finished_cells}/{len(snap.cells)} cells complete, ETA {duration(view.eta)}")


def _group_lines(view: GridView) -> tuple[str, list[str]]:
    budgets = view.budgets[:MAX_BUDGET_COLUMNS]
    more = len(view.budgets) - len(budgets)
    width = max([len(f"b{b}") for b in budgets] +
                [len(f"{g.done.get(b, 0)}/{g.total.get(b, 0)}") for g in view.groups
                 for b in budgets]) + 1
    # The label takes what the budget and NME columns leave of the 80 columns.
    longest = max([len(f"{g.arch}/{g.acquisition}") for g in view.groups], default=0) + 1
    label_w = max(LABEL_WIDTH, min(longest, WIDTH - 8 - width * len(budgets)))
    head = f"{'architecture/acquisition':<{label_w}}"
    head += "".join(f"{'b' + str(b):>{width}}" for b in budgets) + f"{'NME':>8}"
    head += f"  (+{more} budgets)" if more else ""
    rows = []
    for g in view.groups:
        line = f"{_clip(g.arch + '/' + g.acquisition, label_w - 1):<{label_w}}"
        line += "".join(f"{(f'{g.done[b]}/{g.total[b]}' if b in g.total else '-'):>{width}}"
                        for b in budgets)
        nme = f"{100 * g.mean_nme:.2f}%" if g.mean_nme is not None else "-"
        rows.append(line + f"{nme:>8}")
    return head, rows


def _standing_lines(view: GridView) -> tuple[str, list[str]]:
    """Each method's AUBC over its finished seeds and its verdicts against random."""
    st = view.standings
    if st is None:
        return "", []
    head = (f"{'AUBC so far, vs random (' + st.split + ')':<{LABEL_WIDTH}}{'AUBC':>8}"
            f"{'seeds':>6}  sizes by verdict, Holm over {st.family}")
    rows = [f"{_clip(r.method, LABEL_WIDTH - 1):<{LABEL_WIDTH}}{r.aubc:>7.2f}%{r.seeds:>6}  "
            f"{r.text()}" for r in st.rows]
    return head, rows


def _node_line(n: NodeUse) -> str:
    u = n.usage

    def num(key: str, fmt: str) -> str:
        return format(u[key], fmt) if u.get(key) is not None else "-"

    line = (f"{n.host[:18]:<18} {n.cells_running:>3} running  cpu {num('node_cpu_percent', '.0f')}%"
            f"  mem {num('node_mem_used_gb', '.1f')}/{num('node_mem_total_gb', '.1f')} GB")
    if u.get("gpu_mem_total_gb"):
        line += (f"  gpu {num('gpu_mem_used_gb', '.1f')}/{num('gpu_mem_total_gb', '.1f')} GB"
                 f" {num('gpu_util_percent', '.0f')}%")
    return line


def _fit(sections: list[tuple[str, list[str]]], room: int) -> list[tuple[str, list[str]]]:
    """Each section keeps its header and as many rows as fit in `room` lines (first
    sections first, each at least one row); a cut list ends in "... N more"."""
    sections = [(h, rows) for h, rows in sections if rows]
    shown = [min(1, len(rows)) for _, rows in sections]
    left = room - len(sections) - sum(shown)
    grew = True
    while left > 0 and grew:
        grew = False
        for i, (_, rows) in enumerate(sections):
            if left > 0 and shown[i] < len(rows):
                shown[i] += 1
                left -= 1
                grew = True
    out = []
    for (head, rows), n in zip(sections, shown, strict=True):
        kept = rows if n >= len(rows) else rows[: max(0, n - 1)] + [
            f"... {len(rows) - max(0, n - 1)} more"]
        out.append((head, kept))
    return out


def grid_lines(snap: Snapshot, max_lines: int = 24) -> list[tuple[str, str]]:
    """The grid view as (text, style) lines: at most `max_lines` (<= 40) of 80 columns.
    The third line is the progress bar's place (style "bar")."""
    view = grid_view(snap)
    lines = [(_clip(_grid_headline(snap, view)), "bold"), (_clip(_state_counts(view, snap)), ""),
             (f"{snap.done}/{snap.total}, elapsed {duration(snap.elapsed())}", "bar")]
    group_head, groups = _group_lines(view)
    standing_head, standings = _standing_lines(view)
    problems = [_clip(f"{p.kind:<8}{p.label[:38]:<39}{p.detail}") for p in view.problems]
    nodes = [_clip(_node_line(n)) for n in view.nodes]
    footer = _footer(snap)
    room = min(max_lines, 40) - len(lines) - len(footer)
    for head, rows in _fit([(_clip(group_head), groups),
                            (_clip(standing_head), [_clip(r) for r in standings]),
                            (f"problems ({len(problems)})", problems),
                            (f"nodes ({len(nodes)})", nodes)], room):
        lines.append((head, "underline"))
        lines += [(r, PROBLEM_STYLES.get(r.split(" ", 1)[0], "")) for r in rows]
    return lines + [(_clip(text), style) for text, style in footer]


PROBLEM_STYLES = {"ERROR": "red", "RETRY": "yellow", "RETRIED": "yellow", "STOPPED": "magenta",
                  "SLOW": "yellow"}


def _text_bar(done: int, total: int, label: str, width: int = 40) -> str:
    filled = int(width * done / total) if total else 0
    return _clip(f"trial-rounds [{'#' * filled}{'.' * (width - filled)}] {label}")


def render_grid_plain(snap: Snapshot, max_lines: int = 24) -> str:
    return "\n".join(_text_bar(snap.done, snap.total, text) if style == "bar" else text
                     for text, style in grid_lines(snap, max_lines))


def render_grid_rich(snap: Snapshot, max_lines: int = 24) -> Group:
    parts: list[Any] = []
    for text, style in grid_lines(snap, max_lines):
        if style == "bar":
            bar = Table.grid(padding=(0, 1))
            bar.add_row("trial-rounds", ProgressBar(total=max(snap.total, 1),
                                                    completed=snap.done, width=40), text)
            parts.append(bar)
        else:
            parts.append(Text(text, style=style, no_wrap=True, overflow="ellipsis"))
    return Group(*parts)
