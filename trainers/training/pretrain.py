"""Unsupervised stage: 3FabRec's adversarial auto-encoder training on unlabeled face crops.

Q (encoder) and P (generator) learn to reconstruct the mean-subtracted input:
    - L1 pixel loss on the 0..255 scale (`w_rec`);
    - optional structural loss 1 - cs, 3FabRec's contrast-structure SSIM term with a
      Gaussian window (31 px at 256, scaled with the input) (`w_ssim`; when on, the total
      is 0.5 * pixel + 0.5 * structural, as in 3FabRec);
    - latent adversarial loss: D_z tells z from N(0, I) samples and Q learns to fool it
      (`w_latent_adv`); D_z is updated every 4th step, Q's term every 2nd (3FabRec);
    - image adversarial loss: D tells inputs from reconstructions and P/Q learn to fool
      it (`w_image_adv`); D is updated every 2nd step (3FabRec), at half the learning rate.
Adam with lr 2e-5 and betas (0.0, 0.999), augmentation level 4 (flip + affine).

The discriminators' losses start from their fp32 logits. On the exact CPU path they are
3FabRec's log(p + 1e-8) of the probabilities (the results of earlier versions, bit for bit);
on the fast path (CUDA, bf16 autocast) the with-logits form log sigmoid(+-l), so that no
probability rounded to 1.0 saturates a loss or zeroes a gradient.

The run writes one checkpoint file (`save_checkpoint`, our format) every
`checkpoint_every` steps and at the end; its `extra` holds the step, the optimizer states
and the RNG state, so an interrupted run resumes where the file left off and, on CPU,
ends with the same weights as an uninterrupted one. Batch order and augmentation come
from per-step generators derived from the seed; only D_z's dropout (and, on a GPU, its
prior sample, drawn there) draws from the global RNG, which runs in a forked RNG scope so
the caller's RNG is untouched.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from trainers.config.pretrain import PretrainConfig
from trainers.datasets.cropset import CropSet, margin_size
from trainers.models import build_model, load_pretrained, read_checkpoint, save_checkpoint
from trainers.models.fabrec import FabRec
from trainers.training.batches import augmented_batch
from trainers.training.device import (
    autocast_context,
    channels_last,
    prepare_model,
    resolve_device,
    uses_fast_path,
)

STAGE = "pretrain"
_EPS = 1e-8  # 3FabRec's guard inside log() of discriminator outputs
_SSIM_SIGMA = 1.5  # 3FabRec's Gaussian window sigma


# ----------------------------------------------------------------------------- losses


def ssim_window(input_size: int) -> int:
    """Odd Gaussian window side: 3FabRec's 31 at 256, scaled with the input size."""
    return max(3, int(round(31 * input_size / 256)) | 1)


def structural_loss(x: torch.Tensor, y: torch.Tensor, window: int,
                    sigma: float = _SSIM_SIGMA, data_range: float = 1.0) -> torch.Tensor:
    """1 - mean contrast-structure similarity (3FabRec's "SSIM" loss), averaged over images.

    cs = (2 sigma_xy + C2) / (sigma_x^2 + sigma_y^2 + C2), local statistics from a Gaussian
    window applied per channel without padding; C2 = (0.03 * data_range)^2.
    """
    c = x.shape[1]
    r = torch.arange(window, dtype=torch.float32, device=x.device) - window // 2
    g = torch.exp(-(r ** 2) / (2 * sigma ** 2))
    g = g / g.sum()
    kernel = (g[:, None] * g[None, :]).expand(c, 1, window, window).to(x.dtype)

    def blur(t: torch.Tensor) -> torch.Tensor:
        return F.conv2d(t, kernel, groups=c)

    mu_x, mu_y = blur(x), blur(y)
    var_x = blur(x * x) - mu_x ** 2
    var_y = blur(y * y) - mu_y ** 2
    cov = blur(x * y) - mu_x * mu_y
    c2 = (0.03 * data_range) ** 2
    cs = (2 * cov + c2) / (var_x + var_y + c2)
    return 1.0 - cs.flatten(1).mean(1).mean()


