"""A real Ray cluster, started the documented way: `ray start --head` and `ray start
--address` as processes, with Ray's default security (token authentication, on because a
token exists: Ray's own CLI wrote it with `ray get-auth-token --generate`), and `scaf-al`
joining it as a user would, from another process.

Both nodes run on this machine, each with one CPU and its own raylet, so a grid of 1-CPU
trials has to use both to run two trials at once; the store's `node_id` column tells the
nodes apart (they share the host name and IP). Every test uses its own temp dir, HOME and
ports, and stops the processes it started by their ids, never with `ray stop`.
"""

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
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import (
    descendants,
    expected_keys,
    failures_logged,
    kill_pids,
    rounds_key_table,
)

pytestmark = pytest.mark.usefixtures("no_ray_left")

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


@pytest.fixture(scope="module")
def cluster() -> Iterator[RayStartCluster]:
    """One two-node cluster for the module's default-suite tests."""
    with ray_start_cluster() as c:
        yield c


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


def node_ids(exp: Path) -> list[str | None]:
    from orchestrator.results.readers import read_rounds

    return read_rounds(str(exp)).column("node_id").to_pylist()


def test_grid_on_two_ray_start_nodes_with_token_authentication(
    cluster: RayStartCluster, write_spec: Callable[..., Path], tmp_path: Path
) -> None:
    """`scaf-al run --address 127.0.0.1:P` joins a token cluster with the token where
    `ray get-auth-token --generate` put it (nothing else set) and places trials on both
    nodes."""
    from orchestrator.spec.experiment import load_spec

    head, worker = cluster.nodes
    assert "Token authentication is enabled" in head.text()
    spec_path = write_spec(experiment={"seeds": [0, 1]}, budgets=[{"sizes": [10, 12, 14]}])
    exp = tmp_path / "exp"
    t0 = time.monotonic()
    run = scaf_al(["run", str(spec_path), "--out", str(exp), "--address", cluster.address,
                   "--plain"], cluster.env)
    print(f"run on two ray-start nodes: {time.monotonic() - t0:.1f} s")
    assert run.returncode == 0, run.stdout
    assert "InvalidAuthToken" not in run.stdout
    assert [(c, r) for c, r, _ in rounds_key_table(exp)] == expected_keys(load_spec(spec_path))
    assert set(node_ids(exp)) == {head.node_id(), worker.node_id()}


