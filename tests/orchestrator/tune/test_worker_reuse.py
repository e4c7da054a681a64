"""Tune reuses worker processes for our function trainable (`reuse_actors=True` in Ray
2.60 goes through `FunctionTrainable.reset_config`), and a reused worker finds the data it
loaded for an earlier trial in the `trainers.loop.data_loading` memo."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.specs import expected_keys
from tests.helpers.store import rounds_key_table

pytestmark = pytest.mark.usefixtures("no_ray_left")


def traced_trial(config: dict[str, Any]) -> None:
    """The real trial, with a note of its worker process and of the data memo's size
    before and after (a file name: `<pid>-<seed>-<before>-<after>`)."""
    from orchestrator.tune.trainable import run_trial
    from trainers.loop.data_loading import _MEMO

    before = len(_MEMO)
    run_trial(config)
    trace = Path(config["experiment_dir"]) / "trace"
    trace.mkdir(exist_ok=True)
    (trace / f"{os.getpid()}-{config['cell']['seed']}-{before}-{len(_MEMO)}").touch()


def test_trials_run_in_reused_workers_that_hit_the_data_memo(
    tiny_spec: Callable[..., Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ray import tune

    import orchestrator.tune.runner as runner
    from benchmarks.orchestration import worker_pids

    spec = tiny_spec(experiment={"seeds": [0, 1, 2, 3]}, trainer={"steps": 1},
                     budgets=[{"sizes": [10, 12]}],
                     resources={"max_concurrent_trials": 1, "num_cpus": 1})
    # The real trial, wrapped so it leaves its notes (any signature of `_trainable`).
    monkeypatch.setattr(runner, "_trainable", lambda *_a, **_k: tune.with_resources(
        traced_trial, {"cpu": 1, "gpu": 0}))
    exp = tmp_path / "exp"
    outcome = runner.run_experiment(spec, exp, dashboard=False, log=lambda _m: None)
    assert outcome.errors == [] and outcome.trials == 4
    assert [(c, r) for c, r, _ in rounds_key_table(exp)] == expected_keys(spec)
    notes = sorted((exp / "trace").iterdir(), key=lambda p: p.stat().st_mtime_ns)
    runs = [tuple(int(x) for x in p.name.split("-")) for p in notes]
    assert len(runs) == 4
    pids = [pid for pid, *_ in runs]
    # Tune's own record of the reporting process agrees with the trials' notes.
    assert sorted(worker_pids(exp).values()) == sorted(pids)
    assert len(set(pids)) < len(pids)  # at least one worker ran more than one trial
    seen: set[int] = set()
    for pid, _seed, before, after in runs:
        if pid in seen:
            assert before >= 1 and after == before  # loaded before: a memo hit, no reload
        else:
            assert before == 0 and after == 1  # a fresh worker loads the data once
        seen.add(pid)
