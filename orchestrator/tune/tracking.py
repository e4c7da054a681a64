"""The Tune callback that keeps the spec's trackers up to date from the driver: each trial
event pokes the driver's tracker thread (:mod:`orchestrator.tracking.background`), which
reads the store and writes what the trackers lack. The callback only sets an event, so
neither Tune's loop nor a trial ever waits on a tracker; the thread's notices (a tracker
down, back again) are printed from Tune's loop, above the live view.

Tune pickles its callbacks into the experiment state and a resumed run gets them back from
there: the state is the folder and the `[tracking]` table, and the thread starts in
`setup()`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ray.tune import Callback
from rich.console import Console

from orchestrator.results.experiment_folder import ExperimentFolder
from orchestrator.spec.tables import TrackingTable
from orchestrator.tracking.background import BackgroundTracker
from orchestrator.tracking.sync import Targets

if TYPE_CHECKING:
    from ray.tune.stopper import Stopper

#: How long the end of a run waits for the trackers' last pass (then `scaf-al track`).
FINISH_TIMEOUT = 60.0


class TrackingCallback(Callback):
    def __init__(self, experiment_dir: str, table: TrackingTable, interval: float = 10.0,
                 retry: float = 30.0) -> None:
        self.experiment_dir = experiment_dir
        self.table = table
        self.interval, self.retry = interval, retry
        self._init_runtime()

    def _init_runtime(self) -> None:
        self.tracker: BackgroundTracker | None = None
        self._notices: list[str] = []  # appended by the tracker thread, shown by Tune's

    def __getstate__(self) -> dict[str, Any]:
        return {"experiment_dir": self.experiment_dir, "table": self.table,
                "interval": self.interval, "retry": self.retry}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._init_runtime()

    def setup(self, stop: Stopper | None = None, num_samples: int | None = None,
              total_num_samples: int | None = None, **info: Any) -> None:
        if self.tracker is None:
            folder = ExperimentFolder(self.experiment_dir)
            sinks = Targets.from_table(self.table, folder).sinks()
            self.tracker = BackgroundTracker(folder, sinks, self._notices.append,
                                             interval=self.interval, retry=self.retry).start()

    def _show(self) -> None:
        while self._notices:
            Console().print(f"tracking: {self._notices.pop(0)}", highlight=False,
                            markup=False, soft_wrap=True)

    def _poke(self) -> None:
        if self.tracker is not None:
            self.tracker.poke()
        self._show()

    def on_step_end(self, iteration: int, trials: list, **info: Any) -> None:
        self._show()

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict,
                        **info: Any) -> None:
        self._poke()

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._poke()

    def on_experiment_end(self, trials: list, **info: Any) -> None:
        self.finish()

    def finish(self) -> None:
        """The last pass with the report (once; also when Tune stops on an error)."""
        if self.tracker is not None:
            tracker, self.tracker = self.tracker, None
            tracker.finish(FINISH_TIMEOUT)
        self._show()
