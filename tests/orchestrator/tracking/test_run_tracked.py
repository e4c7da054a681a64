"""A spec with `[tracking]` run on Ray Tune: the driver writes the cell's rounds into a real
MLflow server and TensorBoard files as they arrive, and the report at the end; tracking
the finished folder again with `scaf-al track` adds nothing."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from orchestrator.cli.commands import main
from orchestrator.results.readers import read_rounds
from orchestrator.tune.runner import run_experiment
from tests.helpers.tracking import (
    mlflow_artefacts,
    mlflow_history,
    mlflow_run_count,
    mlflow_runs,
    tb_scalars,
)

NAME = "tracked-run"
LABEL = "scaf/random/b14/s0"


def test_run_with_tracking_writes_every_round_once(
        tmp_path: Path, tiny_spec: Callable[..., Any], mlflow_server: Any,
        no_ray_left: None) -> None:
    uri = mlflow_server.uri
    spec = tiny_spec(experiment={"name": NAME},
                     tracking={"mlflow": uri, "tensorboard": True})
    exp = tmp_path / "exp"
    outcome = run_experiment(spec, exp, dashboard=False, log=lambda _m: None)
    assert outcome.errors == []
    # The store is the reference: every round, at step = labeled images.
    rows = read_rounds(str(exp)).sort_by("round")
    want = list(zip(rows["n_labeled"].to_pylist(), rows["nme_test"].to_pylist(), strict=True))
    assert [n for n, _ in want] == [10, 12, 14]

    runs = mlflow_runs(uri, NAME)
    assert set(runs) == {NAME, LABEL}
    assert mlflow_history(uri, runs[LABEL], "nme_test") == want
    assert runs[LABEL].data.tags["cell_id"] == spec.cells()[0].cell_id()
    assert {"spec.toml", "report.html", "report.md", "learning_curves.png"} <= \
        mlflow_artefacts(uri, runs[NAME])
    tb_run = exp / "tensorboard" / NAME / LABEL
    assert tb_scalars(tb_run, "nme_test") == [(n, round(v, 6)) for n, v in want]

    assert main(["track", str(exp)]) == 0  # the spec's [tracking], again: nothing new
    assert mlflow_run_count(uri, NAME) == 2
    assert mlflow_history(uri, mlflow_runs(uri, NAME)[LABEL], "nme_test") == want
    assert tb_scalars(tb_run, "nme_test") == [(n, round(v, 6)) for n, v in want]
