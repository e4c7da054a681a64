"""Live progress of `scaf-al run`: a thin Tune callback over the shared progress model.

Each Tune event updates the live status of its trial; the view is a progress
:class:`~orchestrator.progress.snapshot.Snapshot` of the experiment folder joined with those
statuses,
rendered as `scaf-al watch` renders it: the grid view, live on a terminal; elsewhere (logs
of cluster jobs, CI) the same view in plain text, at most once per `interval` seconds when
something changed, and once more at the end. The callback is pickled into Tune's experiment
state, so the rich objects are created in `setup()` and dropped from the pickled state.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ray.tune import Callback
from rich.console import Console
from rich.live import Live

from orchestrator.progress import PLAIN_INTERVAL_S
from orchestrator.progress.render import progress_key, render_grid_plain, render_grid_rich
from orchestrator.progress.snapshot import Snapshot, take_snapshot
from orchestrator.progress.tune_state import TrialStatus, error_line, status_of_live_trial
from orchestrator.results.experiment_folder import ExperimentFolder
from trainers.config.cell import CellConfig

if TYPE_CHECKING:
    from ray.tune.stopper import Stopper


def _error_of(trial: Any) -> str:
    """The error line of a failed trial, from the error file Tune wrote for it."""
    path = getattr(trial, "error_file", None)
    try:
        return (error_line(Path(path).read_text(errors="replace")) if path else "") or "error"
    except OSError:
        return "error"


class Dashboard(Callback):
    def __init__(self, experiment_dir: str, force_plain: bool = False,
                 interval: float = PLAIN_INTERVAL_S) -> None:
        self.experiment_dir = experiment_dir
        self.force_plain = force_plain
        self.interval = interval
        self._init_runtime()

    def _init_runtime(self) -> None:
        self.console: Console | None = None
        self.live: Live | None = None
        self.trials: dict[str, TrialStatus] = {}  # by cell id
        self._cells: dict[str, str] = {}  # trial id -> cell id
        self._started: dict[str, float] = {}
        self._errors: dict[str, str] = {}
        self._printed: list[tuple] = []  # what the last plain snapshot showed
        self._refreshed = 0.0  # when the view was last refreshed
        self._read_seconds = 0.0  # how long that snapshot took to read

    def __getstate__(self) -> dict[str, Any]:
        return {"experiment_dir": self.experiment_dir, "force_plain": self.force_plain,
                "interval": self.interval}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._init_runtime()

    def snapshot(self) -> Snapshot:
        return take_snapshot(ExperimentFolder(self.experiment_dir), trials=self.trials)

    # -- Tune hooks -------------------------------------------------------------------
    def setup(self, stop: Stopper | None = None, num_samples: int | None = None,
              total_num_samples: int | None = None, **info: Any) -> None:
        self.console = Console(stderr=False)
        if self.console.is_terminal and not self.force_plain:
            self.live = Live(self._rich(self.snapshot()), console=self.console,
                             refresh_per_second=2)
            self.live.start()

    def _rich(self, snap: Snapshot) -> Any:
        height = self.console.height if self.console is not None else 24
        return render_grid_rich(snap, max(10, min(height, 40)))

    def _print_plain(self, snap: Snapshot, final: bool = False) -> None:
        key = progress_key(snap)
        if self.console is not None and (final or key != self._printed):
            self.console.print(render_grid_plain(snap), highlight=False, soft_wrap=True,
                               markup=False)
            self._printed = key

    def _due(self) -> bool:
        """Refresh now? Live: at most every second, and never spending more than a fifth
        of the controller's time reading the store; plain: once per interval."""
        period = max(1.0, 5 * self._read_seconds) if self.live is not None else self.interval
        return time.time() - self._refreshed >= period

    def refresh(self, final: bool = False) -> None:
        t0 = time.time()
        snap = self.snapshot()
        self._refreshed, self._read_seconds = t0, time.time() - t0
        if self.live is not None:
            self.live.update(self._rich(snap))
        else:
            self._print_plain(snap, final)

    def _event(self, trial: Any) -> None:
        tid = str(trial.trial_id)
        if tid not in self._cells:
            self._cells[tid] = CellConfig.from_dict(trial.config["cell"]).cell_id()
        self.trials[self._cells[tid]] = status_of_live_trial(trial, self._started.get(tid),
                                                             self._errors.get(tid, ""))
        if self._due():
            self.refresh()

    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._started[str(trial.trial_id)] = time.time()
        self._event(trial)

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict,
                        **info: Any) -> None:
        self._event(trial)

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._event(trial)

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._errors[str(trial.trial_id)] = _error_of(trial)
        self._event(trial)

    def on_trial_recover(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._errors[str(trial.trial_id)] = _error_of(trial)
        self._event(trial)

    def on_experiment_end(self, trials: list, **info: Any) -> None:
        self.refresh(final=True)
        if self.live is not None:
            self.live.stop()
            self.live = None
