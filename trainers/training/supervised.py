"""The supervised landmark stage: fit the ITL head (and SCAF's bottlenecks, and the encoder)
on a labeled set, then predict heatmaps, landmarks and features.

As the SCAF paper trains: Adam at 1e-3 for the head, 2e-5 for the encoder, jointly from the
start, generator frozen, the auto-encoder's BatchNorm in eval mode (running statistics)
while the head's own BatchNorm trains; L2 loss on Gaussian targets (x300, as 3FabRec).
`schedule="two_step"` gives 3FabRec's original recipe: the head alone first, then the
encoder joins.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F

from trainers.config.trainer import INITS, SCHEDULES, TrainerConfig  # noqa: F401 - re-exported
from trainers.datasets.cropset import CropSet, centre_offset
from trainers.training.batches import augmented_batch, crops_to_tensor, network_input
from trainers.training.device import (
    autocast_context,
    channels_last,
    prepare_model,
    resolve_device,
    to_device,
)
from trainers.training.heatmaps import decode, gaussian_targets, grid_sigma
from trainers.training.metrics import nme, summarize

if TYPE_CHECKING:
    from trainers.models.fabrec import FabRec


class TrainingDivergedError(RuntimeError):
    """The loss became NaN or infinite (or exploded): the step and value are in the message."""


def _batch_indices(n: int, batch: int, steps: int, gen: torch.Generator) -> Iterator[torch.Tensor]:
    """Shuffled passes over range(n), cut into `steps` batches (a pass restarts as needed)."""
    buf = torch.empty(0, dtype=torch.long)
    for _ in range(steps):
        while len(buf) < batch:
            buf = torch.cat([buf, torch.randperm(n, generator=gen)])
        yield buf[:batch]
        buf = buf[batch:]


def to_heatmap_coords(points: torch.Tensor, input_size: int, grid: int) -> torch.Tensor:
    """S-frame pixel centres -> heatmap pixel centres."""
    return (points + 0.5) * (grid / input_size) - 0.5


def from_heatmap_coords(points: torch.Tensor, input_size: int, grid: int) -> torch.Tensor:
    """Heatmap pixel centres -> S-frame pixel centres."""
    return (points + 0.5) * (input_size / grid) - 0.5


@dataclass
class _TrainingSet:
    """The labeled crops of one `fit`, and how a batch of them becomes input and targets."""

    images: np.ndarray  # (N, M, M, 3) uint8, on the host
    points: torch.Tensor  # (N, L, 2) float32, M-crop frame, on the host
    flip_perm: torch.Tensor  # (L,) on `device` (moved once)
    input_size: int  # S
    sigma: float  # target Gaussian sigma, in heatmap pixels
    device: torch.device

    @classmethod
    def of(cls, data: CropSet, labeled: np.ndarray, sigma_at_128: float,
           device: torch.device) -> _TrainingSet:
        (flip_perm,) = to_device([torch.as_tensor(data.flip_perm, dtype=torch.long)], device)
        return cls(data.images[labeled],
                   torch.as_tensor(data.landmarks[labeled], dtype=torch.float32),
                   flip_perm, data.input_size,
                   grid_sigma(sigma_at_128, data.input_size // 2), device)

    def batch(self, idx: torch.Tensor, level: int, gen: torch.Generator
              ) -> tuple[torch.Tensor, torch.Tensor]:
        """Augmented network input (B, 3, S, S) and heatmap targets (B, L, S/2, S/2), after
        one host-to-device copy (`batches.augmented_batch`)."""
        s = self.input_size
        grid = s // 2
        x, lms = augmented_batch(self.images[idx.numpy()], self.points[idx], level,
                                 self.flip_perm, gen, self.device, s)
        assert lms is not None
        return x, gaussian_targets(to_heatmap_coords(lms, s, grid), grid, self.sigma)


def fit(
    model: FabRec,
    data: CropSet,
    labeled: np.ndarray,
    config: TrainerConfig,
    *,
    seed: int,
    device: torch.device | str = "cpu",
    progress: Callable[[int, float], None] | None = None,
) -> dict:
    """Train `model` (in place) on the crops `data[labeled]`.

    Returns:
        {"train_seconds", "final_loss", "steps", "images_per_second"}.

    Raises:
        TrainingDivergedError: the loss became non-finite or exceeded `config.max_loss`.
    """
    device = resolve_device(device)
    labeled = np.asarray(labeled, dtype=np.int64)
    if len(labeled) == 0:
        raise ValueError("fit() needs at least one labeled image")
    gen = torch.Generator().manual_seed(seed)
    prepare_model(model, device)  # channels_last on the fast path, plain .to() otherwise
    model.set_supervised_mode()
    groups = [{"params": list(model.head_parameters()), "lr": config.lr_head}]
    encoder_params = list(model.encoder_parameters())
    if config.train_encoder:
        groups.append({"params": encoder_params, "lr": config.lr_encoder})
    opt = torch.optim.Adam(groups, betas=(0.9, 0.999))
    train_set = _TrainingSet.of(data, labeled, config.sigma, device)

    start = time.perf_counter()
    last = _train_steps(model, opt, encoder_params, train_set, config, gen, device, progress)
    for p in encoder_params:
        p.requires_grad_(True)
    secs = time.perf_counter() - start
    return {
        "train_seconds": secs,
        "final_loss": last,
        "steps": config.steps,
        "images_per_second": config.steps * config.batch_size / max(secs, 1e-9),
    }


def checked_every(device: torch.device) -> int:
    """Steps between reads of the loss: reading syncs with the device, so every step on the
    CPU (where it costs nothing) and every 25th on CUDA."""
    return 1 if device.type == "cpu" else 25


def _train_steps(model: FabRec, opt: torch.optim.Optimizer,
                 encoder_params: list[torch.nn.Parameter], train_set: _TrainingSet,
                 config: TrainerConfig, gen: torch.Generator, device: torch.device,
                 progress: Callable[[int, float], None] | None) -> float:
    """The optimisation loop of `fit`; returns the mean loss of the last checked steps
    (the steps since the check before: up to 25 on CUDA, fewer when the run ends first)."""
    loss_sum = torch.zeros((), device=device)
    check_every = checked_every(device)
    last, checked = float("nan"), 0
    batches = _batch_indices(len(train_set.images), config.batch_size, config.steps, gen)
    for step, idx in enumerate(batches):
        loss_sum += train_step(model, opt, encoder_params, train_set, idx, step, config, gen)
        if (step + 1) % check_every == 0 or step + 1 == config.steps:
            last = float(loss_sum) / (step + 1 - checked)
            checked = step + 1
            loss_sum.zero_()
            if not math.isfinite(last) or last > config.max_loss:
                raise TrainingDivergedError(
                    f"supervised loss became {last:.4g} at step {step + 1} of {config.steps} "
                    f"(max_loss={config.max_loss:g}); lower trainer.lr_head / lr_encoder"
                )
            if progress is not None:
                progress(step + 1, last)
    return last


def train_step(model: FabRec, opt: torch.optim.Optimizer,
               encoder_params: list[torch.nn.Parameter], train_set: _TrainingSet,
               idx: torch.Tensor, step: int, config: TrainerConfig,
               gen: torch.Generator) -> torch.Tensor:
    """One optimisation step of `fit` on the batch `idx`; returns the detached loss, on the
    device (reading it would wait for the device)."""
    head_only_until = config.head_only_steps if config.schedule == "two_step" else 0
    # two_step: the encoder has no gradient (so Adam leaves it alone) until it joins.
    for p in encoder_params:
        p.requires_grad_(config.train_encoder and step >= head_only_until)
    x, target = train_set.batch(idx, config.augment_level, gen)
    with autocast_context(train_set.device, config.amp):
        pred = model.heatmaps(channels_last(x))
    loss = F.mse_loss(pred.float(), target) * config.loss_scale
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return loss.detach()


@torch.no_grad()
def predict(
    model: FabRec,
    data: CropSet,
    indices: np.ndarray | None = None,
    *,
    batch_size: int = 64,
    device: torch.device | str = "cpu",
    amp: bool = True,
    subpixel: bool = False,
) -> Iterator[dict]:
    """Stream predictions in chunks: never holds more than one chunk of heatmaps.

    Yields dicts with "indices" (the CropSet rows), "heatmaps" (B, L, H, H) on the model's
    device, "features" (B, 99) latent codes and "landmarks" (B, L, 2) in the M-crop frame.
    """
    device = resolve_device(device)
    prepare_model(model, device)
    model.eval()
    idx_all = np.arange(len(data)) if indices is None else np.asarray(indices, dtype=np.int64)
    s = data.input_size
    for start in range(0, len(idx_all), batch_size):
        idx = idx_all[start : start + batch_size]
        x = crops_to_tensor(data.images[idx], device)
        x, _ = network_input(x, None, s)
        hm, z, xy = network_outputs(model, x, device=device, amp=amp, subpixel=subpixel)
        yield {"indices": idx, "heatmaps": hm, "features": z, "landmarks": xy}


@torch.no_grad()
def network_outputs(
    model: FabRec, x: torch.Tensor, *, device: torch.device, amp: bool, subpixel: bool
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One forward pass of a prepared model in eval mode on network inputs.

    Args:
        model: the landmark model, already on `device` (`prepare_model`) and in eval mode.
        x: (B, 3, S, S) network input (`network_input`'s output), on `device`.
        device: the model's device (picks the autocast context).
        amp: run the forward pass under autocast where the device supports it.
        subpixel: passed to `decode`.

    Returns:
        (heatmaps (B, L, H, H) float32, features (B, d) float32, landmarks (B, L, 2) float32
        in the M-crop frame: the S-frame decode shifted by `centre_offset(S)`).
    """
    with autocast_context(device, amp):
        hm, z = model.heatmaps_and_features(channels_last(x))
    hm = hm.float()
    return hm, z.float(), heatmaps_to_landmarks(hm, x.shape[-1], subpixel=subpixel)


