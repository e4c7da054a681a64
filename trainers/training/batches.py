"""Batched image tensors: uint8 crops to floats, 3FabRec's augmentation, the centre crop.

Augmentation runs on the M x M margin crop (see `trainers.datasets.cropset`) as 3FabRec does
on its 363 crops: a horizontal flip with p = 0.5, then a random affine about the crop centre
(rotation, translation, independent x/y scale, shear; bicubic, black fill) chosen by a level.
It is done for the whole batch at once with `affine_grid` / `grid_sample`, on the batch's
device, so there is no per-image Python work and no JPEG decoding in the step loop.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import overload

import numpy as np
import torch
import torch.nn.functional as F

from trainers.datasets.cropset import centre_offset
from trainers.models.config import IMAGE_MEAN


@dataclass(frozen=True)
class AugmentLevel:
    """Ranges of one `--daug` level: rotation and shear in degrees, translation as a fraction."""

    rotation: float
    translation: float
    scale: tuple[float, float]
    shear: float


# 3FabRec's levels (model.md section 5); level 0 is flip only.
AUGMENT_LEVELS: dict[int, AugmentLevel] = {
    0: AugmentLevel(0.0, 0.0, (1.0, 1.0), 0.0),
    1: AugmentLevel(3.0, 0.025, (0.975, 1.025), 0.0),
    2: AugmentLevel(3.0, 0.035, (0.97, 1.03), 2.0),
    3: AugmentLevel(20.0, 0.035, (0.97, 1.03), 0.0),
    4: AugmentLevel(45.0, 0.035, (0.94, 1.03), 5.0),
    5: AugmentLevel(60.0, 0.035, (0.94, 1.03), 5.0),
    6: AugmentLevel(30.0, 0.04, (0.94, 1.05), 5.0),
    7: AugmentLevel(0.0, 0.04, (0.94, 1.05), 5.0),
}


def crops_to_tensor(images_u8: np.ndarray, device: torch.device | str = "cpu") -> torch.Tensor:
    """(B, M, M, 3) uint8 -> (B, 3, M, M) float32 in [0, 1] on `device`.

    The uint8 batch crosses to the device first (4x fewer bytes than floats), through
    pinned memory on CUDA so the copy does not block the host.
    """
    t = torch.from_numpy(np.ascontiguousarray(images_u8))
    device = torch.device(device)
    if device.type == "cuda":
        t = t.pin_memory().to(device, non_blocking=True)
    return t.to(device).permute(0, 3, 1, 2).float().div_(255.0)


def _uniform(n: int, lo: float, hi: float, gen: torch.Generator) -> torch.Tensor:
    return torch.rand(n, generator=gen, dtype=torch.float64) * (hi - lo) + lo


@overload
def augment(x: torch.Tensor, landmarks: torch.Tensor, level: int,
            flip_perm: torch.Tensor | None, generator: torch.Generator
            ) -> tuple[torch.Tensor, torch.Tensor]: ...


@overload
def augment(x: torch.Tensor, landmarks: None, level: int,
            flip_perm: torch.Tensor | None, generator: torch.Generator
            ) -> tuple[torch.Tensor, None]: ...


def augment(
    x: torch.Tensor,
    landmarks: torch.Tensor | None,
    level: int,
    flip_perm: torch.Tensor | None,
    generator: torch.Generator,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Random flip (p = 0.5, when `flip_perm` is given) then the level's random affine.

    Args:
        x: (B, 3, M, M) float images.
        landmarks: (B, L, 2) (x, y) 0-based pixel centres in the same frame, or None.
        level: 3FabRec augmentation level 0..7 (0 = flip only).
        flip_perm: (L,) permutation applied after mirroring, or None to never flip.
        generator: CPU torch.Generator; all randomness comes from it (reproducible).

    Returns:
        The augmented images and landmarks (same shapes).
    """
    if level not in AUGMENT_LEVELS:
        raise ValueError(f"augmentation level must be one of {sorted(AUGMENT_LEVELS)}, got {level}")
    b, _, h, w = x.shape
    if h != w:
        raise ValueError(f"augment expects square crops, got {h}x{w}")
    lms = None if landmarks is None else landmarks.clone()
    if flip_perm is not None:
        x, lms = _random_flip(x, lms, flip_perm, generator)
    if level == 0:
        return x, lms
    lin, shift = _random_affine(b, AUGMENT_LEVELS[level], w, generator)
    return _warp(x, lms, lin, shift)


