"""`fit`'s final_loss is the mean loss of the steps since the last check:
on CUDA the loss is read every 25th step, and a run whose last window is shorter (30
steps: 25, then 5) must divide by the 5 steps it summed, not by 25. Here the CUDA cadence is
patched in at every 4th step, so 6 steps end with a window of 2."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from trainers.datasets.cropset import CropSet, margin_size
from trainers.models import build_model
from trainers.training import supervised
from trainers.training.supervised import TrainerConfig, fit

S = 64


def _crops(n: int = 8) -> CropSet:
    rng = np.random.default_rng(0)
    m = margin_size(S)
    return CropSet(images=rng.integers(0, 256, (n, m, m, 3), dtype=np.uint8),
                   landmarks=rng.uniform(25, 65, (n, 2, 2)).astype(np.float32), input_size=S,
                   flip_perm=np.array([1, 0]), eye_idx=(0, 1),
                   to_original=np.tile(np.eye(2, 3), (n, 1, 1)),
                   names=[f"img{i}" for i in range(n)])


def _fit(steps: int) -> tuple[dict, list[tuple[int, float]]]:
    torch.manual_seed(0)
    model = build_model("scaf", num_landmarks=2, input_size=S, width=0.25)
    reports: list[tuple[int, float]] = []
    stats = fit(model, _crops(), np.arange(8), TrainerConfig(steps=steps, batch_size=4),
                seed=3, device="cpu", progress=lambda step, loss: reports.append((step, loss)))
    return stats, reports


def test_the_last_short_window_is_averaged_over_its_own_steps(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # Every step's loss, read on the CPU's cadence (each step; the run is deterministic).
    _, per_step = _fit(6)
    assert [step for step, _ in per_step] == list(range(1, 7))
    losses = [loss for _, loss in per_step]
    # The same run read as on CUDA, with a window of 4: after step 4 and at the end.
    monkeypatch.setattr(supervised, "checked_every", lambda device: 4)
    stats, windows = _fit(6)
    assert [step for step, _ in windows] == [4, 6]
    assert windows[0][1] == pytest.approx(sum(losses[:4]) / 4, rel=1e-5)
    assert stats["final_loss"] == pytest.approx(sum(losses[4:]) / 2, rel=1e-5)
    assert windows[1][1] == stats["final_loss"]
