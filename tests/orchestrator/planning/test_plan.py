"""`scaf-al plan` counts: the quickstart's known figures, a hand-counted grid, unknown sizes,
and one check against what the loop really trains."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from orchestrator.planning.grid_plan import COUNT_KEYS, plan_grid, plan_json, plan_text
from orchestrator.spec.experiment import load_spec, parse_spec


def test_quickstart_counts() -> None:
    plan = plan_grid(load_spec("quickstart"))
    got = plan_json(plan)
    # 1 architecture x 1 budget (10, 20, 30, 40) x 3 acquisitions x 3 seeds = 9 cells of 4
    # rounds; round 0 trained once per seed: 36 - 9 + 3 = 30 trainings.
    # Round 0: 3 trainings x 300 steps x 16 images; the 27 later rounds warm-start for 60
    # steps: 27 x 60 x 16.
    # nnm and nnm(discard_top) stream the unlabeled pool after rounds 0..2:
    # (400 - 10) + (400 - 20) + (400 - 30) = 1140 per cell, 6 such cells; random none.
    assert got == {
        "cells": 9, "trial_rounds": 36, "trainings": 30,
        "training_images": 3 * 300 * 16 + 27 * 60 * 16, "scored_images": 6 * 1140,
        "eval_images": 36 * 150, "per_config": [],
    }
    text = plan_text(plan)
    assert "trial_rounds" in text and "36" in text and "30" in text


def test_hand_counted_grid(tiny_spec: Callable[..., Any]) -> None:
    spec = tiny_spec(
        experiment={"seeds": [0, 1], "architectures": ["scaf", "3fabrec"]},
        budgets=[{"sizes": [10, 12, 14]}, {"sizes": [10, 15]}, {"sizes": [5, 9]},
                 {"sizes": [8]}],
        acquisitions=[{"name": "random"}, {"name": "nnm"}, {"name": "kcenter_greedy"}],
    )
    # Per (architecture, seed): 3 + 3 + 3 acquisitions on the multi-round budgets, the
    # one-round budget once: 10 cells, 3*3 + 3*2 + 3*2 + 1 = 22 trial-rounds; round-0 keys
    # by L0 size 10 (shared by two budgets), 5 and 8: 3 trainings for 10 cells' round 0.
    per_pair = {"cells": 10, "trial_rounds": 22, "trainings": 22 - 10 + 3}
    # Pool 40: nnm streams the unlabeled part (40-10 + 40-12) + (40-10) + (40-5) = 123;
    # k-center streams the whole pool once per non-final round: 40 * (2 + 1 + 1) = 160.
    scored_pair = 123 + 160
    got = plan_json(plan_grid(spec))
    assert got == {
        "cells": 4 * per_pair["cells"], "trial_rounds": 4 * 22, "trainings": 4 * 15,
        "training_images": 4 * 15 * 3 * 4, "scored_images": 4 * scored_pair,
        "eval_images": 4 * 22 * 12, "per_config": [],
    }
    by_arch = plan_grid(spec).by_config
    assert sorted(k[0] for k in by_arch) == ["3fabrec", "scaf"]
    assert all(c.trainings == 30 for c in by_arch.values())


def test_pool_size_caps_the_streamed_pool(tiny_spec: Callable[..., Any]) -> None:
    spec = tiny_spec(data={"pool_size": 30}, acquisitions=[{"name": "nnm"}])
    # Budget (10, 12, 14): unlabeled (30 - 10) + (30 - 12) after rounds 0 and 1.
    assert plan_json(plan_grid(spec))["scored_images"] == 20 + 18


def _with_data(spec_doc: Callable[..., dict[str, Any]], data: dict[str, Any],
               **over: Any) -> Any:
    """The tiny spec with its whole data table replaced."""
    doc = spec_doc(**over)
    doc["data"] = data
    return parse_spec(doc, "test-spec")


def test_official_300w_sizes_and_derived_full_split(
    spec_doc: Callable[..., dict[str, Any]]
) -> None:
    spec = _with_data(spec_doc, {"name": "300w", "root": "/nonexistent/300W",
                                 "test_splits": ["common", "challenging", "full"]},
                      budgets=[{"sizes": [10, 20]}], acquisitions=[{"name": "nnm"}])
    got = plan_json(plan_grid(spec))
    # "full" is common + challenging's errors, not a third pass: 554 + 135 per round.
    assert got["eval_images"] == 2 * (554 + 135)
    assert got["scored_images"] == 3148 - 10


def test_unknown_folder_sizes_are_said_not_guessed(
    spec_doc: Callable[..., dict[str, Any]]
) -> None:
    spec = _with_data(spec_doc, {"name": "folder", "root": "/nonexistent/faces"},
                      acquisitions=[{"name": "random"}, {"name": "nnm"}])
    plan = plan_grid(spec)
    got = plan_json(plan)
    assert got["scored_images"] is None and got["eval_images"] is None
    assert got["trainings"] == 2 * 3 - 2 + 1
    text = plan_text(plan)
    assert "unknown" in text and "eval_images" in text


def test_json_has_exactly_the_count_keys_without_probe() -> None:
    got = plan_json(plan_grid(load_spec("quickstart")))
    assert list(got) == [*COUNT_KEYS, "per_config"]


def test_trainings_match_what_the_loop_trains(
    tiny_spec: Callable[..., Any], tmp_path: Path
) -> None:
    """Run every cell with a fresh cache and count the rounds that really trained."""
    import torch

    from trainers.loop.cell_loop import run_cell

    # Two budgets with the same L0 and two acquisitions: 4 cells of 2 rounds, one round-0
    # training for all of them (the cache key has neither acquisition nor budget).
    spec = tiny_spec(data={"options": {"n_pool": 14, "n_test": 2}},
                     model={"pretrain": {"steps": 1, "batch_size": 2}},
                     budgets=[{"sizes": [10, 11]}, {"sizes": [10, 12]}],
                     acquisitions=[{"name": "random"}, {"name": "nnm"}],
                     trainer={"steps": 1, "batch_size": 2})
    trained: list[bool] = []
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: more threads only add contention
    try:
        for cell in spec.cells():
            run_cell(cell, cache_dir=tmp_path, device="cpu",
                     report=lambda r, _s: trained.append(not r.reused_round0))
    finally:
        torch.set_num_threads(threads)
    plan = plan_json(plan_grid(spec))
    assert plan["trial_rounds"] == len(trained) == 8
    assert plan["trainings"] == sum(trained) == 5


def test_warm_rounds_count_their_own_steps(tiny_spec: Callable[..., Any]) -> None:
    # One cell, sizes 10 -> 12 -> 14, batch 4: round 0 trains `steps` = 3, the two
    # warm-started rounds `warm_steps` = 1 each: 3 * 4 + 2 * 1 * 4 = 20 images.
    spec = tiny_spec(trainer={"steps": 3, "batch_size": 4, "init": "warm", "warm_steps": 1})
    t = plan_grid(spec).totals
    assert (t.cells, t.trial_rounds, t.trainings, t.training_images) == (1, 3, 3, 20)