def heatmaps_to_landmarks(hm: torch.Tensor, input_size: int, *, subpixel: bool) -> torch.Tensor:
    """(B, L, H, H) heatmaps of S x S inputs -> (B, L, 2) landmarks in the M-crop frame."""
    xy = from_heatmap_coords(decode(hm, subpixel=subpixel), input_size, hm.shape[-1])
    return xy + centre_offset(input_size)


def evaluate(
    model: FabRec,
    data: CropSet,
    *,
    batch_size: int = 64,
    device: torch.device | str = "cpu",
    amp: bool = True,
    subpixel: bool = False,
) -> dict:
    """NME / FR@0.10 / AUC@0.10 (fractions) on a test CropSet, in original-image coordinates.

    Returns the summary plus "errors" (per-image NME) and "predictions" (N, L, 2) in the
    original-image frame.
    """
    preds = []
    for chunk in predict(model, data, batch_size=batch_size, device=device, amp=amp,
                         subpixel=subpixel):
        preds.append(chunk["landmarks"].cpu().numpy())
    pred_crop = np.concatenate(preds).astype(np.float64)
    pred = data.landmarks_to_original(pred_crop)
    gt = data.landmarks_to_original(data.landmarks.astype(np.float64))
    errors = nme(pred, gt, eyes=data.eye_idx)
    return {**summarize(errors), "errors": errors, "predictions": pred}
