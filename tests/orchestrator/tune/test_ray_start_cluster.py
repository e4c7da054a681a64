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
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.processes import descendants, failures_logged, kill_pids
from tests.helpers.specs import expected_keys
from tests.helpers.store import rounds_key_table
from tests.orchestrator.tune.ray_start import (
    RAY,
    ROOT,
    RUN_TIMEOUT_S,
    Node,
    RayStartCluster,
    free_port,
    ray_start_cluster,
    scaf_al,
)

pytestmark = pytest.mark.usefixtures("no_ray_left")


@pytest.fixture(scope="module")
def cluster() -> Iterator[RayStartCluster]:
    """One two-node cluster for the module's default-suite tests."""
    with ray_start_cluster() as c:
        yield c


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
    20 s of `InvalidAuthToken` retries. The cluster is asked before any data work: the
    spec's auto-encoder is not a checkpoint, which the pre-flight (the pool loaded, the
    file read) would report instead."""
    empty_home = tmp_path / "home"
    empty_home.mkdir()
    exp = tmp_path / "exp"
    t0 = time.monotonic()
    bad = tmp_path / "ae.pt"
    bad.write_bytes(b"not a checkpoint")
    spec = write_spec(model={"pretrained": str(bad)})
    run = scaf_al(["run", str(spec), "--out", str(exp), "--address",
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
    from tests.helpers.runs import reference_rows

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
    from tests.helpers.cells import make_cell
    from tests.helpers.store import STORE_SIZES, store_round

    cell = make_cell(sizes=STORE_SIZES)
    writer = ResultWriter(str(tmp_path), "test-exp")
    writer.write_round(cell, store_round(0), splits=["test"])
    old = next((tmp_path / "results" / "rounds").glob("*.parquet"))
    pq.write_table(pq.read_table(old).drop(["node_id"]), old)
    writer.write_round(cell, store_round(1), splits=["test"], node_id="abc123")
    got = read_rounds(str(tmp_path))
    assert sorted(zip(got.column("round").to_pylist(), got.column("node_id").to_pylist(),
                      strict=True)) == [(0, None), (1, "abc123")]
