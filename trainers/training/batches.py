"""Batched image tensors: uint8 crops to floats, 3FabRec's augmentation, the centre crop.

Augmentation runs on the M x M margin crop (see `trainers.datasets.cropset`) as 3FabRec does
on its 363 crops: a horizontal flip with p = 0.5, then a random affine about the crop centre
(rotation, translation, independent x/y scale, shear; bicubic, black fill) chosen by a level.
It is done for the whole batch at once with `affine_grid` / `grid_sample`, on the batch's
device, so there is no per-image Python work and no JPEG decoding in the step loop.

The random draws are made on the CPU first (`AugmentDraw`), from the caller's generator;
`augmented_batch` then sends a training step's crops, points and draws to the device in one
pinned, non-blocking copy (`device.to_device`), and the device does the rest.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from trainers.datasets.cropset import centre_offset
from trainers.models.config import IMAGE_MEAN
from trainers.training.device import to_device


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


def crops_to_tensor(images_u8: np.ndarray | torch.Tensor,
                    device: torch.device | str = "cpu") -> torch.Tensor:
    """(B, M, M, 3) uint8 -> (B, 3, M, M) float32 in [0, 1] on `device`.

    The uint8 batch crosses to the device first (4x fewer bytes than floats), through
    pinned memory on CUDA so the copy does not block the host. A uint8 tensor already on
    `device` (one of `to_device`'s) is only converted.
    """
    t = (images_u8 if isinstance(images_u8, torch.Tensor)
         else torch.from_numpy(np.ascontiguousarray(images_u8)))
    device = torch.device(device)
    if t.device.type == "cpu" and device.type != "cpu":
        (t,) = to_device([t], device)
    return t.permute(0, 3, 1, 2).float().div_(255.0)


def _uniform(n: int, lo: float, hi: float, gen: torch.Generator) -> torch.Tensor:
    return torch.rand(n, generator=gen, dtype=torch.float64) * (hi - lo) + lo


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




@dataclass(frozen=True)
class AugmentDraw:
    """The random part of `augment` for a batch, drawn on the CPU, so that the device
    never waits on the host for it.

    Attributes:
        flip: (B,) bool, the images to mirror; None when none is (or flips are off).
        linear: (B, 2, 2) float64 forward linear part about the centre (pixel frame), and
        shift: (B, 2) float64 translation in pixels; both None at level 0.
        side: the crop side M.
    """

    flip: torch.Tensor | None
    linear: torch.Tensor | None
    shift: torch.Tensor | None
    side: int

    @classmethod
    def draw(cls, b: int, level: int, side: int, flips: bool,
             generator: torch.Generator) -> AugmentDraw:
        """What `augment` draws for `b` images, in its order: the flips (when `flips`),
        then the level's affine parameters."""
        if level not in AUGMENT_LEVELS:
            raise ValueError(f"augmentation level must be one of {sorted(AUGMENT_LEVELS)}, "
                             f"got {level}")
        flip = torch.rand(b, generator=generator) < 0.5 if flips else None
        if flip is not None and not bool(flip.any()):
            flip = None
        if level == 0:
            return cls(flip, None, None, side)
        linear, shift = _random_affine(b, AUGMENT_LEVELS[level], side, generator)
        return cls(flip, linear, shift, side)

    def theta(self, dtype: torch.dtype) -> torch.Tensor | None:
        """(B, 2, 3) `affine_grid`'s output -> input map in normalised coordinates."""
        if self.linear is None or self.shift is None:
            return None
        # With align_corners=True a square image maps pixels to [-1, 1] with one scale
        # factor, so the linear part is shared.
        inv = torch.linalg.inv(self.linear)
        shift_n = self.shift * (2.0 / (self.side - 1))
        return torch.cat([inv, -(inv @ shift_n[..., None])], dim=-1).to(dtype)

    def host_tensors(self, image_dtype: torch.dtype, point_dtype: torch.dtype | None
                     ) -> list[torch.Tensor | None]:
        """[flip, theta, linear, shift] as `apply_augmentation` takes them, on the CPU;
        linear and shift only when points move too (`point_dtype` given)."""
        if point_dtype is None or self.linear is None or self.shift is None:
            return [self.flip, self.theta(image_dtype), None, None]
        return [self.flip, self.theta(image_dtype), self.linear.to(point_dtype),
                self.shift.to(point_dtype)]


def send(host: list[torch.Tensor | None], device: torch.device) -> list[torch.Tensor | None]:
    """`device.to_device` of the tensors of `host` (one copy), its Nones kept in place."""
    moved = iter(to_device([t for t in host if t is not None], device))
    return [None if t is None else next(moved) for t in host]


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
    b, _, h, w = x.shape
    if h != w:
        raise ValueError(f"augment expects square crops, got {h}x{w}")
    draw = AugmentDraw.draw(b, level, w, flip_perm is not None, generator)
    flip, theta, linear, shift = send(
        draw.host_tensors(x.dtype, None if landmarks is None else landmarks.dtype), x.device)
    perm = None
    if landmarks is not None and flip_perm is not None:
        perm = flip_perm.to(landmarks.device)
    return apply_augmentation(x, landmarks, flip, perm, theta, linear, shift)


def apply_augmentation(x: torch.Tensor, landmarks: torch.Tensor | None,
                       flip: torch.Tensor | None, flip_perm: torch.Tensor | None,
                       theta: torch.Tensor | None, linear: torch.Tensor | None,
                       shift: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor | None]:
    """An `AugmentDraw` applied on the images' device (no host work, no copy).

    Args:
        x: (B, 3, M, M) float images.
        landmarks: (B, L, 2) points in the same frame, or None.
        flip, theta, linear, shift: `AugmentDraw.host_tensors`, on the device of `x`.
        flip_perm: (L,) long on the same device; needed with points and `flip`.
    """
    lms = None if landmarks is None else landmarks.clone()
    if flip is not None:
        x = torch.where(flip[:, None, None, None], x.flip(-1), x)
    if lms is not None:
        lms = move_points(lms, flip, flip_perm, linear, shift, x.shape[-1])
    if theta is not None:
        grid = F.affine_grid(theta, list(x.shape), align_corners=True)
        x = F.grid_sample(x, grid, mode="bicubic", padding_mode="zeros", align_corners=True)
        x = x.clamp_(0.0, 1.0)
    return x, lms


def move_points(lms: torch.Tensor, flip: torch.Tensor | None, flip_perm: torch.Tensor | None,
                linear: torch.Tensor | None, shift: torch.Tensor | None,
                side: int) -> torch.Tensor:
    """(B, L, 2) points carried through an `AugmentDraw`'s mirror (re-labelled by
    `flip_perm`) and affine map, all on the points' device."""
    if flip is not None:
        if flip_perm is None:
            raise ValueError("mirroring points needs the flip permutation")
        mirrored = lms.clone()
        mirrored[..., 0] = (side - 1) - mirrored[..., 0]
        mirrored = mirrored[:, flip_perm]
        lms = torch.where(flip[:, None, None], mirrored, lms)
    if linear is not None and shift is not None:
        c = (side - 1) / 2.0
        lms = torch.einsum("bij,blj->bli", linear, lms - c) + c + shift[:, None]
    return lms


def augmented_batch(images_u8: np.ndarray, points: torch.Tensor | None, level: int,
                    flip_perm: torch.Tensor | None, generator: torch.Generator,
                    device: torch.device, input_size: int
                    ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Crops -> augmented network input (and points): `crops_to_tensor`, `augment` and
    `network_input`, with one host-to-device copy for the crops, the points and the draw.

    Args:
        images_u8: (B, M, M, 3) uint8 crops on the host.
        points: (B, L, 2) float landmarks on the CPU, M frame, or None.
        flip_perm: (L,) long, already on `device` (moved once by the caller), or None
            for no flips.
        the rest: as `augment` and `network_input`.
    """
    images = torch.from_numpy(np.ascontiguousarray(images_u8))
    draw = AugmentDraw.draw(len(images), level, images.shape[1], flip_perm is not None,
                            generator)
    images_d, points_d, flip, theta, linear, shift = send(
        [images, points, *draw.host_tensors(
            torch.float32, None if points is None else points.dtype)], device)
    assert images_d is not None
    x, lms = apply_augmentation(crops_to_tensor(images_d, device), points_d, flip,
                                flip_perm, theta, linear, shift)
    return network_input(x, lms, input_size)


@functools.lru_cache(maxsize=16)
def _image_mean(device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """The channel mean on `device`, copied there once (not at every batch)."""
    return torch.tensor(IMAGE_MEAN, dtype=dtype, device=device).view(1, 3, 1, 1)


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
    x = x - _image_mean(x.device, x.dtype)
    if landmarks is not None:
        landmarks = landmarks - o
    return x, landmarks
