"""`scaf-al watch DIR`: the live view of an experiment, read from its folder only.

Everything comes from files the run leaves in the experiment folder (see
:mod:`orchestrator.progress`), so the view works from another terminal or another machine
that sees the folder (a shared disk, a synced copy). No Ray import.
"""

from __future__ import annotations

import time
from pathlib import Path

from rich.console import Console

from orchestrator.experiment_folder import ExperimentFolder
from orchestrator.progress import take_snapshot
from orchestrator.progress_view import progress_key, render_plain, render_rich


def watch(experiment_dir: str | Path, *, interval: float = 2.0, once: bool = False,
          console: Console | None = None) -> int:
    """Refresh the view until every cell has all its rounds (or Tune has stopped every
    trial); `once` prints one snapshot. Returns the exit code.

    Raises:
        ValueError: interval <= 0.
        NotAnExperimentError: the folder holds no experiment.
    """
    if interval <= 0:
        raise ValueError(f"--interval must be > 0 seconds, got {interval}")
    console = console or Console()
    folder = ExperimentFolder.open(experiment_dir)
    snap = take_snapshot(folder)
    if once:
        if console.is_terminal:
            console.print(render_rich(snap))
        else:
            console.print(render_plain(snap), highlight=False, soft_wrap=True, markup=False)
        return 0
    try:
        if console.is_terminal:
            from rich.live import Live

            with Live(render_rich(snap), console=console, auto_refresh=False) as live:
                while not snap.ended:
                    time.sleep(interval)
                    snap = take_snapshot(folder)
                    live.update(render_rich(snap), refresh=True)
            return 0
        last: list[tuple] = []
        while True:
            # Plain mode: a new block only when something changed, so logs stay short.
            if progress_key(snap) != last or snap.ended:
                console.print(render_plain(snap), highlight=False, soft_wrap=True,
                              markup=False)
                last = progress_key(snap)
            if snap.ended:
                return 0
            time.sleep(interval)
            snap = take_snapshot(folder)
    except KeyboardInterrupt:
        return 130  # watching only: nothing to save
