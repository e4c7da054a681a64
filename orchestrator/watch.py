"""`scaf-al watch DIR`: the live view of an experiment, read from its folder only.

Everything comes from files the run leaves in the experiment folder, so the view works from
another terminal or another machine that sees the folder (a shared disk, a synced copy):
- `experiment.json`: the cells and how many rounds each has (the progress total);
- `results/rounds`: the rounds done, the last labeled-set size and NME, where they ran;
- `tune/experiment_state-*.json` (when present): Tune's trial states, failure counts and
  error files, so failures and retries show up with the error's message.

No Ray import: the Tune state is plain JSON (the parts Tune pickles are not needed here).
"""

from __future__ import annotations

import argparse
import ast
import json
import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console, Group
from rich.markup import escape
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from orchestrator.report import SPLIT_ORDER
from orchestrator.results import metric_splits, read_table
from trainers.cell import CellConfig

STATE_STYLES = {"ERROR": "red", "RETRY": "yellow", "DONE": "green", "RUNNING": "cyan",
                "STOPPED": "magenta"}


@dataclass
class TrialInfo:
    """What Tune's experiment state says about the trial of one cell."""

    trial_id: str
    status: str
    num_failures: int = 0
    error: str = ""
    start_time: float | None = None
    last_result_time: float | None = None
    node: str = ""


@dataclass
class CellRow:
    cell_id: str
    label: str
    rounds_total: int
    rounds_done: int = 0
    n_labeled: int | None = None
    nme: float | None = None  # fraction
    nme_split: str = ""
    host: str = ""
    first_write: datetime | None = None
    last_write: datetime | None = None
    trial: TrialInfo | None = None

    @property
    def state(self) -> str:
        t = self.trial
        if self.rounds_done >= self.rounds_total:
            return "DONE"
        if t is not None:
            if t.status == "ERROR":
                return "ERROR"
            if t.status in ("RUNNING", "PENDING") and t.num_failures > 0:
                return "RETRY"
            if t.status == "TERMINATED":
                return "STOPPED"  # ended without all rounds in the store
            return t.status
        return "RUNNING" if self.rounds_done else "PENDING"

    def elapsed(self, now: float) -> float | None:
        t = self.trial
        if t is not None and t.start_time:
            end = now if self.state in ("RUNNING", "RETRY") else (t.last_result_time or now)
            return max(0.0, end - t.start_time)
        if self.first_write and self.last_write:
            end = self.last_write.timestamp() if self.state == "DONE" else now
            return max(0.0, end - self.first_write.timestamp())
        return None


@dataclass
class Snapshot:
    """The whole view at one moment."""

    name: str
    created: datetime | None
    cells: list[CellRow]
    taken: float = field(default_factory=time.time)
    skipped_files: list[tuple[str, str]] = field(default_factory=list)
    tune_state_file: str = ""

    @property
    def total(self) -> int:
        return sum(c.rounds_total for c in self.cells)

    @property
    def done(self) -> int:
        return sum(min(c.rounds_done, c.rounds_total) for c in self.cells)

    @property
    def complete(self) -> bool:
        return self.done >= self.total

    @property
    def finished_cells(self) -> int:
        return sum(c.rounds_done >= c.rounds_total for c in self.cells)

    @property
    def ended(self) -> bool:
        """Nothing more will come: every cell is done, or Tune has stopped every trial."""
        if self.complete:
            return True
        return bool(self.cells) and all(
            c.state in ("DONE", "ERROR", "STOPPED") for c in self.cells)

    def elapsed(self) -> float | None:
        if self.created is None:
            return None
        end = self.taken
        if self.complete:
            ends = [c.last_write.timestamp() for c in self.cells if c.last_write]
            end = max(ends, default=end)
        return max(0.0, end - self.created.timestamp())

    def eta(self) -> float | None:
        """Remaining seconds at the average pace so far (None before the first round)."""
        el = self.elapsed()
        if el is None or self.done == 0 or self.complete:
            return None
        return el * (self.total - self.done) / self.done


def cell_label(cfg: dict[str, Any]) -> str:
    """`arch/acquisition/b<final budget>/s<seed>`, the dashboard's name for a cell."""
    c = CellConfig.from_dict(cfg)
    return f"{c.arch}/{c.acquisition.label()}/b{c.budget.final}/s{c.seed}"


