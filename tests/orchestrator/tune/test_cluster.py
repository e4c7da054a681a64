"""Placement on Ray clusters: a 2-node cluster (`ray.cluster_utils.Cluster`), fractional
GPUs packed on one logical GPU, and a worker node lost mid-run."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.processes import failures_logged
from tests.helpers.specs import expected_keys
from tests.helpers.store import rounds_key_table

pytestmark = pytest.mark.usefixtures("no_ray_left")

NODE_ARGS = {"num_cpus": 1, "object_store_memory": 80 * 1024 * 1024}


@contextmanager
def two_node_cluster(**node_args: Any) -> Iterator[tuple[Any, Any]]:
    """(cluster, worker node): a head and a worker with one CPU each (and `node_args`),
    shut down on the way out."""
    from orchestrator.tune.ray_runtime import set_env_defaults

    set_env_defaults()
    from ray.cluster_utils import Cluster

    c = Cluster(initialize_head=True,
                head_node_args={**NODE_ARGS, **node_args, "include_dashboard": False})
    try:
        worker = c.add_node(**NODE_ARGS, **node_args)
        c.wait_for_nodes()
        yield c, worker
    finally:
        c.shutdown()


@pytest.fixture
def two_nodes() -> Iterator[tuple[Any, Any]]:
    """A head and a worker node with one CPU each: two 1-CPU trials can only run at the
    same time if one of them runs on the worker."""
    with two_node_cluster() as nodes:
        yield nodes


def trial_spans(exp: Path) -> dict[str, tuple[float, float]]:
    """Per cell: (first, last) time a round row was written."""
    from orchestrator.results.readers import read_rounds

    t = read_rounds(str(exp))
    spans: dict[str, tuple[float, float]] = {}
    for cid, at in zip(t["cell_id"].to_pylist(), t["written_at"].to_pylist(), strict=True):
        ts = at.timestamp()
        lo, hi = spans.get(cid, (ts, ts))
        spans[cid] = (min(lo, ts), max(hi, ts))
    return spans


def overlapped(spans: dict[str, tuple[float, float]]) -> bool:
    (a0, a1), (b0, b1) = spans.values()
    return a0 < b1 and b0 < a1


def _grid(tiny_spec: Callable[..., Any], sizes: list[int], **over: Any) -> Any:
    return tiny_spec(experiment={"seeds": [0, 1]}, budgets=[{"sizes": sizes}], **over)


@pytest.mark.slow
def test_grid_runs_on_a_two_node_cluster(
    two_nodes: tuple[Any, Any], tiny_spec: Callable[..., Any], tmp_path: Path
) -> None:
    from orchestrator.tune.runner import run_experiment

    cluster, _ = two_nodes
    spec = _grid(tiny_spec, [10, 12, 14, 16])
    exp = tmp_path / "exp"
    outcome = run_experiment(spec, exp, address=cluster.address, dashboard=False,
                             log=lambda _m: None)
    assert outcome.errors == [] and outcome.trials == 2
    assert [(c, r) for c, r, _ in rounds_key_table(exp)] == expected_keys(spec)
    # One CPU per node and per trial: overlapping trials mean both nodes worked.
    assert overlapped(trial_spans(exp))


def test_fractional_gpus_pack_two_trials_on_one_logical_gpu(
    tiny_spec: Callable[..., Any], tmp_path: Path
) -> None:
    """One logical GPU on a CPU machine, 0.5 GPU per trial: both trials run at once on it
    (they share GPU 0); the trials themselves compute on the CPU."""
    from orchestrator.tune.runner import _trainable, run_experiment

    spec = _grid(tiny_spec, [10, 12, 14, 16],
                 resources={"gpus_per_trial": 0.5, "num_gpus": 1, "num_cpus": 2,
                            "cpus_per_trial": 1, "device": "cpu"})
    exp = tmp_path / "exp"
    free_gpu = _watch_free_gpu()
    try:
        outcome = run_experiment(spec, exp, dashboard=False, log=lambda _m: None)
    finally:
        free_gpu.stop.set()
        free_gpu.thread.join()
    assert outcome.errors == []
    assert [(c, r) for c, r, _ in rounds_key_table(exp)] == expected_keys(spec)
    # What each trial asked Tune for: half of the only (logical) GPU ...
    assert _trainable(spec)._resources.bundles == [{"CPU": 1.0, "GPU": 0.5}]
    # ... and both halves were held at once: no free GPU left while they ran. (Round
    # timestamps are no witness: one trial's worker may take seconds longer to start.)
    assert free_gpu.seen and min(free_gpu.seen) == 0.0, free_gpu.seen


class _FreeGpuWatch:
    def __init__(self) -> None:
        self.stop = threading.Event()
        self.seen: list[float] = []
        self.thread = threading.Thread(target=self._poll, daemon=True)

    def _poll(self) -> None:
        import ray

        while not self.stop.wait(0.05):
            if not ray.is_initialized():
                continue
            try:
                if not ray.cluster_resources().get("GPU"):
                    continue  # the node's resources are not registered yet
                # A resource held completely is left out of the mapping.
                self.seen.append(float(ray.available_resources().get("GPU", 0.0)))
            except Exception:  # Ray starting or shutting down between two polls
                continue


def _watch_free_gpu() -> _FreeGpuWatch:
    watch = _FreeGpuWatch()
    watch.thread.start()
    return watch


def test_more_gpus_per_trial_than_any_node_has_is_refused(
    tiny_spec: Callable[..., Any], tmp_path: Path
) -> None:
    """Two nodes with one logical GPU each: the cluster has two GPUs, but a trial asking
    for two could start on neither node (it cannot span them); refused before the folder."""
    from orchestrator.spec.experiment import SpecError
    from orchestrator.tune.runner import run_experiment

    with two_node_cluster(num_gpus=1) as (c, _worker):
        exp = tmp_path / "exp"
        spec = tiny_spec(resources={"device": "cpu", "gpus_per_trial": 2})
        with pytest.raises(SpecError) as refused:
            run_experiment(spec, exp, address=c.address, dashboard=False,
                           log=lambda _m: None)
        assert str(refused.value) == (
            f"resources.gpus_per_trial: 2 GPUs per trial, but no node of the Ray cluster at "
            f"{c.address} has more than 1 GPU: no trial could start (a trial runs on one "
            "node; give at most that many)")
        assert not exp.exists()


@pytest.mark.slow
def test_worker_node_removed_mid_run_its_trials_finish_elsewhere(
    two_nodes: tuple[Any, Any], tiny_spec: Callable[..., Any], tmp_path: Path
) -> None:
    from orchestrator.results.readers import read_table
    from orchestrator.tune.runner import run_experiment

    cluster, worker = two_nodes
    spec = _grid(tiny_spec, [10, 12, 14, 16, 18, 20], resources={"max_failures": 3})
    exp = tmp_path / "exp"
    removed: list[int] = []

    def remove_worker_after_first_rows() -> None:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            if (exp / "results").exists() and read_table(str(exp), "rounds").table.num_rows >= 2:
                cluster.remove_node(worker, allow_graceful=False)
                removed.append(read_table(str(exp), "rounds").table.num_rows)
                return
            time.sleep(0.2)

    killer = threading.Thread(target=remove_worker_after_first_rows, daemon=True)
    killer.start()
    outcome = run_experiment(spec, exp, address=cluster.address, dashboard=False,
                             log=lambda _m: None)
    killer.join(timeout=5)
    assert removed, "the worker node was never removed"
    assert removed[0] < len(expected_keys(spec)), "the run finished before the node went"
    assert sum(failures_logged(exp).values()) >= 1, "no trial was running on the lost node"
    assert outcome.errors == []
    assert [(c, r) for c, r, _ in rounds_key_table(exp)] == expected_keys(spec)
