"""The auto-encoder's pre-training in a child process, so the driver never touches a GPU.

Pre-training on a GPU would leave the driver with a CUDA context and the allocator's cached
blocks for the whole run, memory Tune does not count when it packs trials on that GPU. The
child (`python -m orchestrator.tune.warmup`, a fresh interpreter: it neither re-runs the
caller's `__main__` nor inherits a forked CUDA state) trains on the trials' device with the
driver's thread count and the spec's determinism setting, applied as a trial applies it
(`set_determinism`: cuBLAS's fixed workspace before CUDA's first use), so on the CPU its file
is byte for byte the one the driver would have written. It exits, and its memory is given
back, before Ray and the trials start. Its log lines, progress and result come back as JSON
lines on its stdout.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

MARK = "SCAF-AL-WARMUP "
EXIT_GRACE_S = 10.0


def pretrain_in_child(
    cell: dict[str, Any], cache: Path, *, device: str, deterministic: bool,
    log: Callable[[str], Any] | None = None,
    progress: Callable[[dict], None] | None = None,
) -> Path:
    """`ensure_autoencoder` for the cell `cell` (its `to_dict()`) on `device`, run in a child
    process with deterministic algorithms on or off (`[resources] deterministic`); returns
    the checkpoint's path once the child has exited.

    Raises:
        the child's error (its type when it is a builtin or can be rebuilt from its message,
        else RuntimeError with the message), or RuntimeError when the child died without a
        word (killed, out of memory).
    """
    import torch

    job = {"cell": cell, "cache": str(cache), "device": device,
           "threads": torch.get_num_threads(),
           "deterministic": deterministic}
    env = dict(os.environ)
    # The driver's import path (a checkout on PYTHONPATH, the current folder under `-m`).
    env["PYTHONPATH"] = os.pathsep.join(p or os.getcwd() for p in sys.path)
    proc = subprocess.Popen([sys.executable, "-m", "orchestrator.tune.warmup"], env=env,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    finished = False
    try:
        with _signals_as_interrupt():
            assert proc.stdin is not None
            proc.stdin.write(json.dumps(job))
            proc.stdin.close()
            path = _follow(proc, log, progress)
        finished = True
        return path
    finally:
        _stop(proc, grace=EXIT_GRACE_S if finished else 0.0)


def _follow(proc: subprocess.Popen, log: Callable[[str], Any] | None,
            progress: Callable[[dict], None] | None) -> Path:
    """Relay the child's messages until it reports its result (other output passes on)."""
    assert proc.stdout is not None
    for line in proc.stdout:
        if not line.startswith(MARK):
            sys.stdout.write(line)
            continue
        msg = json.loads(line[len(MARK):])
        if msg["kind"] == "log" and log:
            log(msg["text"])
        elif msg["kind"] == "progress" and progress:
            progress(msg["data"])
        elif msg["kind"] == "done":
            return Path(msg["path"])
        elif msg["kind"] == "error":
            raise _rebuild(msg["module"], msg["type"], msg["text"])
    raise RuntimeError("pre-training the auto-encoder: the child process exited with code "
                       f"{proc.wait()} without a result")


def _rebuild(module: str, name: str, text: str) -> Exception:
    """The child's exception as the same type where one argument rebuilds it."""
    try:
        cls = getattr(importlib.import_module(module), name)
        if isinstance(cls, type) and issubclass(cls, Exception):
            error = cls(text)
            if str(error) == text:
                return error
    except Exception:  # noqa: BLE001 - any type that cannot be rebuilt becomes RuntimeError
        pass
    return RuntimeError(text)


@contextlib.contextmanager
def _signals_as_interrupt() -> Iterator[None]:
    """SIGTERM / SIGHUP raise KeyboardInterrupt in the block, so the child is ended too."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous = {s: signal.signal(s, interrupt) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def _stop(proc: subprocess.Popen, grace: float) -> None:
    """Wait `grace` seconds for the child to exit (its memory given back), then end it."""
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    if proc.stdout is not None:
        proc.stdout.close()


# --- the child -------------------------------------------------------------------------

def _send(kind: str, **fields: Any) -> None:
    sys.stdout.write(MARK + json.dumps({"kind": kind, **fields}, default=float) + "\n")
    sys.stdout.flush()


def _exit_with_parent() -> None:
    """End this process when the driver is gone (even SIGKILLed), not train on alone."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            threading.Event().wait(1.0)
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def _child(job: dict[str, Any]) -> Path:
    """Load the pool as the trials do, then find or train the auto-encoder."""
    import torch

    from trainers.caches.autoencoder import ensure_autoencoder
    from trainers.config.cell import CellConfig
    from trainers.loop.data_loading import load_data
    from trainers.training.device import set_determinism

    torch.set_num_threads(int(job["threads"]))
    set_determinism(bool(job["deterministic"]))
    cell = CellConfig.from_dict(job["cell"])
    cache = Path(job["cache"])
    pool, _ = load_data(cell.data, cell.model.input_size, cache)
    return ensure_autoencoder(cell, pool, cache, device=job["device"],
                              log=lambda m: _send("log", text=m),
                              progress=lambda d: _send("progress", data=d))


def main() -> int:
    _exit_with_parent()
    try:
        path = _child(json.loads(sys.stdin.read()))
    except BaseException as e:  # noqa: BLE001 - every failure goes back to the driver
        _send("error", module=type(e).__module__, type=type(e).__qualname__, text=str(e))
        return 1
    import torch

    # What it ran with, as a trial would: the parent needs only the path.
    _send("done", path=str(path), deterministic=torch.are_deterministic_algorithms_enabled(),
          cublas_workspace_config=os.environ.get("CUBLAS_WORKSPACE_CONFIG"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
