"""Live progress of `scaf-al run`: a Tune callback drawing with rich.

On a terminal: a progress bar counted in trial-rounds (elapsed, ETA) above a table of
trials (cell, state, round, labeled-set size, last NME, elapsed, node). Elsewhere (CI, job
logs): one plain line per event. The callback is pickled into Tune's experiment state, so
the rich objects are created in `setup()` and dropped from the pickled state.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from ray.tune import Callback
from rich.console import Console, Group
from rich.live import Live
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from rich.text import Text


class EtaColumn(ProgressColumn):
    """ETA from the average time per trial-round so far (rich's own estimate follows the
    last few updates, which round-0 reuse makes look instant)."""

    def render(self, task: Any) -> Text:
        if not task.total or not task.completed or task.elapsed is None:
            return Text("ETA -:--:--")
        left = task.elapsed / task.completed * (task.total - task.completed)
        h, rem = divmod(int(left), 3600)
        return Text(f"ETA {h}:{rem // 60:02d}:{rem % 60:02d}")


def _cell_label(cell: dict[str, Any]) -> str:
    acq = cell["acquisition"]
    params = ",".join(f"{k}={v}" for k, v in sorted(acq.get("params", {}).items()))
    name = f"{acq['name']}({params})" if params else acq["name"]
    return f"{cell['arch']}/{name}/b{cell['budget']['sizes'][-1]}/s{cell['seed']}"


class Dashboard(Callback):
    def __init__(self, experiment_dir: str, force_plain: bool = False) -> None:
        self.experiment_dir = experiment_dir
        self.force_plain = force_plain
        self._init_runtime()

    def _init_runtime(self) -> None:
        self.console: Console | None = None
        self.live: Live | None = None
        self.progress: Progress | None = None
        self.task: Any = None
        self.rows: dict[str, dict[str, Any]] = {}
        self.start = time.time()

    def __getstate__(self) -> dict[str, Any]:
        return {"experiment_dir": self.experiment_dir, "force_plain": self.force_plain}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._init_runtime()

    # -- Tune hooks -------------------------------------------------------------------
    def setup(self, **info: Any) -> None:
        self.console = Console(stderr=False)
        info_file = Path(self.experiment_dir) / "experiment.json"
        total = 0
        if info_file.exists():
            total = sum(json.loads(info_file.read_text())["rounds_per_cell"].values())
        self.progress = Progress(TextColumn("trial-rounds"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), EtaColumn(), console=self.console)
        self.task = self.progress.add_task("rounds", total=total or None)
        if self.console.is_terminal and not self.force_plain:
            self.live = Live(self._render(), console=self.console, refresh_per_second=2)
            self.live.start()

    def _row(self, trial: Any) -> dict[str, Any]:
        tid = trial.trial_id
        if tid not in self.rows:
            self.rows[tid] = {"cell": _cell_label(trial.config["cell"]), "state": "PENDING",
                              "round": "-", "n": "-", "nme": "-", "start": time.time(),
                              "node": "", "error": ""}
        return self.rows[tid]

    def _event(self, trial: Any, state: str, line: str) -> None:
        row = self._row(trial)
        row["state"] = state
        if self.live is not None:
            self.live.update(self._render())
        elif self.console is not None:
            done = self.progress.tasks[0].completed if self.progress else 0
            total = self.progress.tasks[0].total if self.progress else 0
            self.console.print(f"[{done}/{total or '?'} rounds] {row['cell']} {line}",
                               highlight=False, soft_wrap=True)

    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        row = self._row(trial)
        row["start"] = time.time()
        row.pop("end", None)
        row["node"] = getattr(trial, "node_ip", "") or ""
        self._event(trial, "RUNNING", "started")

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict,
                        **info: Any) -> None:
        row = self._row(trial)
        row["round"] = result.get("round", "-")
        row["node"] = str(result.get("node_ip") or result.get("hostname") or row["node"])
        row["n"] = result.get("n_labeled", "-")
        nme = next((v for k, v in result.items() if k.startswith("nme_")), None)
        row["nme"] = f"{100 * nme:.2f}%" if isinstance(nme, float) else "-"
        if self.progress is not None:
            self.progress.advance(self.task)
        self._event(trial, "RUNNING", f"round {row['round']} n={row['n']} NME={row['nme']}")

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._row(trial)["end"] = time.time()
        self._event(trial, "DONE", "finished")

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        err = str(getattr(trial, "error_msg", "") or "error").strip().splitlines()
        self._row(trial)["error"] = err[-1] if err else "error"
        self._event(trial, "ERROR", f"failed: {self._row(trial)['error']}")

    def on_trial_recover(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._event(trial, "RETRY", "failed, retrying from its last round")

    def on_experiment_end(self, trials: list, **info: Any) -> None:
        if self.live is not None:
            self.live.update(self._render())
            self.live.stop()
            self.live = None

    # -- rendering --------------------------------------------------------------------
    def _render(self) -> Group:
        table = Table(expand=False, show_lines=False)
        for col in ("cell (arch/acquisition/budget/seed)", "state", "round", "labeled",
                    "last NME", "elapsed", "node"):
            table.add_column(col)
        colours = {"ERROR": "red", "RETRY": "yellow", "DONE": "green", "RUNNING": "cyan"}
        for row in self.rows.values():
            state = row["state"]
            style = colours.get(state, "")
            end = row.get("end") or time.time()
            el = f"{end - row['start']:.0f}s" if state != "PENDING" else "-"
            label = state if not row["error"] else f"{state}: {row['error'][:60]}"
            table.add_row(row["cell"], f"[{style}]{label}[/]" if style else label,
                          str(row["round"]), str(row["n"]), row["nme"], el, row["node"])
        return Group(self.progress, table) if self.progress else Group(table)