def _log_probs(logits: torch.Tensor, with_logits: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """log D and log(1 - D) from a discriminator's fp32 logits.

    The exact path keeps 3FabRec's log(p + 1e-8) on probabilities (and so its results, bit
    for bit); the fast path uses the with-logits form, log sigmoid(+-l), which no rounding
    of p to 1.0 (bf16 near l = 6) can saturate.
    """
    logits = logits.float()
    if with_logits:
        return F.logsigmoid(logits), F.logsigmoid(-logits)
    p = torch.sigmoid(logits)
    return torch.log(p + _EPS), torch.log(1.0 - p + _EPS)


def real_fake_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor,
                   with_logits: bool) -> torch.Tensor:
    """A discriminator's loss: -mean(log D(real) + log(1 - D(fake))) (see `_log_probs`)."""
    return -torch.mean(_log_probs(real_logits, with_logits)[0]
                       + _log_probs(fake_logits, with_logits)[1])


def fool_loss(fake_logits: torch.Tensor, with_logits: bool) -> torch.Tensor:
    """The encoder's or generator's adversarial loss: -mean(log D(fake))."""
    return -torch.mean(_log_probs(fake_logits, with_logits)[0])


# ----------------------------------------------------------------------------- sampling


def _derived_seed(seed: int, stream: int, index: int) -> int:
    """A well-mixed 63-bit seed for (seed, stream, index), independent of run history."""
    state = np.random.SeedSequence([seed, stream, index]).generate_state(2, np.uint32)
    return int((int(state[0]) << 31) ^ int(state[1]))


class _BatchOrder:
    """Shuffled epochs; step s's indices depend only on (seed, s, N, batch size)."""

    def __init__(self, n: int, batch_size: int, seed: int) -> None:
        self.n, self.batch, self.seed = n, min(batch_size, n), seed
        self.per_epoch = n // self.batch
        self._epoch, self._perm = -1, torch.empty(0, dtype=torch.long)

    def indices(self, step: int) -> np.ndarray:
        epoch, pos = divmod(step, self.per_epoch)
        if epoch != self._epoch:
            g = torch.Generator().manual_seed(_derived_seed(self.seed, 0, epoch))
            self._epoch, self._perm = epoch, torch.randperm(self.n, generator=g)
        # Sorted indices make the numpy gather cache-friendly; order within a batch is moot.
        return np.sort(self._perm[pos * self.batch:(pos + 1) * self.batch].numpy())


# ----------------------------------------------------------------------------- training


@dataclass
class _Optimizers:
    Q: torch.optim.Adam
    P: torch.optim.Adam
    D_z: torch.optim.Adam
    D: torch.optim.Adam

    def state_dict(self) -> dict:
        return {k: getattr(self, k).state_dict() for k in ("Q", "P", "D_z", "D")}

    def load_state_dict(self, states: dict) -> None:
        for k in ("Q", "P", "D_z", "D"):
            getattr(self, k).load_state_dict(states[k])


def _optimizers(model: FabRec, config: PretrainConfig) -> _Optimizers:
    assert model.D_z is not None and model.D is not None  # built with_discriminators=True
    def adam(module: torch.nn.Module, lr: float) -> torch.optim.Adam:
        return torch.optim.Adam(module.parameters(), lr=lr, betas=config.betas)

    return _Optimizers(adam(model.Q, config.lr), adam(model.P, config.lr),
                       adam(model.D_z, config.lr), adam(model.D, config.lr * config.disc_lr_factor))


