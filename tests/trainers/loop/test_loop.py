"""The plain active-learning loop: budget schedule, resume from a state, determinism."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.helpers.cells import make_cell
from tests.helpers.runs import collect
from trainers.config.cell import (
    BudgetSchedule,
    DataConfig,
)
from trainers.loop.cell_loop import LoopState, derived_splits, initial_state


def test_budget_schedule_from_final_and_step() -> None:
    assert BudgetSchedule.from_final(50, 10).sizes == (10, 20, 30, 40, 50)
    assert BudgetSchedule.from_final(315, 60).sizes == (10, 70, 130, 190, 250, 310, 315)
    with pytest.raises(ValueError, match="increasing"):
        BudgetSchedule((10, 10))


def test_l0_depends_on_seed_only() -> None:
    a = initial_state(make_cell("nnm", 5, {"window": 3}, sizes=(10, 13, 16), runnable=True), 30)
    b = initial_state(make_cell("random", 5, sizes=(10, 13, 16), runnable=True), 30)
    assert a.labeled == b.labeled and len(set(a.labeled)) == 10
    with pytest.raises(ValueError, match="larger than the pool"):
        initial_state(make_cell("nnm", 5, sizes=(10, 13, 16), runnable=True), 12)


def test_resume_from_a_state_equals_an_uninterrupted_run(tmp_path: Path) -> None:
    cell = make_cell("nnm", 5, {"window": 3}, sizes=(10, 13, 16), runnable=True)
    full, _ = collect(cell, tmp_path)
    assert [r.n_labeled for r in full] == [10, 13, 16]
    assert [len(r.selected) for r in full] == [3, 3, 0]
    part, states = collect(cell, tmp_path, stop_after=0)
    assert len(part) == 1
    state = LoopState.from_json(states[0].to_json())
    rest, _ = collect(cell, tmp_path, state=state)
    assert [r.round for r in rest] == [1, 2]
    for a, b in zip(full[1:], rest, strict=True):
        assert a.selected == b.selected
        assert a.labeled == b.labeled
        assert a.metrics == b.metrics
    np.testing.assert_allclose(full[1].selected_scores, rest[0].selected_scores)


def test_round_zero_is_shared_between_acquisitions(tmp_path: Path) -> None:
    a, _ = collect(make_cell("random", 5, sizes=(10, 13, 16), runnable=True), tmp_path,
                   stop_after=0)
    b, _ = collect(make_cell("nnm", 5, {"window": 3}, sizes=(10, 13, 16), runnable=True),
                   tmp_path, stop_after=0)
    assert not a[0].reused_round0 and b[0].reused_round0
    assert a[0].metrics == b[0].metrics


# Written after round 0 by the loop before `added_round` was dropped (a runnable "nnm" cell,
# seed 5, budget (10, 13, 16)).
OLD_CHECKPOINT = (
    '{"round": 1, "labeled": [10, 28, 5, 22, 11, 8, 18, 17, 12, 4, 19, 26, 29], '
    '"added_round": [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1], "rng_state": {"bit_generator": '
    '"PCG64", "state": {"state": 18691754517134250233009316338413546791, "inc": '
    '239303347980282849582107511918239434959}, "has_uint32": 1, "uinteger": 953189215}}'
)


def test_checkpoints_of_the_older_format_still_resume() -> None:
    state = LoopState.from_json(OLD_CHECKPOINT)
    assert state.round == 1
    assert state.labeled == [10, 28, 5, 22, 11, 8, 18, 17, 12, 4, 19, 26, 29]
    cell = make_cell("nnm", 5, sizes=(10, 13, 16), runnable=True)
    assert state.labeled[:10] == initial_state(cell, 30).labeled  # L0 of seed 5
    assert state.rng().bit_generator.state["state"]["state"] == (
        18691754517134250233009316338413546791
    )
    assert "added_round" not in json.loads(state.to_json())
    assert LoopState.from_json(state.to_json()) == state


def test_300w_full_pools_the_per_image_errors_of_common_and_challenging() -> None:
    errors = {"common": np.array([0.1, 0.2, 0.3]), "challenging": np.array([0.5, 0.7])}
    full = derived_splits(DataConfig(name="300w", root="unused"), errors)["full"]
    assert full["nme"] == pytest.approx(1.8 / 5)  # not (0.2 + 0.6) / 2 = 0.4
    assert full["fr"] == pytest.approx(4 / 5)  # errors strictly above 0.10
    assert full["n"] == 5
    assert derived_splits(DataConfig(), {"test": np.array([0.1])}) == {}
