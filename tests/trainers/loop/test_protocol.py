"""Protocol settings: the remainder of a final/step budget, warm-started rounds, a k-center
L0; each recorded in the cell (and, at its default, left out of the cell id)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.helpers.cells import make_cell
from tests.helpers.runs import collect
from trainers.config.cell import BudgetSchedule, CellConfig
from trainers.config.typed import ConfigError
from trainers.loop.warm_start import WarmStarts, latent_features
from trainers.training.supervised import TrainerConfig


def test_remainder_round_or_merge() -> None:
    # The paper's 300-W budgets: K = 60 for 315, K = 30 for 158, K = 10 for 50.
    assert BudgetSchedule.from_final(315, 60).sizes == (10, 70, 130, 190, 250, 310, 315)
    assert BudgetSchedule.from_final(315, 60, remainder="merge").sizes == (
        10, 70, 130, 190, 250, 315)
    assert BudgetSchedule.from_final(158, 30, remainder="merge").sizes == (10, 40, 70, 100, 158)
    # No remainder: both readings agree.
    assert BudgetSchedule.from_final(50, 10, remainder="merge").sizes == (10, 20, 30, 40, 50)
    # A single step that overshoots: one acquisition of what is left.
    assert BudgetSchedule.from_final(15, 10, remainder="merge").sizes == (10, 15)
    with pytest.raises(ConfigError, match="remainder"):
        BudgetSchedule((10, 20), remainder="split")


def test_protocol_defaults_keep_the_cell_id() -> None:
    cell = make_cell("nnm", 5, sizes=(10, 13, 16), runnable=True)
    d = cell.to_dict()
    assert "l0" not in d and "init" not in d["trainer"] and "remainder" not in d["budget"]
    warm = dataclasses.replace(cell, trainer=TrainerConfig(steps=2, batch_size=4, init="warm"))
    assert warm.to_dict()["trainer"]["init"] == "warm" and warm.cell_id() != cell.cell_id()
    assert CellConfig.from_dict(warm.to_dict()) == warm
    with pytest.raises(ConfigError, match="warm_steps"):
        TrainerConfig(warm_steps=5)  # only with init = "warm"
    with pytest.raises(ConfigError, match="l0"):
        dataclasses.replace(cell, l0="farthest")


def test_warm_rounds_start_from_the_previous_round(tmp_path: Path) -> None:
    # Learning rates so small that training cannot move a weight (Adam's step is about the
    # learning rate): a warm-started round then ends with the weights it started from,
    # round 0's. Batch-norm statistics (buffers, not weights) still follow the batches.
    frozen = TrainerConfig(steps=2, batch_size=4, lr_head=1e-30, lr_encoder=1e-30,
                           init="warm", warm_steps=1)
    cell = make_cell("random", 5, sizes=(10, 13, 16), runnable=True)
    cell = dataclasses.replace(cell, trainer=frozen)
    results, _ = collect(cell, tmp_path)
    assert [r.n_labeled for r in results] == [10, 13, 16]
    store = WarmStarts(tmp_path, cell.cell_id())
    r0 = torch.load(store.path(0), weights_only=True)
    r1 = torch.load(store.path(1), weights_only=True)
    assert not store.path(2).exists()  # the last round has no successor
    assert r0.keys() == r1.keys()
    weights = [k for k in r0 if not k.rsplit(".", 1)[-1].startswith(("running_", "num_batches"))]
    assert len(weights) > 50
    assert all(torch.allclose(r0[k].float(), r1[k].float(), atol=1e-6) for k in weights)
    # A scratch round 1 would have a freshly initialised head, far from round 0's.
    head = [k for k in r0 if k.startswith("LMH.")]
    assert head and any(r0[k].abs().sum() > 0 for k in head)


def test_kcenter_l0_is_the_greedy_farthest_first_traversal(tmp_path: Path) -> None:
    cell = make_cell("random", 5, sizes=(10, 13, 16), runnable=True)
    cell = dataclasses.replace(cell, l0="kcenter", budget=BudgetSchedule((10,)))
    results, _ = collect(cell, tmp_path)
    l0 = results[0].labeled
    assert len(set(l0)) == 10
    # Independent check on the same latent codes: after the first (seeded) pick, each pick
    # is the pool image farthest from its nearest earlier pick.
    from trainers.caches.autoencoder import ensure_autoencoder
    from trainers.loop.cell_loop import _fresh_model
    from trainers.loop.data_loading import load_data

    pool, _ = load_data(cell.data, cell.model.input_size, tmp_path)
    model = _fresh_model(cell, pool.num_landmarks, ensure_autoencoder(cell, pool, tmp_path))
    z = latent_features(model, pool, batch_size=64, device="cpu").astype(np.float64)
    for i in range(1, 10):
        d = np.linalg.norm(z[:, None, :] - z[None, l0[:i], :], axis=2).min(axis=1)
        d[l0[:i]] = -1
        assert l0[i] == int(np.argmax(d))
    random_l0 = collect(dataclasses.replace(cell, l0="random"), tmp_path)[0][0].labeled
    assert random_l0 != l0