def _error_line(text: str) -> str:
    """The line of an error file that says what went wrong: the exception line of a
    traceback, else the first line after Tune's `Failure # n` header."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    exc = [ln for ln in lines if re.match(r"^[\w.]+(Error|Exception|Interrupt|Exit)\b", ln)]
    if exc:
        return exc[-1]
    rest = [ln for ln in lines if not ln.startswith("Failure #")]
    return rest[0] if rest else ""


def _cell_id_of(config: Any) -> str | None:
    if isinstance(config, str):
        try:
            config = ast.literal_eval(config)  # Tune stores some configs as a Python repr
        except (ValueError, SyntaxError):
            return None
    if not isinstance(config, dict) or not isinstance(config.get("cell"), dict):
        return None
    try:
        return CellConfig.from_dict(config["cell"]).cell_id()
    except (TypeError, ValueError, KeyError):
        return None


def read_tune_state(experiment_dir: Path) -> tuple[dict[str, TrialInfo], str]:
    """{cell_id: TrialInfo} from the newest `tune/experiment_state-*.json` (empty if none
    or unreadable: Tune rewrites the file while it runs) and the file's name."""
    files = sorted((Path(experiment_dir) / "tune").glob("experiment_state-*.json"),
                   key=lambda p: p.stat().st_mtime)
    if not files:
        return {}, ""
    try:
        doc = json.loads(files[-1].read_text())
        trial_data = doc["trial_data"]
    except (OSError, ValueError, KeyError):
        return {}, files[-1].name
    out: dict[str, TrialInfo] = {}
    for item in trial_data:
        try:
            state, meta = json.loads(item[0]), json.loads(item[1])
        except (ValueError, TypeError, IndexError):
            continue
        last = meta.get("last_result") or {}
        cid = last.get("cell_id") or _cell_id_of(state.get("config"))
        if not cid:
            continue
        tid = str(state.get("trial_id", ""))
        info = TrialInfo(tid, str(state.get("status", "")), int(meta.get("num_failures") or 0),
                         start_time=meta.get("start_time"),
                         last_result_time=meta.get("last_result_time"),
                         node=str(last.get("node_ip") or last.get("hostname") or ""))
        if meta.get("error_filename"):
            logdir = state.get("relative_logdir") or tid
            err = Path(experiment_dir) / "tune" / str(logdir) / str(meta["error_filename"])
            try:
                info.error = _error_line(err.read_text(errors="replace"))
            except OSError:
                info.error = "failed (error file not readable here)"
        out[cid] = info
    return out, files[-1].name


def _nme_split(splits: list[str]) -> str | None:
    """The split the view shows: Full / test when present (the paper's headline number)."""
    for s in ("full", "test"):
        if s in splits:
            return s
    ordered = [s for s in SPLIT_ORDER if s in splits] + splits
    return ordered[0] if ordered else None


def take_snapshot(experiment_dir: str | Path) -> Snapshot:
    """Read the experiment folder once.

    Raises:
        ValueError: the folder has no `experiment.json`.
    """
    exp = Path(experiment_dir)
    info_file = exp / "experiment.json"
    if not info_file.is_file():
        raise ValueError(f"{exp} is not an experiment folder (no experiment.json)")
    info = json.loads(info_file.read_text())
    created = None
    if info.get("created"):
        try:
            created = datetime.fromisoformat(info["created"])
        except ValueError:
            created = None
    rows = {c["cell_id"]: CellRow(c["cell_id"], cell_label(c["config"]),
                                  int(info["rounds_per_cell"].get(c["cell_id"], 0)))
            for c in info["cells"]}
    read = read_table(str(exp), "rounds")
    table = read.table
    split = _nme_split(metric_splits(table))
    cols = ["cell_id", "round", "n_labeled", "host", "written_at"]
    if split:
        cols.append(f"nme_{split}")
    last_round: dict[str, int] = {}
    for r in table.select(cols).to_pylist():
        row = rows.get(r["cell_id"])
        if row is None:
            continue  # a cell from an earlier spec version: not part of this experiment
        row.rounds_done += 1
        w = r["written_at"]
        if w is not None and w.tzinfo is None:
            w = w.replace(tzinfo=UTC)
        row.first_write = min(row.first_write or w, w) if w else row.first_write
        row.last_write = max(row.last_write or w, w) if w else row.last_write
        if r["round"] >= last_round.get(r["cell_id"], -1):
            last_round[r["cell_id"]] = r["round"]
            row.n_labeled = r["n_labeled"]
            row.host = r["host"] or ""
            row.nme = r.get(f"nme_{split}") if split else None
            row.nme_split = split or ""
    trials, state_file = read_tune_state(exp)
    for cid, t in trials.items():
        if cid in rows:
            rows[cid].trial = t
    return Snapshot(info.get("name", exp.name), created, list(rows.values()),
                    skipped_files=read.skipped, tune_state_file=state_file)


# -- rendering --------------------------------------------------------------------------
def _dur(s: float | None) -> str:
    if s is None:
        return "-"
    s = int(round(s))
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}"


def _headline(snap: Snapshot) -> str:
    pct = 100.0 * snap.done / snap.total if snap.total else 0.0
    return (f"{snap.name}: {snap.done}/{snap.total} trial-rounds ({pct:.0f}%), "
            f"{snap.finished_cells}/{len(snap.cells)} cells complete, "
            f"elapsed {_dur(snap.elapsed())}, ETA {_dur(snap.eta())}")


