"""Unsupervised auto-encoder stage: learns, resumes exactly, writes a loadable checkpoint."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from trainers.datasets.cropset import CropSet, margin_size
from trainers.models import build_model, load_model, load_pretrained, read_checkpoint
from trainers.training.pretrain import (
    PretrainConfig,
    pretrain_autoencoder,
    ssim_window,
    structural_loss,
)

S = 64


def _crops(n: int = 8, size: int = S, seed: int = 0) -> CropSet:
    """Random blocky RGB crops (structure an auto-encoder can learn within a few steps)."""
    m = margin_size(size)
    rng = np.random.default_rng(seed)
    blocks = rng.integers(0, 256, (n, m // 8 + 1, m // 8 + 1, 3), dtype=np.uint8)
    images = np.repeat(np.repeat(blocks, 8, axis=1), 8, axis=2)[:, :m, :m]
    return CropSet(images=np.ascontiguousarray(images),
                   landmarks=np.zeros((n, 2, 2), np.float32), input_size=size,
                   flip_perm=np.array([1, 0]), eye_idx=(0, 1),
                   to_original=np.zeros((n, 2, 3)), names=[f"img{i}" for i in range(n)])


def _config(**kw) -> PretrainConfig:
    base = dict(input_size=S, width=0.25, steps=8, batch_size=4, device="cpu", log_every=1)
    return PretrainConfig(**(base | kw))


@pytest.fixture(autouse=True)
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def test_reconstruction_loss_goes_down(tmp_path):
    reports: list[dict] = []
    cfg = _config(steps=30, batch_size=8, lr=1e-3, augmentation=0, log_every=5)
    pretrain_autoencoder(_crops(), cfg, tmp_path / "ae.pt", progress=reports.append)
    assert [r["step"] for r in reports] == [5, 10, 15, 20, 25, 30]
    assert reports[-1]["loss_rec"] < 0.85 * reports[0]["loss_rec"]
    assert {"loss", "loss_latent_adv", "loss_latent_disc", "loss_image_adv",
            "loss_image_disc", "z_mean", "z_std", "images_per_s"} <= reports[0].keys()
    assert "loss_ssim" not in reports[0]  # off by default


class _Interrupt(Exception):
    pass


def test_interrupted_run_resumes_to_identical_weights(tmp_path):
    crops = _crops()
    cfg = _config(checkpoint_every=3, w_ssim=2.0)
    rng_before = torch.get_rng_state()

    def stop_at_5(report: dict) -> None:
        if report["step"] == 5:
            raise _Interrupt

    part = tmp_path / "part.pt"
    with pytest.raises(_Interrupt):
        pretrain_autoencoder(crops, cfg, part, progress=stop_at_5)
    assert read_checkpoint(part).extra["step"] == 3  # the last checkpoint before the stop
    steps_seen: list[int] = []
    pretrain_autoencoder(crops, cfg, part, progress=lambda r: steps_seen.append(r["step"]))
    assert steps_seen == [4, 5, 6, 7, 8]

    full = pretrain_autoencoder(crops, cfg, tmp_path / "full.pt")
    a, b = read_checkpoint(part), read_checkpoint(full)
    assert a.extra["step"] == b.extra["step"] == 8
    assert a.state_dict.keys() == b.state_dict.keys()
    for k in a.state_dict:
        assert torch.equal(a.state_dict[k], b.state_dict[k]), k
    assert torch.equal(a.extra["optimizers"]["Q"]["state"][0]["exp_avg"],
                       b.extra["optimizers"]["Q"]["state"][0]["exp_avg"])
    assert torch.equal(torch.get_rng_state(), rng_before)  # the caller's RNG is untouched


def test_finished_run_is_not_repeated_and_resume_false_restarts(tmp_path):
    crops = _crops()
    path = pretrain_autoencoder(crops, _config(steps=2), tmp_path / "ae.pt")
    before = read_checkpoint(path).state_dict["Q.fc.weight"].clone()
    calls: list[dict] = []
    pretrain_autoencoder(crops, _config(steps=2), path, progress=calls.append)
    assert calls == []  # already done
    assert torch.equal(read_checkpoint(path).state_dict["Q.fc.weight"], before)
    pretrain_autoencoder(crops, _config(steps=1, seed=5), path, resume=False)
    assert read_checkpoint(path).extra["step"] == 1


def test_checkpoint_feeds_the_supervised_models(tmp_path):
    path = pretrain_autoencoder(_crops(), _config(steps=2), tmp_path / "ae.pt")
    scaf = build_model("scaf", num_landmarks=2, input_size=S, width=0.25)
    report = load_pretrained(scaf, path)
    assert report.loaded == ["Q", "P"] and "LMH" in report.fresh
    assert {k.split(".")[0] for k in report.set_aside} == {"D_z", "D"}
    ae = load_model(path)
    assert ae.config.num_landmarks == 0 and ae.has_discriminators
    assert torch.equal(ae.Q.fc.weight, scaf.Q.fc.weight)


def test_resume_refuses_a_different_model_shape(tmp_path):
    path = pretrain_autoencoder(_crops(), _config(steps=1), tmp_path / "ae.pt")
    with pytest.raises(ValueError, match=r"width 0.25.*width 0.5"):
        pretrain_autoencoder(_crops(), _config(width=0.5), path)


def test_inputs_and_config_are_validated():
    with pytest.raises(ValueError, match="input_size 64.*input_size is 128"):
        pretrain_autoencoder(_crops(size=64), _config(input_size=128), "unused.pt")
    for bad in (dict(steps=0), dict(lr=0.0), dict(w_ssim=-1.0), dict(betas=(0.9,)),
                dict(augmentation=9), dict(input_size=48)):
        with pytest.raises(ValueError, match=next(iter(bad))):
            _config(**bad)
    cfg = PretrainConfig.from_dict(_config(betas=[0.5, 0.9]).to_dict())
    assert cfg.betas == (0.5, 0.9) and cfg == _config(betas=(0.5, 0.9))
    with pytest.raises(ValueError, match=r"pretrain_config\.epochs: unknown key; allowed: steps"):
        PretrainConfig.from_dict({"epochs": 3})


def test_structural_loss_known_answers():
    assert ssim_window(256) == 31 and ssim_window(64) == 9
    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, 32, 32, generator=g)
    assert structural_loss(x, x, 9).abs() < 1e-5
    noise = torch.rand(2, 3, 32, 32, generator=g)
    assert structural_loss(x, noise, 9) > 0.8  # unrelated structure
    # cs ignores luminance: a brightness shift keeps structure intact
    assert structural_loss(x, x + 0.2, 9).abs() < 1e-4
