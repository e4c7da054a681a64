"""A real MLflow tracking server for the tracking tests: `mlflow server` on 127.0.0.1 with a
SQLite backend and an artefact folder in a temporary directory, from .venv-mlflow
(scripts/setup-mlflow-server.sh); and a TCP relay that takes it off the network and back."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
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


# A TCP relay in front of a real server, to take the server off the network and back
# without restarting it: while the relay is down its port refuses connections (as a stopped
# server's does) and the connections it carried are cut; up again, on the same port, it
# forwards every byte to the server unchanged.
class TcpRelay:
    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = free_port()
        self.uri = f"http://127.0.0.1:{self.port}"
        self._listener: socket.socket | None = None
        self._open: list[socket.socket] = []
        self._lock = threading.Lock()

    def up(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(16)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def down(self) -> None:
        """Refuse new connections and cut the open ones."""
        listener, self._listener = self._listener, None
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        with self._lock:
            for s in self._open:
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                s.close()
            self._open.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # taken down
            server = socket.create_connection(("127.0.0.1", self.target_port))
            with self._lock:
                self._open += [client, server]
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                dst.sendall(data)
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)
