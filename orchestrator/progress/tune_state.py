"""What Ray Tune knows about each trial, as plain data keyed by cell id.

Two sources give the same :class:`TrialStatus`: the `tune/experiment_state-*.json` file that
Tune rewrites while it runs (read by `scaf-al watch` and `status`, without importing Ray),
and the live `Trial` objects that Tune hands to callbacks (the run's own dashboard).
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trainers.config.cell import CellConfig


@dataclass
class TrialStatus:
    """Tune's view of the trial that runs one cell."""

    trial_id: str
    status: str  # PENDING | RUNNING | PAUSED | TERMINATED | ERROR
    num_failures: int = 0
    error: str = ""
    start_time: float | None = None
    last_result_time: float | None = None
    node: str = ""


_ANSI = re.compile(r"\x1b\[[0-9;]*m")
# A traceback's last line: a (dotted) exception class name, then ": message" or nothing.
_EXCEPTION_LINE = re.compile(r"^(?:[A-Za-z_]\w*\.)*[A-Z]\w*(?::\s|$)")


def error_line(text: str) -> str:
    """The line of an error file that says what went wrong: the exception line of a
    traceback (the last one: a chained traceback ends with the one that was raised), else
    the first line after Tune's `Failure # n` header."""
    lines = [ln.strip() for ln in _ANSI.sub("", text).splitlines() if ln.strip()]
    exc = [ln for ln in lines if _EXCEPTION_LINE.match(ln)]
    if exc:
        return exc[-1]
    rest = [ln for ln in lines if not ln.startswith("Failure #")]
    return rest[0] if rest else ""


def cell_id_of(config: Any) -> str | None:
    """The cell id of a trial config (a dict, or the Python repr Tune stores for some)."""
    if isinstance(config, str):
        try:
            config = ast.literal_eval(config)
        except (ValueError, SyntaxError):
            return None
    if not isinstance(config, dict) or not isinstance(config.get("cell"), dict):
        return None
    try:
        return CellConfig.from_dict(config["cell"]).cell_id()
    except (TypeError, ValueError, KeyError):
        return None


def _status_of_entry(item: Any, tune_dir: Path) -> tuple[str, TrialStatus] | None:
    try:
        state, meta = json.loads(item[0]), json.loads(item[1])
    except (ValueError, TypeError, IndexError):
        return None
    last = meta.get("last_result") or {}
    cid = last.get("cell_id") or cell_id_of(state.get("config"))
    if not cid:
        return None
    tid = str(state.get("trial_id", ""))
    info = TrialStatus(tid, str(state.get("status", "")), int(meta.get("num_failures") or 0),
                       start_time=meta.get("start_time"),
                       last_result_time=meta.get("last_result_time"),
                       node=str(last.get("node_ip") or last.get("hostname") or ""))
    if meta.get("error_filename"):
        logdir = state.get("relative_logdir") or tid
        try:
            info.error = error_line((tune_dir / str(logdir) / str(meta["error_filename"]))
                                    .read_text(errors="replace"))
        except OSError:
            info.error = "failed (error file not readable here)"
    return cid, info


def read_tune_state(tune_dir: Path) -> tuple[dict[str, TrialStatus], str]:
    """{cell_id: TrialStatus} from the newest `experiment_state-*.json` in `tune_dir` (empty
    if none or unreadable: Tune rewrites the file while it runs), and the file's name."""
    files = sorted(Path(tune_dir).glob("experiment_state-*.json"),
                   key=lambda p: p.stat().st_mtime)
    if not files:
        return {}, ""
    try:
        trial_data = json.loads(files[-1].read_text())["trial_data"]
    except (OSError, ValueError, KeyError):
        return {}, files[-1].name
    out: dict[str, TrialStatus] = {}
    for item in trial_data:
        found = _status_of_entry(item, Path(tune_dir))
        if found:
            out[found[0]] = found[1]
    return out, files[-1].name


def status_of_live_trial(trial: Any, started: float | None, error: str = "") -> TrialStatus:
    """A TrialStatus from a live Tune `Trial` (as callbacks receive it)."""
    last = getattr(trial, "last_result", None) or {}
    return TrialStatus(
        str(trial.trial_id), str(getattr(trial, "status", "") or ""),
        int(getattr(trial, "num_failures", 0) or 0), error=error, start_time=started,
        last_result_time=last.get("timestamp"),
        node=str(last.get("node_ip") or getattr(trial, "node_ip", "") or ""))
