"""The GPU code path (bf16 autocast + channels_last) run on the CPU via `cpu_fast_path()`.

Tolerances. bf16 keeps 8 significant bits, so each rounding has a relative error of at
most u = 2**-8 = 0.0039. Under autocast every convolution rounds its input and weights to
bf16 and accumulates in fp32; the roundings are independent and unbiased, so over the
~25 layers between image and heatmap (encoder, generator stem, head) the relative error
of an output grows like u * sqrt(2 * 25) = 0.028: we allow 3 % (relative, in norm), and
the same for losses, which are smooth functions of those outputs. channels_last alone
only reorders fp32 sums (u = 2**-24 per rounding), so it must agree to 1e-5.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from trainers.datasets.cropset import CropSet, margin_size
from trainers.models import build_model
from trainers.training.device import autocast_context, cpu_fast_path, prepare_model, uses_fast_path
from trainers.training.pretrain import PretrainConfig, pretrain_autoencoder
from trainers.training.supervised import TrainerConfig, fit, predict

S = 64
CPU = torch.device("cpu")
BF16_RTOL = 0.03
LAYOUT_RTOL = 1e-5


def _crops(n: int = 8) -> CropSet:
    m = margin_size(S)
    rng = np.random.default_rng(0)
    blocks = rng.integers(0, 256, (n, m // 8 + 1, m // 8 + 1, 3), dtype=np.uint8)
    images = np.repeat(np.repeat(blocks, 8, axis=1), 8, axis=2)[:, :m, :m]
    return CropSet(images=np.ascontiguousarray(images),
                   landmarks=rng.uniform(25, 65, (n, 2, 2)).astype(np.float32), input_size=S,
                   flip_perm=np.array([1, 0]), eye_idx=(0, 1),
                   to_original=np.tile(np.eye(2, 3), (n, 1, 1)),
                   names=[f"img{i}" for i in range(n)])


def _model() -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model("scaf", num_landmarks=2, input_size=S, width=0.25)


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm())


def test_the_cpu_stays_exact_unless_asked_and_only_inside_the_block() -> None:
    a, b = torch.ones(4, 4), torch.ones(4, 4)
    with autocast_context(CPU, True):
        assert (a @ b).dtype == torch.float32  # default: the config's amp is ignored on the CPU
    assert not prepare_model(_model(), CPU).Q.conv1.weight.is_contiguous(
        memory_format=torch.channels_last)
    with cpu_fast_path():
        assert uses_fast_path(CPU)
        with autocast_context(CPU, True):
            assert (a @ b).dtype == torch.bfloat16
        with autocast_context(CPU, False):
            assert (a @ b).dtype == torch.float32
        assert prepare_model(_model(), CPU).Q.conv1.weight.is_contiguous(
            memory_format=torch.channels_last)
    assert not uses_fast_path(CPU)


def _predict(amp: bool, fast: bool) -> dict:
    with cpu_fast_path(fast):
        return next(predict(_model(), _crops(), batch_size=8, device="cpu", amp=amp))


def test_prediction_on_the_fast_path_is_close_to_fp32() -> None:
    exact = _predict(amp=False, fast=False)
    layout = _predict(amp=False, fast=True)
    bf16 = _predict(amp=True, fast=True)
    for key in ("heatmaps", "features"):
        assert _rel(layout[key], exact[key]) < LAYOUT_RTOL
        assert torch.isfinite(bf16[key]).all()
        assert not torch.equal(bf16[key], exact[key])  # bf16 really ran
        assert _rel(bf16[key], exact[key]) < BF16_RTOL


def _fit_losses(fast: bool) -> list[float]:
    losses: list[float] = []
    config = TrainerConfig(steps=3, batch_size=4, augment_level=2)
    with cpu_fast_path(fast):
        fit(_model(), _crops(), np.arange(8), config, seed=1, device="cpu",
            progress=lambda _step, loss: losses.append(loss))
    return losses


def test_training_on_the_fast_path_is_close_to_fp32() -> None:
    exact, fast = _fit_losses(False), _fit_losses(True)
    assert len(fast) == 3 and all(np.isfinite(fast))
    assert fast != exact
    np.testing.assert_allclose(fast, exact, rtol=BF16_RTOL)


def _pretrain_losses(fast: bool, out: Path) -> list[dict]:
    reports: list[dict] = []
    config = PretrainConfig(input_size=S, width=0.25, steps=2, batch_size=4, device="cpu",
                            log_every=1, w_ssim=60.0, mixed_precision=True)
    with cpu_fast_path(fast):
        pretrain_autoencoder(_crops(), config, out, progress=reports.append, resume=False)
    return [{k: v for k, v in r.items() if k.startswith("loss")} for r in reports]


def test_pretraining_on_the_fast_path_is_close_to_fp32(tmp_path: Path) -> None:
    exact = _pretrain_losses(False, tmp_path / "exact.pt")
    fast = _pretrain_losses(True, tmp_path / "fast.pt")
    assert len(fast) == 2 and fast != exact
    for e, f in zip(exact, fast, strict=True):
        assert f.keys() == e.keys() and all(np.isfinite(list(f.values())))
        for key in e:
            assert f[key] == pytest.approx(e[key], rel=BF16_RTOL), key