def _rng_state(device: torch.device) -> dict:
    state = {"cpu": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def _set_rng_state(state: dict, device: torch.device) -> None:
    torch.set_rng_state(state["cpu"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


def _resume_point(out_path: Path, config: PretrainConfig) -> dict | None:
    """The `extra` of a resumable checkpoint at `out_path`, or None when there is none."""
    if not out_path.exists():
        return None
    ckpt = read_checkpoint(out_path)
    extra = ckpt.extra
    if extra.get("stage") != STAGE or "optimizers" not in extra:
        raise ValueError(f"{out_path} exists but is not a resumable pretrain checkpoint; "
                         "remove it or pass resume=False to overwrite it")
    if (ckpt.config.input_size, ckpt.config.width) != (config.input_size, config.width):
        raise ValueError(
            f"{out_path} holds a pretrain run at input_size {ckpt.config.input_size}, width "
            f"{ckpt.config.width:g}; this config asks for input_size {config.input_size}, "
            f"width {config.width:g}. Use another out_path or resume=False"
        )
    return extra


def _prior(shape: torch.Size, gen: torch.Generator, device: torch.device) -> torch.Tensor:
    """D_z's N(0, I) sample, drawn where it is used: no host-to-device copy per step. On
    the CPU from the step's generator (the stream of earlier versions, bit for bit); on a
    GPU from the device's RNG, which the run seeds, forks and checkpoints with the CPU's."""
    if device.type == "cpu":
        return torch.randn(shape, generator=gen)
    return torch.randn(shape, device=device)


def _step(model: FabRec, opt: _Optimizers, x: torch.Tensor, step: int, gen: torch.Generator,
          config: PretrainConfig, device: torch.device, window: int) -> dict[str, torch.Tensor]:
    """One 3FabRec auto-encoder step; returns detached loss tensors (no host sync)."""
    assert model.D_z is not None and model.D is not None  # built with_discriminators=True
    stats: dict[str, torch.Tensor] = {}
    amp = config.mixed_precision
    logits = uses_fast_path(device)  # the with-logits losses (see `_log_probs`)
    with autocast_context(device, amp):
        z = model.Q(x)
    stats["z_mean"], stats["z_std"] = z.detach().float().mean(), z.detach().float().std()
    latent_on = config.w_latent_adv > 0
    if latent_on and step % config.latent_disc_every == 0:
        prior = _prior(z.shape, gen, device)
        with autocast_context(device, amp):
            loss_dz = real_fake_loss(model.D_z.logits(prior), model.D_z.logits(z.detach()),
                                     logits)
        opt.D_z.zero_grad(set_to_none=True)
        loss_dz.backward()
        opt.D_z.step()
        stats["loss_latent_disc"] = loss_dz.detach()

    with autocast_context(device, amp):
        x_rec = model.P(z)
    x_rec32 = x_rec.float()
    loss_rec = (x - x_rec32).abs().mul(255.0).mean()
    stats["loss_rec"] = loss_rec.detach()
    loss = config.w_rec * loss_rec
    if config.w_ssim > 0:
        loss_ssim = structural_loss(x.float(), x_rec32, window)
        stats["loss_ssim"] = loss_ssim.detach()
        loss = 0.5 * loss + 0.5 * config.w_ssim * loss_ssim

    if latent_on and step % config.latent_enc_every == 0:
        model.D_z.requires_grad_(False)
        with autocast_context(device, amp):
            loss_enc = fool_loss(model.D_z.logits(z), logits)
        model.D_z.requires_grad_(True)
        stats["loss_latent_adv"] = loss_enc.detach()
        loss = loss + config.w_latent_adv * loss_enc

    if config.w_image_adv > 0:
        loss = loss + config.w_image_adv * _image_adversarial(
            model, opt, x, x_rec, step, config, device, stats)

    opt.Q.zero_grad(set_to_none=True)
    opt.P.zero_grad(set_to_none=True)
    loss.backward()
    opt.Q.step()
    opt.P.step()
    stats["loss"] = loss.detach()
    return stats


def _image_adversarial(model: FabRec, opt: _Optimizers, x: torch.Tensor, x_rec: torch.Tensor,
                       step: int, config: PretrainConfig, device: torch.device,
                       stats: dict[str, torch.Tensor]) -> torch.Tensor:
    """D's update (every `image_disc_every` steps) and the reconstruction's adversarial
    loss against it, for `_step` (which weights it); the losses go into `stats`."""
    assert model.D is not None  # built with_discriminators=True
    amp, logits = config.mixed_precision, uses_fast_path(device)
    if step % config.image_disc_every == 0:
        with autocast_context(device, amp):
            loss_d = real_fake_loss(model.D.logits(x), model.D.logits(x_rec.detach()), logits)
        opt.D.zero_grad(set_to_none=True)
        loss_d.backward()
        opt.D.step()
        stats["loss_image_disc"] = loss_d.detach()
    model.D.requires_grad_(False)
    with autocast_context(device, amp):
        loss_gen = fool_loss(model.D.logits(x_rec), logits)
    model.D.requires_grad_(True)
    stats["loss_image_adv"] = loss_gen.detach()
    return loss_gen


def _check_images(images: CropSet, config: PretrainConfig) -> None:
    m = margin_size(config.input_size)
    if images.input_size != config.input_size:
        raise ValueError(
            f"CropSet was cut for input_size {images.input_size} (crops {images.margin} px); "
            f"PretrainConfig.input_size is {config.input_size} (needs {m} px crops)"
        )
    if len(images) == 0:
        raise ValueError("pretrain_autoencoder: the CropSet holds no images")


def pretrain_autoencoder(
    images: CropSet,
    config: PretrainConfig,
    out_path: Path,
    *,
    progress: Callable[[dict], None] | None = None,
    resume: bool = True,
) -> Path:
    """Train Q, P, D_z and D on `images`; write and return the checkpoint at `out_path`.

    Args:
        images: unlabeled crops (landmarks are ignored) cut for `config.input_size`.
        config: the stage's settings.
        out_path: checkpoint file, rewritten atomically every `checkpoint_every` steps.
        progress: called every `log_every` steps and at the end with {"step", "steps",
            "loss", "loss_rec", ["loss_ssim",] ["loss_latent_adv", "loss_latent_disc",]
            ["loss_image_adv", "loss_image_disc",] "z_mean", "z_std", "images_per_s"}
            (losses averaged over the steps since the last call that computed them).
        resume: continue from `out_path` when it holds a pretrain checkpoint; False starts
            over and overwrites it.

    Returns:
        `out_path` (a checkpoint `load_pretrained` and `load_model` read).

    Raises:
        ValueError: images cut for another input size, or `out_path` holds something that
            cannot be resumed with this config.
    """
    _check_images(images, config)
    out_path = Path(out_path)
    device = resolve_device(config.device)
    extra = _resume_point(out_path, config) if resume else None
    start = int(extra["step"]) if extra else 0
    if start >= config.steps:
        return out_path
    fork_devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=fork_devices):
        torch.manual_seed(config.seed)
        model = build_model("3fabrec", num_landmarks=0, input_size=config.input_size,
                            width=config.width, with_discriminators=True)
        if extra:
            load_pretrained(model, out_path)
        model = prepare_model(model, device).train()
        opt = _optimizers(model, config)
        if extra:
            opt.load_state_dict(extra["optimizers"])
            _set_rng_state(extra["rng"], device)
        _train(model, opt, images, config, device, out_path, start, progress)
    return out_path


def _train(model: FabRec, opt: _Optimizers, images: CropSet, config: PretrainConfig,
           device: torch.device, out_path: Path, start: int,
           progress: Callable[[dict], None] | None) -> None:
    order = _BatchOrder(len(images), config.batch_size, config.seed)
    flip_perm = torch.as_tensor(images.flip_perm, dtype=torch.long)  # non-None: flips on
    window = ssim_window(config.input_size)
    sums: dict[str, torch.Tensor] = {}
    counts: dict[str, int] = {}
    t0, seen = time.perf_counter(), 0
    for step in range(start, config.steps):
        gen = torch.Generator().manual_seed(_derived_seed(config.seed, 1, step))
        idx = order.indices(step)
        x, _ = augmented_batch(images.images[idx], None, config.augmentation, flip_perm, gen,
                               device, config.input_size)
        stats = _step(model, opt, channels_last(x), step, gen, config, device, window)
        seen += len(idx)
        for k, v in stats.items():
            sums[k] = sums[k] + v if k in sums else v
            counts[k] = counts.get(k, 0) + 1
        done = step + 1
        last = done == config.steps
        if progress is not None and (done % config.log_every == 0 or last):
            elapsed = max(time.perf_counter() - t0, 1e-9)
            report: dict[str, float] = {"step": done, "steps": config.steps}
            report.update({k: float(sums[k]) / counts[k] for k in sorted(sums)})
            report["images_per_s"] = seen / elapsed
            sums, counts, t0, seen = {}, {}, time.perf_counter(), 0
            progress(report)
        if done % config.checkpoint_every == 0 or last:
            _save(model, opt, config, device, out_path, done)


def _save(model: FabRec, opt: _Optimizers, config: PretrainConfig, device: torch.device,
          out_path: Path, step: int) -> None:
    extra = {"stage": STAGE, "step": step, "pretrain_config": config.to_dict(),
             "optimizers": opt.state_dict(), "rng": _rng_state(device)}
    save_checkpoint(model, out_path, extra=extra)
