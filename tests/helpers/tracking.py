"""Reading trackers back with their own clients: MLflow's MlflowClient and TensorBoard's
EventAccumulator."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def mlflow_runs(uri: str, experiment: str) -> dict[str, Any]:
    """{run name: run} of an MLflow experiment (every run, however many share a name:
    a duplicate shows as a name missing from the dict's count, see `mlflow_run_count`)."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    exp = client.get_experiment_by_name(experiment)
    return {} if exp is None else {r.info.run_name: r for r in
                                   client.search_runs([exp.experiment_id], max_results=1000)}


def mlflow_run_count(uri: str, experiment: str) -> int:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    exp = client.get_experiment_by_name(experiment)
    return 0 if exp is None else len(client.search_runs([exp.experiment_id], max_results=1000))


def mlflow_history(uri: str, run: Any, key: str) -> list[tuple[int, float]]:
    """(step, value) of every point of a metric, in step order (duplicates kept)."""
    from mlflow.tracking import MlflowClient

    history = MlflowClient(uri).get_metric_history(run.info.run_id, key)
    return sorted((int(m.step), float(m.value)) for m in history)


def mlflow_artefacts(uri: str, run: Any) -> set[str]:
    from mlflow.tracking import MlflowClient

    return {a.path for a in MlflowClient(uri).list_artifacts(run.info.run_id)}


def tb_scalars(run_dir: Path, key: str) -> list[tuple[int, float]]:
    """(step, value) of every point of a scalar in a TensorBoard run folder (duplicates
    kept), read with TensorBoard's EventAccumulator."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    if not run_dir.is_dir():
        return []
    acc = EventAccumulator(str(run_dir), size_guidance={"scalars": 0})
    acc.Reload()
    if key not in acc.Tags()["scalars"]:
        return []
    return sorted((e.step, round(e.value, 6)) for e in acc.Scalars(key))


def tb_tags(run_dir: Path) -> dict[str, list[str]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(run_dir), size_guidance={"tensors": 0, "images": 0})
    acc.Reload()
    return acc.Tags()


def wait_until(condition: Callable[[], bool], timeout: float = 60.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)
