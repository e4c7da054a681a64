"""A Ray cluster started the documented way, for the tests: `ray start --head` and `ray
start --address` as processes (each its own process group), in a temp dir, HOME and ports of
their own, stopped by their process ids (never `ray stop`); and `scaf-al` run as a user
would, from another process."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.processes import descendants, kill_pids

ROOT = Path(__file__).resolve().parents[3]
RAY = Path(sys.executable).with_name("ray")  # the Ray CLI of this interpreter
START_TIMEOUT_S = 90.0
RUN_TIMEOUT_S = 420.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Node:
    """One `ray start ... --block` process (its own process group) and what it started."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], logs: Path) -> None:
        self.name, self.log = name, logs / f"{name}.log"
        with self.log.open("w") as out:
            self.proc = subprocess.Popen([str(RAY), "start", *args, "--block"], env=env,
                                         stdout=out, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, start_new_session=True)
        self.seen: set[int] = set()

    def pids(self) -> set[int]:
        self.seen |= {self.proc.pid} | descendants(self.proc.pid)
        return self.seen

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_started(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while "Ray runtime started" not in self.text():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"ray start ({self.name}) did not start:\n{self.text()}")
            time.sleep(0.3)
        self.pids()

    def node_id(self) -> str:
        """The node's id, from its raylet's command line."""
        for pid in self.pids():
            with contextlib.suppress(OSError):
                args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
                for a in args:
                    if a.startswith(b"--node_id="):
                        return a.split(b"=", 1)[1].decode()
        raise RuntimeError(f"no raylet found under ray start ({self.name})")

    def kill(self) -> None:
        """Lose the node at once: SIGKILL its process group and every process it started."""
        pids = self.pids()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        kill_pids(pids)
        self.proc.wait(timeout=30)

    def stop(self, grace: float = 15.0) -> None:
        """SIGTERM `ray start` (it stops its processes), then SIGKILL whatever is left."""
        pids = self.pids()
        if self.proc.poll() is None:
            self.proc.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=grace)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        kill_pids(pids | descendants(self.proc.pid))
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=10)


class RayStartCluster:
    """A head and worker nodes started with `ray start` in a temp dir of their own."""

    def __init__(self) -> None:
        # Short: Ray's unix sockets live under the temp dir (108 characters at most).
        self.base = Path(tempfile.mkdtemp(prefix="sal-", dir="/tmp"))
        self.home = self.base / "home"
        self.home.mkdir()
        self.port = free_port()
        self.nodes: list[Node] = []
        self.env = {k: v for k, v in os.environ.items()
                    if not k.startswith("RAY_AUTH") and k != "RAY_ADDRESS"}
        self.env.update(HOME=str(self.home), RAY_TMPDIR=str(self.base),
                        RAY_USAGE_STATS_ENABLED="0",
                        PYTHONPATH=os.pathsep.join(filter(None, [
                            str(ROOT), os.environ.get("PYTHONPATH", "")])))

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def token(self) -> str:
        return (self.home / ".ray" / "auth_token").read_text().strip()

    def _start(self, name: str, args: list[str], env: dict[str, str]) -> Node:
        node = Node(name, [*args, "--num-cpus", "1", "--object-store-memory", str(80 << 20),
                           "--temp-dir", str(self.base / "ray"),
                           "--dashboard-agent-listen-port", str(free_port()),
                           "--disable-usage-stats"], env, self.base)
        self.nodes.append(node)
        node.wait_started()
        return node

    def start_head(self, tokens: bool = True) -> Node:
        # Ray's own CLI writes the token to ~/.ray/auth_token; `ray start --head` then turns
        # token authentication on by itself (Ray 2.60's default when a token exists).
        subprocess.run([str(RAY), "get-auth-token", "--generate"], env=self.env, check=True,
                       capture_output=True, timeout=60)
        env = self.env if tokens else {**self.env, "RAY_AUTH_MODE": "disabled"}
        return self._start("head", ["--head", "--port", str(self.port),
                                    "--include-dashboard", "false"], env)

    def add_worker(self, name: str = "worker") -> Node:
        # Every other node needs RAY_AUTH_MODE=token (and the token) to join.
        return self._start(name, ["--address", self.address],
                           {**self.env, "RAY_AUTH_MODE": "token"})

    def shutdown(self) -> None:
        for node in reversed(self.nodes):
            node.stop()
        shutil.rmtree(self.base, ignore_errors=True)


@contextlib.contextmanager
def ray_start_cluster(workers: int = 1, tokens: bool = True) -> Iterator[RayStartCluster]:
    cluster = RayStartCluster()
    try:
        cluster.start_head(tokens)
        for i in range(workers):
            cluster.add_worker(f"worker{i}" if i else "worker")
        yield cluster
    finally:
        cluster.shutdown()


def scaf_al(args: list[str], env: dict[str, str], timeout: float = RUN_TIMEOUT_S
            ) -> subprocess.CompletedProcess[str]:
    """`scaf-al ARGS` as its own process group (killed with everything below it on
    timeout)."""
    proc = subprocess.Popen([sys.executable, "-m", "orchestrator.cli", *args], cwd=ROOT,
                            env=env, text=True, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_pids({proc.pid} | descendants(proc.pid))
        out, _ = proc.communicate()
        pytest.fail(f"scaf-al {' '.join(args)} ran over {timeout:.0f} s:\n{out}")
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, "")
