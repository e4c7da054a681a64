"""flip_consistency, tta_variance and diverse_top over NNM run in a Tune grid, end to end,
with warm-started rounds and a k-center L0: the grid that shows the research acquisitions
and protocol settings work together in real trials."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from tests.helpers.specs import expected_keys
from tests.helpers.store import rounds_key_table

ACQUISITIONS = [
    {"name": "flip_consistency"},
    {"name": "tta_variance", "samples": 2},
    {"name": "diverse_top", "score": {"name": "nnm", "window": 3}, "candidates": 2},
]
LABELS = {
    "flip_consistency",
    "tta_variance(samples=2)",
    "diverse_top(candidates=2,score=nnm(window=3))",
}


def test_research_acquisitions_run_in_a_grid(
    tiny_spec: Callable[..., Any], tmp_path: Path, no_ray_left: None
) -> None:
    from orchestrator.results.readers import read_rounds, read_selections
    from orchestrator.tune.runner import run_experiment

    spec = tiny_spec(acquisitions=ACQUISITIONS, experiment={"l0": "kcenter"},
                     trainer={"augment_level": 3, "init": "warm", "warm_steps": 2})
    exp = tmp_path / "exp"
    outcome = run_experiment(spec, exp, dashboard=False, log=lambda _m: None)
    assert outcome.errors == []
    # Every (cell, round) exactly once in the store.
    assert [(c, r) for c, r, _ in rounds_key_table(exp)] == expected_keys(spec)
    rounds = read_rounds(str(exp))
    # The nested score table reached the trials through Tune's param_space intact.
    assert set(rounds["acq_label"].to_pylist()) == LABELS
    # The protocol settings are in every row; k-center L0 is shared by the seed's cells.
    rows = rounds.to_pylist()
    assert {(r["trainer_init"], r["warm_steps"], r["l0"]) for r in rows} == {("warm", 2,
                                                                              "kcenter")}
    l0s = {tuple(r["labeled_indices"]) for r in rows if r["round"] == 0}
    assert len(l0s) == 1 and len(next(iter(l0s))) == 10
    sel = read_selections(str(exp))
    assert sel.num_rows == 3 * 4  # three cells, (12 - 10) + (14 - 12) picks each
    assert np.all(np.isfinite(sel["score"].to_pylist()))
