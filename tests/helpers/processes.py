"""Processes a test started (Ray drivers and workers) and the failures Tune logged for them."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path


def failures_logged(exp_dir: Path) -> dict[str, int]:
    """Failures Tune recorded per trial folder (its error.txt has one block per failure)."""
    out = {}
    for f in (exp_dir / "tune").glob("*/error.txt"):
        out[f.parent.name] = len(re.findall(r"^Failure # \d+", f.read_text(), re.M))
    return out


def descendants(root: int) -> set[int]:
    """Process ids below `root` (from /proc), e.g. the Ray processes a driver started."""
    kids: dict[int, list[int]] = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                ppid = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            kids.setdefault(ppid, []).append(int(d.name))
    out: set[int] = set()
    todo = [root]
    while todo:
        for k in kids.get(todo.pop(), []):
            if k not in out:
                out.add(k)
                todo.append(k)
    return out


def kill_pids(pids: set[int]) -> None:
    """SIGKILL processes this test started (never by name)."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def sigkill_driver_after_rows(argv: list[str], root: Path, log_path: Path,
                              rows: Callable[[], int], more_than: int,
                              timeout: float = 180.0) -> int:
    """Run `python -m orchestrator.cli *argv` as a driver process from `root`, SIGKILL it
    (no handler runs, nothing is saved or shut down on the way out) once the store holds
    more than `more_than` result rows, and end the Ray processes it left behind; returns
    the rows at the kill."""
    env = {**os.environ, "PYTHONPATH": str(root)}
    with log_path.open("w") as log:
        driver = subprocess.Popen([sys.executable, "-m", "orchestrator.cli", *argv], cwd=root,
                                  env=env, stdout=log, stderr=subprocess.STDOUT,
                                  start_new_session=True)
        ours: set[int] = set()
        try:
            deadline = time.monotonic() + timeout
            while rows() <= more_than:
                assert driver.poll() is None, log_path.read_text()[-3000:]
                assert time.monotonic() < deadline, f"no new result row within {timeout:.0f} s"
                time.sleep(0.2)
            ours = descendants(driver.pid)
            driver.kill()
            driver.wait()
            return rows()
        finally:
            # The dead driver's Ray processes (which this test started) are orphans now.
            ours |= descendants(driver.pid)
            if driver.poll() is None:
                driver.kill()
                driver.wait()
            kill_pids(ours)
