"""Live progress of `scaf-al run`: a thin Tune callback over the shared progress model.

Each Tune event updates the live status of its trial; the view is a progress
:class:`~orchestrator.progress.Snapshot` of the experiment folder joined with those statuses,
rendered as `scaf-al watch` renders it (rich on a terminal; elsewhere one plain line per
event). The callback is pickled into Tune's experiment state, so the rich objects are
created in `setup()` and dropped from the pickled state.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from ray.tune import Callback
from rich.console import Console
from rich.live import Live

from orchestrator.experiment_folder import ExperimentFolder
from orchestrator.progress import Snapshot, cell_label, take_snapshot
from orchestrator.progress_view import render_rich
from orchestrator.tune_state import TrialStatus, error_line, status_of_live_trial
from trainers.cell import CellConfig


def _error_of(trial: Any) -> str:
    """The error line of a failed trial, from the error file Tune wrote for it."""
    path = getattr(trial, "error_file", None)
    try:
        return (error_line(Path(path).read_text(errors="replace")) if path else "") or "error"
    except OSError:
        return "error"


class Dashboard(Callback):
    def __init__(self, experiment_dir: str, force_plain: bool = False) -> None:
        self.experiment_dir = experiment_dir
        self.force_plain = force_plain
        self._init_runtime()

    def _init_runtime(self) -> None:
        self.console: Console | None = None
        self.live: Live | None = None
        self.trials: dict[str, TrialStatus] = {}  # by cell id
        self._cells: dict[str, tuple[str, str]] = {}  # trial id -> (cell id, label)
        self._started: dict[str, float] = {}
        self._errors: dict[str, str] = {}

    def __getstate__(self) -> dict[str, Any]:
        return {"experiment_dir": self.experiment_dir, "force_plain": self.force_plain}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._init_runtime()

    def snapshot(self) -> Snapshot:
        return take_snapshot(ExperimentFolder(self.experiment_dir), trials=self.trials)

    # -- Tune hooks -------------------------------------------------------------------
    def setup(self, **info: Any) -> None:
        self.console = Console(stderr=False)
        if self.console.is_terminal and not self.force_plain:
            self.live = Live(render_rich(self.snapshot()), console=self.console,
                             refresh_per_second=2)
            self.live.start()

    def _event(self, trial: Any, line: str) -> None:
        tid = str(trial.trial_id)
        if tid not in self._cells:
            cfg = trial.config["cell"]
            self._cells[tid] = (CellConfig.from_dict(cfg).cell_id(), cell_label(cfg))
        cell_id, label = self._cells[tid]
        self.trials[cell_id] = status_of_live_trial(trial, self._started.get(tid),
                                                    self._errors.get(tid, ""))
        snap = self.snapshot()
        if self.live is not None:
            self.live.update(render_rich(snap))
        elif self.console is not None:
            self.console.print(f"[{snap.done}/{snap.total or '?'} rounds] {label} {line}",
                               highlight=False, soft_wrap=True, markup=False)

    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._started[str(trial.trial_id)] = time.time()
        self._event(trial, "started")

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict,
                        **info: Any) -> None:
        nme = next((v for k, v in result.items() if k.startswith("nme_")), None)
        nme_text = f"{100 * nme:.2f}%" if isinstance(nme, float) else "-"
        self._event(trial, f"round {result.get('round', '-')} n={result.get('n_labeled', '-')}"
                           f" NME={nme_text}")

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._event(trial, "finished")

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._errors[str(trial.trial_id)] = _error_of(trial)
        self._event(trial, f"failed: {self._errors[str(trial.trial_id)]}")

    def on_trial_recover(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._errors[str(trial.trial_id)] = _error_of(trial)
        self._event(trial, "failed, retrying from its last round")

    def on_experiment_end(self, trials: list, **info: Any) -> None:
        if self.live is not None:
            self.live.update(render_rich(self.snapshot()))
            self.live.stop()
            self.live = None
