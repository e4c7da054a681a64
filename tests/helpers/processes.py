"""Processes a test started (Ray drivers and workers) and the failures Tune logged for them."""

from __future__ import annotations

import contextlib
import os
import re
import signal
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
