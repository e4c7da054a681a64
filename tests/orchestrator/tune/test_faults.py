"""Faults injected into Tune trials: a raise, a dying worker process, a diverging loss.

Every run is compared, row for row on (cell_id, round) and the selected indices, with an
uninterrupted run of the same cells by the plain loop (CPU, one thread, deterministic).
The experiments share one local Ray cluster (started once per module) to keep Ray start-up
out of each test.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.processes import failures_logged
from tests.helpers.runs import reference_rows
from tests.helpers.specs import expected_keys
from tests.helpers.store import rounds_key_table

pytestmark = pytest.mark.usefixtures("no_ray_left")


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    """A one-node local Ray cluster with 2 logical CPUs, joined by every run here."""
    from orchestrator.tune.ray_runtime import set_env_defaults

    set_env_defaults()
    from ray.cluster_utils import Cluster

    c = Cluster(initialize_head=True, head_node_args={
        "num_cpus": 2, "object_store_memory": 80 * 1024 * 1024, "include_dashboard": False})
    yield c
    c.shutdown()


def _two_cells(tiny_spec: Callable[..., Any], **over: Any) -> Any:
    # nnm selections depend on the trained model, so a wrong restart point would show.
    return tiny_spec(experiment={"seeds": [0, 1]}, acquisitions=[{"name": "nnm"}], **over)


def test_trial_that_fails_once_finishes_on_retry(
    cluster: Any, tiny_spec: Callable[..., Any], tmp_path: Path, cache_dir: Path
) -> None:
    from orchestrator.tune.runner import run_experiment

    spec = _two_cells(tiny_spec)
    faulty = spec.cells()[0].cell_id()
    exp = tmp_path / "exp"
    outcome = run_experiment(spec, exp, address=cluster.address, dashboard=False,
                             faults={"raise_at_round": 1, "times": 1, "cells": [faulty]},
                             log=lambda _m: None)
    assert outcome.errors == []
    assert sorted(p.name for p in (exp / "faults").iterdir()) == [f"{faulty}-r1-0"]
    assert sorted(failures_logged(exp).values()) == [1]
    got = rounds_key_table(exp)
    assert [(c, r) for c, r, _ in got] == expected_keys(spec)  # one row per key, none missing
    assert got == reference_rows(spec, cache_dir)
    for p in (exp / "results").rglob("*"):
        assert p.is_dir() or p.suffix == ".parquet", p
    # The progress views read the state file this real Tune run wrote: the retried cell is
    # done and still shows its failure, with the exception line of Tune's error file.
    from orchestrator.progress.grid import grid_view
    from orchestrator.progress.snapshot import take_snapshot

    snap = take_snapshot(exp)
    assert snap.complete and snap.tune_state_file.startswith("experiment_state-")
    by_id = {c.cell_id: c for c in snap.cells}
    assert by_id[faulty].state == "DONE" and by_id[faulty].trial.num_failures == 1
    assert by_id[faulty].problem == ("1 failure: orchestrator.tune.trainable.InjectedFault: "
                                     "injected failure at round 1 (attempt 1)")
    assert [(p.kind, p.label) for p in grid_view(snap).problems] == [
        ("RETRIED", by_id[faulty].label)]


@pytest.mark.slow
def test_worker_process_killed_mid_round_resumes_from_last_round(
    cluster: Any, tiny_spec: Callable[..., Any], tmp_path: Path, cache_dir: Path
) -> None:
    from orchestrator.tune.runner import run_experiment

    spec = _two_cells(tiny_spec)
    exp = tmp_path / "exp"
    # Both trials' worker processes die (os._exit) after round 1 finished, before it is
    # reported; Tune restarts them from round 0's checkpoint.
    outcome = run_experiment(spec, exp, address=cluster.address, dashboard=False,
                             faults={"raise_at_round": 1, "times": 1, "kind": "exit"},
                             log=lambda _m: None)
    assert outcome.errors == []
    assert len(list((exp / "faults").iterdir())) == 2
    assert sorted(failures_logged(exp).values()) == [1, 1]
    got = rounds_key_table(exp)
    assert [(c, r) for c, r, _ in got] == expected_keys(spec)
    assert got == reference_rows(spec, cache_dir)


@pytest.mark.slow
def test_diverging_loss_fails_its_trial_only_after_retries(
    cluster: Any, tiny_spec: Callable[..., Any], tmp_path: Path
) -> None:
    """One cell's loss 'explodes' (max_loss below any real loss): its trial fails with the
    step in the message, is retried per FailureConfig, and the other cell finishes.

    The spec has one trainer table for the whole grid, so the grid is built here from the
    runner's own trainable and param_space with one cell's trainer changed."""
    import ray
    from ray import tune

    from orchestrator.results.experiment_folder import ExperimentFolder
    from orchestrator.tune.runner import _param_space, _trainable

    spec = _two_cells(tiny_spec, resources={"max_failures": 1})
    cells = [c.to_dict() for c in spec.cells()]
    cells[0]["trainer"]["max_loss"] = 1e-12
    exp = tmp_path / "exp"
    ExperimentFolder.create(exp, spec)
    space = _param_space(spec, exp, Path(spec.cache_dir), None)
    space["cell"] = tune.grid_search(cells)
    ray.init(address=cluster.address, log_to_driver=False)
    try:
        grid = tune.Tuner(
            _trainable(spec), param_space=space,
            run_config=tune.RunConfig(
                name="tune", storage_path=str(exp), verbose=0,
                failure_config=tune.FailureConfig(max_failures=spec.resources.max_failures)),
        ).fit()
    finally:
        ray.shutdown()
    errors = [str(r.error) for r in grid if r.error]
    assert len(errors) == 1
    assert re.search(r"supervised loss became .* at step \d+", errors[0]), errors[0]
    assert sorted(failures_logged(exp).values()) == [2]  # first try + one retry
    done = rounds_key_table(exp)
    healthy = [k for k in expected_keys(spec) if k[0] != spec.cells()[0].cell_id()]
    assert [(c, r) for c, r, _ in done] == healthy
