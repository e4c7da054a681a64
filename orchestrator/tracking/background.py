"""Trackers kept up to date from the driver while a grid runs, off the trials' path.

One daemon thread in the driver makes a pass (:func:`orchestrator.tracking.sync.sync_once`)
whenever a round arrives (`poke`) and every `interval` seconds. A tracker that is down or
refuses a write is reported once through `notify`, tried again every `retry` seconds, and
reported once more when it is back; the trials never wait on it (they run in other
processes, and Tune's callbacks only set an event). When the run ends, `finish` makes a last
pass with the report and plots as artefacts and waits for it at most `timeout` seconds;
whatever is left, `scaf-al track DIR` catches up.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from orchestrator.results.experiment_folder import ExperimentFolder
from orchestrator.tracking.records import read_experiment
from orchestrator.tracking.sync import Sink, sync_once


def error_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0][:200]}" if text else type(e).__name__


@dataclass
class _State:
    sink: Sink
    down: str | None = None  # the error line while the tracker is failing
    next_try: float = 0.0
    finished: bool = False  # the last pass (with artefacts) went through


class BackgroundTracker:
    """The driver's tracker thread (see the module's docstring)."""

    def __init__(self, folder: ExperimentFolder, sinks: list[Sink],
                 notify: Callable[[str], None], *, interval: float = 10.0,
                 retry: float = 30.0, final_retry: float = 2.0) -> None:
        self.folder = folder
        self.states = [_State(s) for s in sinks]
        self.notify = notify
        self.interval, self.retry, self.final_retry = interval, retry, final_retry
        self._wake = threading.Event()
        self._final = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="scaf-al-tracking",
                                        daemon=True)

    def start(self) -> BackgroundTracker:
        self._thread.start()
        return self

    def poke(self) -> None:
        """A round arrived: make a pass soon (returns at once)."""
        self._wake.set()

    def finish(self, timeout: float = 60.0) -> bool:
        """The last pass, with the artefacts; waits at most `timeout` seconds. Returns True
        when every tracker is up to date."""
        self._final.set()
        self._wake.set()
        self._thread.join(timeout)
        if self._thread.is_alive():
            self._stop.set()
            self._wake.set()
        behind = [s for s in self.states if not s.finished]
        for s in behind:
            self.notify(f"{s.sink.name} at {s.sink.target} is not up to date "
                        f"({s.down or 'the run ended first'}); `scaf-al track "
                        f"{self.folder.path}` catches up")
        for s in self.states:
            s.sink.close()
        return not behind

    def _loop(self) -> None:
        while not self._stop.is_set():
            final = self._final.is_set()
            self._pass(final)
            if final and all(s.finished for s in self.states):
                return
            self._wake.wait(self.final_retry if final else self.interval)
            self._wake.clear()

    def _pass(self, final: bool) -> None:
        now = time.monotonic()
        due = [s for s in self.states if not s.finished and (final or now >= s.next_try)]
        if not due:
            return
        try:
            rec = read_experiment(self.folder)
        except Exception as e:  # noqa: BLE001 - a store read mid-write: try again later
            if final:
                self.notify(f"tracking could not read the store: {error_line(e)}")
                self._stop.set()
            return
        for s in due:
            try:
                sync_once(self.folder, [s.sink], rec=rec,
                          artefacts=final and rec.points() > 0)
            except Exception as e:  # noqa: BLE001 - any tracker error: report, retry
                self._failed(s, e)
                continue
            if s.down is not None:
                self.notify(f"{s.sink.name} at {s.sink.target} is reachable again; "
                            "caught up")
            s.down = None
            s.finished = final

    def _failed(self, s: _State, e: Exception) -> None:
        line = error_line(e)
        if s.down is None:
            self.notify(f"{s.sink.name} at {s.sink.target} failed ({line}); retrying every "
                        f"{self.retry:.0f} s in the background, the trials go on")
        s.down = line
        s.next_try = time.monotonic() + self.retry
