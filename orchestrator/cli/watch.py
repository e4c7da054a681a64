"""`scaf-al watch DIR`: the live view of an experiment, read from its folder only.

Everything comes from files the run leaves in the experiment folder (see
:mod:`orchestrator.progress.snapshot`), so the view works from another terminal or another machine
that sees the folder (a shared disk, a synced copy). No Ray import. The default view is the
grid view (aggregated by the grid's axes); `cells=True` is the per-cell table.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console

from orchestrator.progress.render import (
    progress_key,
    render_grid_plain,
    render_grid_rich,
    render_plain,
    render_rich,
)
from orchestrator.progress.snapshot import CELL_STATES, Snapshot, take_snapshot
from orchestrator.results.experiment_folder import ExperimentFolder


@dataclass(frozen=True)
class ViewOptions:
    """Which view: the grid view (default) or the per-cell table with filters."""

    cells: bool = False
    acquisition: str | None = None  # a name ("nnm") or a full label ("nnm(window=3)")
    state: str | None = None  # one of CELL_STATES, any case
    plain: bool = False  # plain text even on a terminal

    def __post_init__(self) -> None:
        if self.state and self.state.upper() not in CELL_STATES:
            raise ValueError(f"--state {self.state!r} is not a cell state; states: "
                             f"{', '.join(s.lower() for s in CELL_STATES)}")
        if (self.acquisition or self.state) and not self.cells:
            raise ValueError("--acquisition and --state filter the per-cell table: add --cells")

    def keep(self, snap: Snapshot) -> Snapshot:
        """The snapshot with only the cells the filters keep."""
        acq, state = self.acquisition, (self.state or "").upper()
        snap.cells = [c for c in snap.cells
                      if (not acq or c.acquisition == acq or c.acquisition.startswith(acq + "("))
                      and (not state or c.state == state)]
        return snap

    def render(self, snap: Snapshot, console: Console) -> Any:
        """What to print: rich on a terminal unless plain, else a plain string."""
        rich = console.is_terminal and not self.plain
        if self.cells:
            snap = self.keep(snap)
            return render_rich(snap) if rich else render_plain(snap)
        lines = max(10, min(console.height, 40)) if rich else 24
        return render_grid_rich(snap, lines) if rich else render_grid_plain(snap, lines)


def _print(console: Console, view: Any) -> None:
    if isinstance(view, str):
        console.print(view, highlight=False, soft_wrap=True, markup=False)
    else:
        console.print(view)


def watch(experiment_dir: str | Path, *, interval: float = 2.0, once: bool = False,
          options: ViewOptions | None = None, console: Console | None = None) -> int:
    """Refresh the view until every cell has all its rounds (or Tune has stopped every
    trial); `once` prints one snapshot. Returns the exit code.

    Raises:
        ValueError: interval <= 0, or a bad filter.
        NotAnExperimentError: the folder holds no experiment.
    """
    if interval <= 0:
        raise ValueError(f"--interval must be > 0 seconds, got {interval}")
    options = options or ViewOptions()
    console = console or Console()
    folder = ExperimentFolder.open(experiment_dir)
    snap = take_snapshot(folder)
    if once:
        _print(console, options.render(snap, console))
        return 0
    try:
        if console.is_terminal and not options.plain:
            from rich.live import Live

            with Live(options.render(snap, console), console=console,
                      auto_refresh=False) as live:
                while not snap.ended:
                    time.sleep(interval)
                    snap = take_snapshot(folder)
                    live.update(options.render(snap, console), refresh=True)
            return 0
        last: list[tuple] = []
        while True:
            # Plain mode: a new snapshot only when something changed, so logs stay short.
            if progress_key(snap) != last or snap.ended:
                last = progress_key(snap)
                _print(console, options.render(snap, console))
            if snap.ended:
                return 0
            time.sleep(interval)
            snap = take_snapshot(folder)
    except KeyboardInterrupt:
        return 130  # watching only: nothing to save


def watch_html(experiment_dir: str | Path, out: str | Path, *, interval: float = 30.0,
               once: bool = False, console: Console | None = None) -> int:
    """Rewrite the self-contained HTML page `out` every `interval` seconds (atomically; the
    page reloads itself) until the run has ended; `once` writes it a single time."""
    from orchestrator.report.gallery import first_picks_rows
    from orchestrator.report.html import gallery_section, write_html

    if interval <= 0:
        raise ValueError(f"--interval must be > 0 seconds, got {interval}")
    console = console or Console()
    folder = ExperimentFolder.open(experiment_dir)
    shown: list[str] = []
    gallery = ""
    try:
        while True:
            # The gallery only changes when an acquisition's first round-0 picks arrive.
            picked = [r.label for r in first_picks_rows(folder)]
            if picked != shown or not gallery:
                gallery, shown = gallery_section(folder), picked
            snap = take_snapshot(folder)
            write_html(folder.path, out, refresh=None if snap.ended or once else interval,
                       gallery=gallery)
            console.print(f"wrote {out} ({snap.done}/{snap.total} trial-rounds)",
                          highlight=False, markup=False)
            if once or snap.ended:
                return 0
            time.sleep(interval)
    except KeyboardInterrupt:
        return 130