def _random_flip(x: torch.Tensor, lms: torch.Tensor | None, flip_perm: torch.Tensor,
                 generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Mirror each image with p = 0.5; its landmarks are mirrored and re-labelled."""
    m = x.shape[-1]
    flip = torch.rand(x.shape[0], generator=generator) < 0.5
    if not bool(flip.any()):
        return x, lms
    fd = flip.to(x.device)
    x = torch.where(fd[:, None, None, None], x.flip(-1), x)
    if lms is not None:
        mirrored = lms.clone()
        mirrored[..., 0] = (m - 1) - mirrored[..., 0]
        mirrored = mirrored[:, flip_perm.to(lms.device)]
        lms = torch.where(flip.to(lms.device)[:, None, None], mirrored, lms)
    return x, lms


def _random_affine(b: int, params: AugmentLevel, m: int,
                   generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Per image, the forward linear part (B, 2, 2) about the centre and the shift (B, 2)
    in pixels, drawn from the level's ranges (float64, on the CPU)."""
    ang = torch.deg2rad(_uniform(b, -params.rotation, params.rotation, generator))
    shear = torch.deg2rad(_uniform(b, -params.shear, params.shear, generator))
    sx = _uniform(b, *params.scale, generator)
    sy = _uniform(b, *params.scale, generator)
    t_px = params.translation * m
    tx = torch.round(_uniform(b, -t_px, t_px, generator))
    ty = torch.round(_uniform(b, -t_px, t_px, generator))

    # Forward linear part (pixel frame, about the centre): rotation @ shear @ scale.
    cos, sin = torch.cos(ang), torch.sin(ang)
    rot = torch.stack([torch.stack([cos, -sin], -1), torch.stack([sin, cos], -1)], -2)
    shr = torch.zeros(b, 2, 2, dtype=torch.float64)
    shr[:, 0, 0] = 1.0
    shr[:, 0, 1] = -torch.tan(shear)
    shr[:, 1, 1] = 1.0
    scl = torch.diag_embed(torch.stack([sx, sy], -1))
    return rot @ shr @ scl, torch.stack([tx, ty], -1)


def _warp(x: torch.Tensor, lms: torch.Tensor | None, lin: torch.Tensor,
          shift: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Resample the images (bicubic, black fill) and move the landmarks by the same map."""
    m = x.shape[-1]
    # grid_sample wants output -> input in normalised coords; with align_corners=True a
    # square image maps pixels to [-1, 1] with one scale factor, so the linear part is shared.
    inv = torch.linalg.inv(lin)
    shift_n = shift * (2.0 / (m - 1))
    theta = torch.cat([inv, -(inv @ shift_n[..., None])], dim=-1).to(x.dtype).to(x.device)
    grid = F.affine_grid(theta, list(x.shape), align_corners=True)
    x = F.grid_sample(x, grid, mode="bicubic", padding_mode="zeros", align_corners=True)
    x = x.clamp_(0.0, 1.0)

    if lms is not None:
        c = (m - 1) / 2.0
        lin_d = lin.to(lms.dtype).to(lms.device)
        centred = lms - c
        shift_d = shift.to(lms.dtype).to(lms.device)[:, None]
        lms = torch.einsum("bij,blj->bli", lin_d, centred) + c + shift_d
    return x, lms


@overload
def network_input(x: torch.Tensor, landmarks: torch.Tensor, input_size: int
                  ) -> tuple[torch.Tensor, torch.Tensor]: ...


@overload
def network_input(x: torch.Tensor, landmarks: None, input_size: int
                  ) -> tuple[torch.Tensor, None]: ...


def network_input(
    x: torch.Tensor, landmarks: torch.Tensor | None, input_size: int
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Central S x S window of the M crop, minus the channel mean; landmarks shifted to match."""
    o = centre_offset(input_size)
    if x.shape[-1] < o + input_size:
        raise ValueError(
            f"crop of side {x.shape[-1]} is too small for input_size {input_size} (needs margin)"
        )
    x = x[:, :, o : o + input_size, o : o + input_size]
    mean = torch.tensor(IMAGE_MEAN, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    x = x - mean
    if landmarks is not None:
        landmarks = landmarks - o
    return x, landmarks
