"""The supervised stage: the two-step learning-rate schedule and sub-pixel evaluation."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from tests.helpers.faces import blocky_crops
from trainers.datasets.cropset import CropSet, centre_offset, margin_size
from trainers.models import build_model
from trainers.training.supervised import TrainerConfig, evaluate, fit

S = 64  # network input; heatmaps are S / 2 = 32 pixels wide


def _step_moves(config: TrainerConfig) -> list[dict[str, np.ndarray]]:
    """Per training step, |change| of every head and encoder weight (flattened)."""
    torch.manual_seed(0)
    model = build_model("scaf", num_landmarks=2, input_size=S, width=0.25)
    groups = {"head": model.head_parameters(), "encoder": model.encoder_parameters()}

    def flat(name: str) -> torch.Tensor:
        return torch.cat([p.detach().reshape(-1) for p in groups[name]]).clone()

    before = {name: flat(name) for name in groups}
    moves: list[dict[str, np.ndarray]] = []

    def after_step(_step: int, _loss: float) -> None:  # called after every step on the CPU
        now = {name: flat(name) for name in groups}
        moves.append({name: (now[name] - before[name]).abs().numpy() for name in groups})
        before.update(now)

    fit(model, blocky_crops(), np.arange(6), config, seed=1, device="cpu", progress=after_step)
    return moves


def test_two_step_schedule_trains_the_head_alone_then_the_encoder_joins() -> None:
    """Adam's first step moves every weight by lr * g / (|g| + eps), i.e. by lr for any
    weight with a real gradient: the largest move of a group on its first step is its
    learning rate. Had the frozen steps counted in Adam's state (zero gradients instead of
    none), the encoder's first move would be (0.1 / (1 - 0.9**3)) / sqrt(0.001 / (1 -
    0.999**3)) = 0.64 of its rate, not 1."""
    config = TrainerConfig(steps=4, batch_size=4, schedule="two_step", head_only_steps=2)
    moves = _step_moves(config)
    assert len(moves) == 4
    # Hand-computed effective rates: head 1e-3 from step 1; encoder 0, 0, then 2e-5.
    assert moves[0]["head"].max() == pytest.approx(1e-3, rel=1e-2)
    assert moves[0]["encoder"].max() == 0.0
    assert moves[1]["encoder"].max() == 0.0
    assert moves[2]["encoder"].max() == pytest.approx(2e-5, rel=1e-2)


def test_joint_schedule_trains_the_encoder_from_the_first_step() -> None:
    moves = _step_moves(TrainerConfig(steps=1, batch_size=4))
    assert moves[0]["head"].max() == pytest.approx(1e-3, rel=1e-2)
    assert moves[0]["encoder"].max() == pytest.approx(2e-5, rel=1e-2)


# Sub-pixel decoding. Two landmarks whose true heatmap positions lie between pixels:
TRUE_HM = np.array([[10.3, 20.7], [20.6, 9.2]])  # (x, y) on the 32-pixel heatmap
# The blurred argmax is the nearest pixel, (10, 21) and (21, 9); sub-pixel decoding moves
# each a quarter pixel towards the larger neighbour, which is the one nearer the true peak:
SUBPIXEL_HM = np.array([[10.25, 20.75], [20.75, 9.25]])
ARGMAX_HM = np.array([[10.0, 21.0], [21.0, 9.0]])


def _to_crop(hm_xy: np.ndarray) -> np.ndarray:
    """Heatmap pixel centres -> M-crop frame: x_S = 2 x_hm + 0.5, then the window offset."""
    return 2.0 * hm_xy + 0.5 + centre_offset(S)


class _PeakNetwork(nn.Module):
    """A stand-in network whose heatmaps are Gaussians (sigma 1.5) centred on TRUE_HM,
    whatever the input: it gives evaluate() a heatmap with a known sub-pixel peak."""

    def heatmaps_and_features(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        u = torch.arange(S // 2, dtype=torch.float64)
        centre = torch.as_tensor(TRUE_HM)
        gx = torch.exp(-((u[None] - centre[:, :1]) ** 2) / (2 * 1.5**2))  # (L, W)
        gy = torch.exp(-((u[None] - centre[:, 1:]) ** 2) / (2 * 1.5**2))  # (L, H)
        hm = (gy[:, :, None] * gx[:, None, :]).float()  # (L, H, W)
        return hm.expand(len(x), -1, -1, -1), torch.zeros(len(x), 99)


def test_subpixel_evaluation_lands_between_pixels_and_beats_the_argmax() -> None:
    m = margin_size(S)
    gt = _to_crop(TRUE_HM)  # (34.1, 54.9), (54.7, 31.9)
    data = CropSet(images=np.zeros((1, m, m, 3), np.uint8), landmarks=gt[None].astype(np.float32),
                   input_size=S, flip_perm=np.array([1, 0]), eye_idx=(0, 1),
                   to_original=np.eye(2, 3)[None], names=["peak"])
    sub = evaluate(_PeakNetwork(), data, device="cpu", subpixel=True)
    arg = evaluate(_PeakNetwork(), data, device="cpu", subpixel=False)
    np.testing.assert_allclose(sub["predictions"][0], [[34.0, 55.0], [55.0, 32.0]], atol=1e-5)
    np.testing.assert_allclose(arg["predictions"][0], [[33.5, 55.5], [55.5, 31.5]], atol=1e-5)
    np.testing.assert_allclose(sub["predictions"][0], _to_crop(SUBPIXEL_HM), atol=1e-5)
    np.testing.assert_allclose(arg["predictions"][0], _to_crop(ARGMAX_HM), atol=1e-5)
    # NME by hand: mean point error over the eye distance |(54.7, 31.9) - (34.1, 54.9)|.
    eyes = np.hypot(20.6, 23.0)
    sub_nme = (np.hypot(0.1, 0.1) + np.hypot(0.3, 0.1)) / 2 / eyes
    arg_nme = (np.hypot(0.6, 0.6) + np.hypot(0.8, 0.4)) / 2 / eyes
    assert sub["nme"] == pytest.approx(sub_nme, rel=1e-4)
    assert arg["nme"] == pytest.approx(arg_nme, rel=1e-4)
    assert sub["nme"] < arg["nme"] / 3