def test_a_missing_token_is_one_line_at_once(
    cluster: RayStartCluster, write_spec: Callable[..., Path], tmp_path: Path
) -> None:
    """No token on the driver's machine: one line naming what to set, no folder, and no
    20 s of `InvalidAuthToken` retries."""
    empty_home = tmp_path / "home"
    empty_home.mkdir()
    exp = tmp_path / "exp"
    t0 = time.monotonic()
    run = scaf_al(["run", str(write_spec()), "--out", str(exp), "--address",
                   cluster.address], {**cluster.env, "HOME": str(empty_home)}, timeout=120)
    elapsed = time.monotonic() - t0
    print(f"missing token refused in {elapsed:.1f} s")
    assert run.returncode == 2, run.stdout
    errors = [ln for ln in run.stdout.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and "uses token authentication" in errors[0], run.stdout
    assert "RAY_AUTH_TOKEN" in " ".join(run.stdout.split()), run.stdout
    assert "InvalidAuthToken" not in run.stdout and "Traceback" not in run.stdout
    assert not exp.exists()
    assert elapsed < 60


def test_tokens_are_found_where_ray_looks_and_a_wrong_one_is_named(
    cluster: RayStartCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from orchestrator.tune.cluster_access import ClusterAccessError, cluster_access, find_token

    for k in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH", "RAY_ADDRESS"):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("HOME", str(cluster.home))
    shown = subprocess.run([str(RAY), "get-auth-token"], env=cluster.env, text=True,
                           capture_output=True, timeout=60).stdout.strip()
    found = find_token()
    assert found is not None and found.value == shown == cluster.token()
    access = cluster_access(cluster.address)  # ~/.ray/auth_token, as `ray start` wrote it
    assert access.token == found and access.env()["RAY_AUTH_MODE"] == "token"
    monkeypatch.setenv("RAY_TMPDIR", str(cluster.base))  # where "auto" finds the head
    assert cluster_access("auto").address.endswith(f":{cluster.port}")
    monkeypatch.setenv("HOME", str(tmp_path))  # no default file from here on
    copy = tmp_path / "token"
    copy.write_text(cluster.token() + "\n")
    monkeypatch.setenv("RAY_AUTH_TOKEN_PATH", str(copy))
    assert cluster_access(cluster.address).token.source == f"RAY_AUTH_TOKEN_PATH={copy}"
    monkeypatch.setenv("RAY_AUTH_TOKEN", "not-the-token")  # wins over the path, as in Ray
    t0 = time.monotonic()
    with pytest.raises(ClusterAccessError, match="refuses the token from RAY_AUTH_TOKEN:"):
        cluster_access(cluster.address)
    assert time.monotonic() - t0 < 30
    monkeypatch.delenv("RAY_AUTH_TOKEN")
    monkeypatch.setenv("RAY_AUTH_TOKEN_PATH", str(tmp_path / "missing"))
    with pytest.raises(ClusterAccessError, match=r"RAY_AUTH_TOKEN_PATH=.*cannot read"):
        cluster_access(cluster.address)


def test_cuda_on_a_cluster_without_gpus_is_refused_before_the_folder(
    cluster: RayStartCluster, tiny_spec: Callable[..., Any], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from orchestrator.spec.experiment import SpecError
    from orchestrator.tune.runner import run_experiment

    monkeypatch.setenv("HOME", str(cluster.home))  # the token, as `ray start` found it
    exp = tmp_path / "exp"
    spec = tiny_spec(resources={"device": "cuda", "gpus_per_trial": 1})
    with pytest.raises(SpecError) as refused:
        run_experiment(spec, exp, address=cluster.address, dashboard=False,
                       log=lambda _m: None)
    assert str(refused.value) == (f"resources.device: 'cuda', but the Ray cluster at "
                                  f"{cluster.address} has no GPU (use device = \"cpu\" or "
                                  "\"auto\")")
    assert not exp.exists()


def test_unreachable_address_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                         ) -> None:
    from orchestrator.tune.cluster_access import ClusterAccessError, cluster_access

    port = free_port()  # nothing listens there
    t0 = time.monotonic()
    with pytest.raises(ClusterAccessError, match=rf"--address 127.0.0.1:{port}: nothing "
                                                 "answers at"):
        cluster_access(f"127.0.0.1:{port}")
    assert time.monotonic() - t0 < 20


def test_a_cluster_without_tokens_is_joined_without_one(monkeypatch: pytest.MonkeyPatch
                                                        ) -> None:
    """A token on the driver's machine does not put the driver in token mode for a cluster
    started with RAY_AUTH_MODE=disabled (its actors could not call back into the driver)."""
    import ray

    from orchestrator.tune.cluster_access import cluster_access
    from orchestrator.tune.ray_runtime import ray_session

    with ray_start_cluster(workers=0, tokens=False) as cluster:
        assert "Token authentication is enabled" not in cluster.nodes[0].text()
        for k in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH"):
            monkeypatch.delenv(k, raising=False)
        monkeypatch.setenv("HOME", str(cluster.home))  # holds a token all the same
        access = cluster_access(cluster.address)
        assert access.token is None and access.env()["RAY_AUTH_MODE"] == "disabled"
        with ray_session(cluster.address, access=access):
            counter = ray.remote(num_cpus=0)(_Counter).remote()
            assert ray.get(counter.add.remote(ray.put(41))) == 42


class _Counter:
    def add(self, x: int) -> int:
        return x + 1


@pytest.mark.slow
def test_losing_the_worker_node_mid_run_loses_and_duplicates_nothing(
    write_spec: Callable[..., Path], tmp_path: Path, cache_dir: Path
) -> None:
    """SIGKILL the worker node's processes once it has written a round: its trials are
    retried on the head from their last finished round; after `scaf-al resume --address
    auto` (from the head) the grid's rows equal an uninterrupted run's."""
    from orchestrator.spec.experiment import load_spec
    from tests.helpers import reference_rows

    spec_path = write_spec(experiment={"seeds": [0, 1]},
                           budgets=[{"sizes": [10, 12, 14, 16, 18, 20]}],
                           resources={"max_failures": 3})
    spec = load_spec(spec_path)
    exp = tmp_path / "exp"
    with ray_start_cluster() as cluster:
        head, worker = cluster.nodes
        worker_id = worker.node_id()
        driver = subprocess.Popen(
            [sys.executable, "-m", "orchestrator.cli", "run", str(spec_path), "--out",
             str(exp), "--address", cluster.address, "--plain"], cwd=ROOT, env=cluster.env,
            text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            start_new_session=True)
        try:
            at_kill = _kill_when_written(worker, worker_id, exp, driver)
            out, _ = driver.communicate(timeout=RUN_TIMEOUT_S)
        finally:
            kill_pids({driver.pid} | descendants(driver.pid))
        print(f"worker node killed after {at_kill} rounds; driver exit {driver.returncode}")
        assert 0 < at_kill < len(expected_keys(spec)), "the node went too early or too late"
        assert sum(failures_logged(exp).values()) >= 1, "no trial was running on the node"
        # Finished by Tune's retries, or not: `resume --address auto` from the head
        # completes it, or adds nothing.
        again = scaf_al(["resume", str(exp), "--address", "auto", "--plain"], cluster.env)
        assert again.returncode == 0, out + again.stdout
        assert set(node_ids(exp)) == {head.node_id(), worker_id}
    assert rounds_key_table(exp) == reference_rows(spec, cache_dir)


def _kill_when_written(worker: Node, worker_id: str, exp: Path,
                       driver: subprocess.Popen) -> int:
    """Kill the worker node once it has written a round; the rows written by then."""
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while time.monotonic() < deadline and driver.poll() is None:
        with contextlib.suppress(FileNotFoundError, OSError, KeyError):
            if (exp / "results" / "rounds").is_dir():
                ids = node_ids(exp)
                if worker_id in ids:
                    worker.kill()
                    return len(ids)
        time.sleep(0.5)
    raise AssertionError("the worker node never wrote a round")


def test_node_id_column_reads_null_in_files_written_before_it(tmp_path: Path) -> None:
    """The store stays readable across the new column: a file without `node_id` (as
    written before it existed) reads null next to a file that has one."""
    import pyarrow.parquet as pq

    from orchestrator.results.readers import read_rounds
    from orchestrator.results.writer import ResultWriter
    from tests.helpers import store_cell, store_round

    cell = store_cell()
    writer = ResultWriter(str(tmp_path), "test-exp")
    writer.write_round(cell, store_round(0), splits=["test"])
    old = next((tmp_path / "results" / "rounds").glob("*.parquet"))
    pq.write_table(pq.read_table(old).drop(["node_id"]), old)
    writer.write_round(cell, store_round(1), splits=["test"], node_id="abc123")
    got = read_rounds(str(tmp_path))
    assert sorted(zip(got.column("round").to_pylist(), got.column("node_id").to_pylist(),
                      strict=True)) == [(0, None), (1, "abc123")]
