"""The driver lock of an experiment or project folder: a second driver is refused with one
line naming the holder; a lock left by a killed driver is taken over; `run` takes it."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from orchestrator.cli.commands import main
from orchestrator.results.folder_lock import LOCK_FILE, FolderBusyError, driver_lock

ROOT = Path(__file__).resolve().parents[3]

# A driver in its own process: takes the lock, says so, then waits to be killed.
_HOLDER = """
import sys, time
from orchestrator.results.folder_lock import driver_lock
with driver_lock(sys.argv[1], "propose"):
    print("held", flush=True)
    time.sleep(600)
"""


@pytest.fixture
def holder(tmp_path: Path) -> Iterator[tuple[subprocess.Popen, Path]]:
    """A live process holding the lock of tmp_path/project."""
    folder = tmp_path / "project"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-c", _HOLDER, str(folder)], env=env,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    yield proc, folder
    if proc.poll() is None:
        proc.kill()
    proc.wait()


def test_a_second_driver_is_refused_naming_the_holder(holder) -> None:
    proc, folder = holder
    with pytest.raises(FolderBusyError) as caught, driver_lock(folder, "resume"):
        pytest.fail("the lock was taken twice")
    message = str(caught.value)
    assert "\n" not in message
    assert f"pid {proc.pid}" in message and socket.gethostname() in message
    assert "scaf-al propose" in message
    note = json.loads((folder / LOCK_FILE).read_text())
    assert note["pid"] == proc.pid and note["started"] in message


def test_a_killed_drivers_lock_is_taken_over(holder) -> None:
    proc, folder = holder
    proc.send_signal(signal.SIGKILL)  # no chance to release anything
    proc.wait()
    told: list[str] = []
    with driver_lock(folder, "propose", log=told.append) as me:
        assert me.pid == os.getpid()
        assert json.loads((folder / LOCK_FILE).read_text())["pid"] == os.getpid()
    assert len(told) == 1 and f"pid {proc.pid}" in told[0] and "took over" in told[0]


def test_release_frees_the_lock_and_removes_a_folder_it_created(tmp_path: Path) -> None:
    new = tmp_path / "new"
    with driver_lock(new, "run"):
        assert (new / LOCK_FILE).is_file()
    assert not new.exists()  # nothing else was written: no empty folder left behind
    kept = tmp_path / "kept"
    kept.mkdir()
    told: list[str] = []
    for _ in range(2):  # a clean release is not a stale lock
        with driver_lock(kept, "run", log=told.append):
            (kept / "results").mkdir(exist_ok=True)
    assert told == [] and (kept / LOCK_FILE).read_text() == ""


def test_run_on_a_locked_folder_is_refused_before_any_work(holder, capsys) -> None:
    proc, folder = holder
    t0 = time.perf_counter()
    assert main(["run", "quickstart", "--out", str(folder)]) == 2
    errors = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and f"pid {proc.pid}" in errors[0], errors
    assert sorted(p.name for p in folder.iterdir()) == [LOCK_FILE]  # no experiment started
    assert time.perf_counter() - t0 < 30  # refused before Ray or any training