def _row_cells(c: CellRow, now: float) -> list[str]:
    where = (c.trial.node if c.trial and c.trial.node else c.host) or "-"
    nme = f"{100 * c.nme:.2f}%" if c.nme is not None else "-"
    return [c.label, c.state, f"{c.rounds_done}/{c.rounds_total}",
            str(c.n_labeled) if c.n_labeled is not None else "-", nme,
            _dur(c.elapsed(now)), where]


def _problem(c: CellRow) -> str:
    t = c.trial
    if t is None or (not t.error and t.num_failures == 0):
        return ""
    tries = f"{t.num_failures} failure{'s' if t.num_failures != 1 else ''}"
    return f"{tries}: {t.error}" if t.error else tries


def render_rich(snap: Snapshot) -> Group:
    """Progress bar over trial-rounds, then the table of cells (errors in red)."""
    head = Text(_headline(snap), style="bold")
    bar = Table.grid(padding=(0, 1))
    bar.add_row("trial-rounds", ProgressBar(total=max(snap.total, 1), completed=snap.done,
                                            width=50), f"{snap.done}/{snap.total}")
    split = next((c.nme_split for c in snap.cells if c.nme_split), "")
    t = Table(expand=False, caption="cell = architecture/acquisition/b<final budget>/s<seed>")
    for col in ("cell", "state", "rounds", "labeled",
                f"last NME{f' ({split})' if split else ''}", "elapsed", "where"):
        t.add_column(col, justify="right" if col in ("rounds", "labeled", "elapsed") else "left",
                     no_wrap=True)
    problems = {c.cell_id: _problem(c) for c in snap.cells}
    if any(problems.values()):
        t.add_column("failures / error")  # the only column that wraps when space is short
    for c in snap.cells:
        vals = [escape(v) for v in _row_cells(c, snap.taken)]
        style = STATE_STYLES.get(c.state)
        if style:
            vals[1] = f"[{style}]{vals[1]}[/]"
        if any(problems.values()):
            # Past failures stay visible (yellow) even once a retry has finished the cell.
            colour = "red" if c.state == "ERROR" else "yellow"
            p = problems[c.cell_id]
            vals.append(f"[{colour}]{escape(p)}[/]" if p else "")
        t.add_row(*vals)
    parts: list[Any] = [head, bar, t]
    for path, why in snap.skipped_files:
        parts.append(Text(f"skipped unreadable result file {path}: {why}", style="yellow"))
    if snap.ended and not snap.complete:
        parts.append(Text("the run has stopped with cells unfinished; continue it with "
                          "`scaf-al resume DIR`", style="magenta"))
    return Group(*parts)


def render_plain(snap: Snapshot) -> str:
    """The same view as plain lines (logs, pipes, CI)."""
    lines = [_headline(snap)]
    rows = [_row_cells(c, snap.taken) for c in snap.cells]
    header = ["cell", "state", "rounds", "labeled", "last NME", "elapsed", "where"]
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
              for i, h in enumerate(header)]
    lines.append("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip())
    for c, r in zip(snap.cells, rows, strict=True):
        line = "  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip()
        problem = _problem(c)
        lines.append(f"{line}  ! {problem}" if problem else line)
    for path, why in snap.skipped_files:
        lines.append(f"skipped unreadable result file {path}: {why}")
    if snap.ended and not snap.complete:
        lines.append("the run has stopped with cells unfinished; continue it with "
                     "`scaf-al resume DIR`")
    return "\n".join(lines)


def cli_watch(args: argparse.Namespace, console: Console | None = None) -> int:
    """`scaf-al watch DIR [--interval s] [--once]`: refresh until every cell has all its
    rounds (or Tune has stopped every trial); `--once` prints one snapshot."""
    interval = float(getattr(args, "interval", 2.0) or 2.0)
    if interval <= 0:
        raise ValueError(f"--interval must be > 0 seconds, got {interval}")
    console = console or Console()
    snap = take_snapshot(args.dir)
    terminal = console.is_terminal
    if getattr(args, "once", False):
        if terminal:
            console.print(render_rich(snap))
        else:
            console.print(render_plain(snap), highlight=False, soft_wrap=True, markup=False)
        return 0
    try:
        if terminal:
            from rich.live import Live

            with Live(render_rich(snap), console=console, auto_refresh=False) as live:
                while not snap.ended:
                    time.sleep(interval)
                    snap = take_snapshot(args.dir)
                    live.update(render_rich(snap), refresh=True)
        else:
            # Plain mode: a new block only when something changed, so logs stay short.
            last: list[tuple] = []
            while True:
                text = render_plain(snap)
                # Elapsed times change every tick; print again only on real progress.
                key = [(c.state, c.rounds_done, c.nme, _problem(c)) for c in snap.cells]
                if key != last or snap.ended:
                    console.print(text, highlight=False, soft_wrap=True, markup=False)
                    last = key
                if snap.ended:
                    break
                time.sleep(interval)
                snap = take_snapshot(args.dir)
    except KeyboardInterrupt:
        return 130  # watching only: nothing to save
    return 0
