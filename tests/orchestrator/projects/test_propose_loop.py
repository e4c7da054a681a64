"""A simulated annotation loop equals a grid cell: three `propose` rounds on a folder of
unlabeled faces (annotations copied in from held-back ground truth between rounds) pick
exactly the images a grid cell picks on the same images as a `folder` data set, with the
same seed, acquisition and L0 (random cold start = the grid's L0 draw)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from orchestrator.projects.propose import propose
from tests.helpers.propose_faces import (
    FACE_BOX,
    annotate,
    tiny_spec,
    write_boxes,
    write_faces,
)
from trainers.config.cell import (
    AcquisitionConfig,
    BudgetSchedule,
    CellConfig,
    DataConfig,
    ModelSettings,
)
from trainers.loop.cell_loop import run_cell
from trainers.training.supervised import TrainerConfig

SEED = 3
SIZES = (10, 14, 18)
NNM = {"window": 7, "discard_top": 0.1}


@pytest.fixture
def one_thread():
    """CPU results are bit-reproducible only with a fixed thread count."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _grid_folder(root: Path, images: Path, truth: dict[str, np.ndarray],
                 test: dict[str, np.ndarray], test_images: Path) -> Path:
    """The same images as a `folder` data set: a JSON file with the ground truth (1-based,
    the very decimals of the .pts files) and the same face boxes, split train / test."""
    def record(folder: Path, name: str, lms: np.ndarray, split: str) -> dict:
        one_based = [[float(f"{x + 1:.3f}"), float(f"{y + 1:.3f}")] for x, y in lms]
        return {"image": str(folder / name), "landmarks": one_based,
                "box": [v + 1 for v in FACE_BOX], "split": split}

    faces = [record(images, n, truth[n], "train") for n in sorted(truth)]
    faces += [record(test_images, n, test[n], "test") for n in sorted(test)]
    root.mkdir()
    (root / "faces.json").write_text(json.dumps(faces))
    return root


def test_three_propose_rounds_pick_what_a_grid_cell_picks(tmp_path: Path, one_thread,
                                                         propose_autoencoder: Path) -> None:
    images, held_back = tmp_path / "images", tmp_path / "truth"
    truth = write_faces(images, held_back, 24)
    test = write_faces(tmp_path / "test-images", tmp_path / "test-truth", 3, start=100)
    ae = propose_autoencoder
    boxes = write_boxes(tmp_path / "boxes.csv", sorted(truth))
    cache = tmp_path / "cache"

    grid_root = _grid_folder(tmp_path / "grid", images, truth, test, tmp_path / "test-images")
    cell = CellConfig(
        arch="scaf",
        data=DataConfig("folder", root=str(grid_root), train_split="train",
                        test_splits=("test",),
                        options={"annotations": "faces.json", "one_based": True}),
        model=ModelSettings(64, 0.25, pretrained=str(ae)),
        trainer=TrainerConfig(steps=3, batch_size=4),
        acquisition=AcquisitionConfig("nnm", NNM), budget=BudgetSchedule(SIZES), seed=SEED)
    grid = []
    run_cell(cell, cache_dir=cache, device="cpu", report=lambda r, _s: grid.append(r))
    names = sorted(truth)
    grid_l0 = [names[i] for i in grid[0].labeled]
    grid_picks = [[names[i] for i in r.selected] for r in grid[:2]]

    spec = tiny_spec(tmp_path / "spec.toml", cache, model={"pretrained": str(ae)},
                     budgets=[{"sizes": list(SIZES)}])
    project = tmp_path / "project"
    round0 = propose(project, images, SIZES[0], spec=spec, boxes=boxes, cold_start="random")
    assert round0.record.kind == "cold-start-random"
    assert round0.record.proposed == [f"{name}#1" for name in grid_l0]  # face 1 of each
    annotate(images, held_back, [p.removesuffix("#1") for p in round0.record.proposed])
    for r, k in ((1, SIZES[1] - SIZES[0]), (2, SIZES[2] - SIZES[1])):
        out = propose(project, images, k, boxes=boxes)
        assert out.record.kind == "trained"
        assert out.record.loop_round == r - 1
        assert out.record.proposed == [f"{n}#1" for n in grid_picks[r - 1]], f"round {r}"
        # The same scores too: the same model scored the same crops.
        np.testing.assert_array_equal(out.proposal.scores, grid[r - 1].selected_scores)
        annotate(images, held_back, [p.removesuffix("#1") for p in out.record.proposed])
    assert (project / "round-002" / "model.pt").is_file()
