"""Host-to-device traffic of the training step and the pool pass, checked
on the CPU.

The `meta` device stands in for CUDA: its tensors have shapes and dtypes but no data, and
an operation that mixes them with CPU tensors raises, as CUDA does, so a missing `device=`
fails here. A `TorchDispatchMode` (plus a `TorchFunctionMode` for `torch.tensor(...,
device=...)`, which the dispatcher does not see) counts every copy from the host to the
device: one training step (supervised, or the auto-encoder's pre-training) makes exactly
one, non-blocking (crops, landmarks and the augmentation's draws packed together), and a
pool pass one per chunk and pass (and per group of test-time augmentations). Running on
`meta` also proves these paths never read a value back from the device (that would raise:
a meta tensor has no data), so they never wait for it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
import torch
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode

from trainers.datasets.cropset import CropSet, margin_size
from trainers.loop.pool_inputs import PassSettings, stream_pool
from trainers.models import build_model
from trainers.training.batches import _image_mean
from trainers.training.device import to_device
from trainers.training.supervised import TrainerConfig, _batch_indices, _TrainingSet, train_step

META = torch.device("meta")
S = 64


@dataclass
class Copies:
    """Host-to-device copies seen: (what, non_blocking) each."""

    seen: list[tuple[str, bool]] = field(default_factory=list)

    def blocking(self) -> list[str]:
        return [what for what, non_blocking in self.seen if not non_blocking]


def _leaves_host(src: torch.Tensor, dst: Any) -> bool:
    return src.device.type == "cpu" and dst is not None and torch.device(dst).type != "cpu"


class _DispatchCounter(TorchDispatchMode):
    def __init__(self, copies: Copies) -> None:
        super().__init__()
        self.copies = copies

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None
                           ) -> Any:
        kwargs = kwargs or {}
        if func is torch.ops.aten._to_copy.default and _leaves_host(args[0],
                                                                     kwargs.get("device")):
            self.copies.seen.append((f"to {tuple(args[0].shape)}",
                                     bool(kwargs.get("non_blocking", False))))
        elif func is torch.ops.aten.copy_.default and _leaves_host(args[1], args[0].device):
            self.copies.seen.append((f"copy_ {tuple(args[1].shape)}",
                                     bool(args[2] if len(args) > 2 else
                                          kwargs.get("non_blocking", False))))
        return func(*args, **kwargs)


class _TensorCounter(TorchFunctionMode):
    """`torch.tensor(data, device=d)` copies Python data to d below the dispatcher."""

    def __init__(self, copies: Copies) -> None:
        super().__init__()
        self.copies = copies

    def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None
                           ) -> Any:
        kwargs = kwargs or {}
        device = kwargs.get("device")
        if func in (torch.tensor, torch.as_tensor) and device is not None \
                and torch.device(device).type != "cpu" \
                and not (args and isinstance(args[0], torch.Tensor)
                         and args[0].device.type != "cpu"):
            self.copies.seen.append((f"{func.__name__}(device=...)", False))
        return func(*args, **kwargs)


@contextmanager
def host_to_device_copies() -> Iterator[Copies]:
    copies = Copies()
    with _TensorCounter(copies), _DispatchCounter(copies):
        yield copies


def _crops(n: int, landmarks: int = 2) -> CropSet:
    m = margin_size(S)
    rng = np.random.default_rng(0)
    return CropSet(images=rng.integers(0, 256, (n, m, m, 3), dtype=np.uint8),
                   landmarks=rng.uniform(25, 65, (n, landmarks, 2)).astype(np.float32),
                   input_size=S, flip_perm=np.array([1, 0]), eye_idx=(0, 1),
                   to_original=np.tile(np.eye(2, 3), (n, 1, 1)),
                   names=[f"img{i}" for i in range(n)])


def _meta_model() -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model("scaf", num_landmarks=2, input_size=S, width=0.25).to(META)


def test_meta_refuses_cpu_operands_as_cuda_does() -> None:
    """The premise of these checks: a CPU tensor where a device one belongs raises."""
    with pytest.raises(RuntimeError, match="device"):
        _ = torch.ones(3, device=META) + torch.ones(3)


def test_the_counter_sees_each_kind_of_copy() -> None:
    with host_to_device_copies() as copies:
        torch.ones(2).to(META)
        torch.empty(2, device=META).copy_(torch.ones(2))
        torch.tensor([1.0, 2.0], device=META)
        to_device([torch.ones(2), torch.zeros(3, dtype=torch.long)], META)
    assert len(copies.seen) == 4 and len(copies.blocking()) == 3  # to_device's is not


@pytest.mark.parametrize(("level", "schedule"), [(0, "joint"), (3, "joint"),
                                                 (7, "two_step")])
def test_a_training_step_makes_one_non_blocking_copy(level: int, schedule: str) -> None:
    config = TrainerConfig(steps=4, batch_size=4, augment_level=level, schedule=schedule,
                           head_only_steps=2 if schedule == "two_step" else 0)
    model = _meta_model()
    model.set_supervised_mode()
    encoder = list(model.encoder_parameters())
    opt = torch.optim.Adam([{"params": list(model.head_parameters())},
                            {"params": encoder, "lr": 2e-5}])
    data = _crops(8)
    train_set = _TrainingSet.of(data, np.arange(8), config.sigma, META)  # flip_perm: once
    gen = torch.Generator().manual_seed(0)
    _image_mean.cache_clear()
    for step, idx in enumerate(_batch_indices(8, 4, config.steps, gen)):
        with host_to_device_copies() as copies:
            loss = train_step(model, opt, encoder, train_set, idx, step, config, gen)
        assert loss.device == META and loss.shape == ()
        # The budget: one non-blocking copy per step; the first step also puts the channel
        # mean on the device, once for the process.
        first = [("tensor(device=...)", False)] if step == 0 else []
        assert copies.seen[1:] == first, copies.seen
        assert len(copies.seen) == 1 + len(first) and copies.seen[0][1]


def test_the_pool_pass_copies_once_per_chunk_and_pass() -> None:
    """Chunks of 8 items; heatmaps, flip and TTA (T = 4, so groups of 2 items): per chunk
    one copy for the plain pass, one for the flipped pass, one for TTA's permutation and
    one per TTA group (crops, draws and maps together): 1 + 1 + 1 + 4 = 7."""
    model = _meta_model().eval()
    pool = _crops(16)
    settings = PassSettings(needs=frozenset({"heatmaps", "flip_landmarks", "tta_landmarks"}),
                            batch_size=8, device=META, amp=True, tta_samples=4,
                            augment_level=3)
    chunks = []
    _image_mean.cache_clear()
    with host_to_device_copies() as copies:
        for chunk in stream_pool(model, pool, np.arange(16), settings):
            chunks.append(chunk)
    assert [c["tta_landmarks"].shape for c in chunks] == [(8, 4, 2, 2)] * 2
    assert all(c["tta_landmarks"].device == META for c in chunks)
    # Plus the channel mean (`network_input`), put on the device once for the process.
    assert copies.blocking() == ["tensor(device=...)"], copies.seen
    assert len(copies.seen) == 2 * 7 + 1, copies.seen


@pytest.mark.parametrize("w_ssim", [0.0, 1.0])
def test_a_pretraining_step_makes_one_non_blocking_copy(w_ssim: float) -> None:
    """The auto-encoder's step as `pretrain` runs it: the batch (crops and draws) goes over
    in one non-blocking copy, and nothing else does; D_z's prior is drawn on the device
    (every step here, with both adversarial losses and the structural loss on)."""
    from trainers.config.pretrain import PretrainConfig
    from trainers.training.batches import augmented_batch
    from trainers.training.device import channels_last
    from trainers.training.pretrain import _optimizers, _step, ssim_window

    config = PretrainConfig(steps=3, batch_size=4, input_size=S, width=0.25, device="cpu",
                            w_ssim=w_ssim, latent_disc_every=1, latent_enc_every=1,
                            image_disc_every=1)
    torch.manual_seed(0)
    model = build_model("3fabrec", num_landmarks=0, input_size=S, width=0.25,
                        with_discriminators=True).to(META).train()
    opt = _optimizers(model, config)
    data = _crops(8)
    flip_perm = torch.as_tensor(data.flip_perm, dtype=torch.long)
    _image_mean.cache_clear()
    for step in range(config.steps):
        gen = torch.Generator().manual_seed(step)
        with host_to_device_copies() as copies:
            x, _ = augmented_batch(data.images[4 * (step % 2):][:4], None,
                                   config.augmentation, flip_perm, gen, META, S)
            stats = _step(model, opt, channels_last(x), step, gen, config, META,
                          ssim_window(S))
        assert {k: v.device for k, v in stats.items()} == dict.fromkeys(
            ["z_mean", "z_std", "loss_latent_disc", "loss_rec", *(["loss_ssim"] if w_ssim
             else []), "loss_latent_adv", "loss_image_disc", "loss_image_adv", "loss"], META)
        # The budget: the batch's one non-blocking copy; the first step also puts the
        # channel mean on the device, once for the process.
        first = [("tensor(device=...)", False)] if step == 0 else []
        assert copies.seen[1:] == first, copies.seen
        assert len(copies.seen) == 1 + len(first) and copies.seen[0][1]
