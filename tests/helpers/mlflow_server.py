"""A real MLflow tracking server for the tracking tests: `mlflow server` on 127.0.0.1 with a
SQLite backend and an artefact folder in a temporary directory, from .venv-mlflow
(scripts/setup-mlflow-server.sh)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
#: The server's executable: $SCAF_AL_MLFLOW_SERVER, else the project's .venv-mlflow.
SERVER_BIN = Path(os.environ.get("SCAF_AL_MLFLOW_SERVER", ROOT / ".venv-mlflow/bin/mlflow"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class MlflowServer:
    """One `mlflow server` process (and its workers, in its own process group)."""

    def __init__(self, folder: Path) -> None:
        if not SERVER_BIN.is_file():
            raise FileNotFoundError(f"{SERVER_BIN}: no MLflow server; run "
                                    "scripts/setup-mlflow-server.sh")
        self.folder = folder
        self.port = free_port()
        self.uri = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 240.0) -> None:
        """Start the server and wait until it answers /health."""
        log = (self.folder / "server.log").open("ab")
        self.proc = subprocess.Popen(
            [str(SERVER_BIN), "server", "--host", "127.0.0.1", "--port", str(self.port),
             "--workers", "1",
             "--backend-store-uri", f"sqlite:///{self.folder / 'mlflow.db'}",
             "--artifacts-destination", str(self.folder / "artefacts")],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True, cwd=self.folder,
            # No background job runner (a pool of queue consumers the tests never use).
            env={**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"})
        log.close()
        deadline = time.monotonic() + timeout
        while not self.healthy():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("mlflow server did not start:\n"
                                   + (self.folder / "server.log").read_text()[-2000:])
            time.sleep(0.5)

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.uri}/health", timeout=2) as r:
                return bool(r.status == 200)
        except OSError:
            return False

    def stop(self) -> None:
        """Stop the server's process group (the processes this helper started)."""
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)
        # Whatever of the group is left (workers outlive their parent's SIGTERM).
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        self.proc = None
        deadline = time.monotonic() + 20
        while self.healthy() and time.monotonic() < deadline:
            time.sleep(0.2)
