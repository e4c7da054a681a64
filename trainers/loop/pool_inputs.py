"""What the loop's pool pass computes for acquisitions, chunk by chunk (see `stream_pool`).

Besides the heatmaps, features and landmarks of `supervised.predict`, an acquisition may ask
for (the inputs are documented on `acquisition.Acquisition`):

* `flip_heatmaps` / `flip_landmarks`: one more forward pass on the mirrored S x S network
  input, mapped back to the un-mirrored image (`unflip_heatmaps`, then decoded);
* `tta_landmarks`: T forward passes under the trainer's augmentation (`batches.AugmentDraw`,
  the training augmentation itself), mapped back with the inverse of each transform,
  a group of items at a time on the device;
* `labeled_features` / `labeled_landmarks`: about the labeled set (`labeled_inputs`).

Only what is asked for is computed, and no more than one chunk of heatmaps is ever held.
All coordinates are (x, y) 0-based pixel centres of the M x M crop frame, float32.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from trainers.config.cell import CellConfig
from trainers.datasets.cropset import CropSet
from trainers.training.batches import (
    AugmentDraw,
    apply_augmentation,
    crops_to_tensor,
    move_points,
    network_input,
    send,
)
from trainers.training.device import to_device
from trainers.training.supervised import heatmaps_to_landmarks, network_outputs, predict

if TYPE_CHECKING:
    from trainers.models.fabrec import FabRec

FLIP_INPUTS = frozenset({"flip_heatmaps", "flip_landmarks"})
# Salt of the TTA generators, so they never coincide with the loop's other seeded streams.
TTA_SEED_SALT = 0x77A
# Crop-frame points whose images under an augmentation give its affine map exactly.
_REFERENCE = ((0.0, 0.0), (1.0, 0.0), (0.0, 1.0))


@dataclass(frozen=True)
class PassSettings:
    """How the pool pass runs the model, and which extra inputs it adds."""

    needs: frozenset[str]
    batch_size: int
    device: torch.device
    amp: bool
    tta_samples: int = 0
    augment_level: int = 0
    seed: int = 0
    round_index: int = 0
    subpixel: bool = False

    @classmethod
    def of(cls, cell: CellConfig, acq: Any, n_labeled: int, device: torch.device
           ) -> PassSettings:
        """The loop's pass for `acq` in `cell`. TTA draws are keyed by (cell seed, round, pool
        index), the round being where `n_labeled` sits in the budget schedule (a labeled set
        of a size outside the schedule is keyed by its size instead)."""
        sizes, trainer = cell.budget.sizes, cell.trainer
        return cls(
            needs=frozenset(acq.needs), batch_size=trainer.eval_batch_size, device=device,
            amp=trainer.amp, tta_samples=int(acq.tta_samples),
            augment_level=trainer.augment_level, seed=cell.seed,
            round_index=sizes.index(n_labeled) if n_labeled in sizes else n_labeled,
        )


def inverse_permutation(flip_perm: np.ndarray | torch.Tensor) -> torch.Tensor:
    """inv with inv[flip_perm[j]] = j; for a face's flip permutation (an involution) that is
    `flip_perm` itself."""
    perm = torch.as_tensor(np.asarray(flip_perm), dtype=torch.long)
    inverse = torch.empty_like(perm)
    inverse[perm] = torch.arange(perm.numel())
    return inverse


def unflip_heatmaps(maps: torch.Tensor, flip_perm: np.ndarray | torch.Tensor) -> torch.Tensor:
    """Heatmaps predicted on the mirrored S x S input, back on the un-mirrored image.

    Channel j of a mirrored face is landmark flip_perm[j] (as training relabels flipped
    targets), so the result's channel l is the mirrored prediction's channel inv[l]
    (= flip_perm[l] for an involution), mirrored back along W. On landmarks this is
    x -> 2c - x in the crop frame, with 2c = S - 1 + 2 * centre_offset(S).

    Args:
        maps: (n, L, H, W) heatmaps of the mirrored input.
        flip_perm: (L,) the data set's flip permutation.

    Returns:
        (n, L, H, W), same dtype and device.
    """
    inverse = inverse_permutation(flip_perm)
    if inverse.device != maps.device:
        (inverse,) = to_device([inverse], maps.device)
    return maps[:, inverse].flip(-1)


def tta_generator(seed: int, round_index: int, pool_index: int) -> torch.Generator:
    """The CPU generator of one pool item's augmentations: a function of (cell seed, round,
    pool index) only, so that how the pool is chunked cannot change them."""
    words = np.random.SeedSequence([seed, round_index, pool_index, TTA_SEED_SALT])
    state = words.generate_state(2, np.uint32)
    return torch.Generator().manual_seed((int(state[0]) << 31) ^ int(state[1]))


def _item_maps(generator: torch.Generator, samples: int, level: int, side: int
               ) -> tuple[AugmentDraw, torch.Tensor, torch.Tensor]:
    """One item's T augmentations and their maps q = A p + b, on the CPU: (the draw,
    A (T, 2, 2) float64, b (T, 2) float64). The maps are read off the augmentation itself:
    reference points carried through it give A and b exactly (A has a negative determinant
    when the copy was mirrored)."""
    draw = AugmentDraw.draw(samples, level, side, True, generator)
    reference = torch.tensor(_REFERENCE, dtype=torch.float64).expand(samples, -1, -1)
    # As in training, each copy is mirrored with p = 0.5; the points get the identity
    # relabelling, as only the map is wanted here.
    same = torch.arange(len(_REFERENCE))
    moved = move_points(reference.clone(), draw.flip, same, draw.linear, draw.shift, side)
    shift = moved[:, 0]
    return draw, torch.stack([moved[:, 1] - shift, moved[:, 2] - shift], dim=-1), shift


def augmented_copies(crop: torch.Tensor, samples: int, level: int, generator: torch.Generator
                     ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """T augmentations of one crop by the training augmentation (`batches.AugmentDraw`),
    and how to map points back.

    Args:
        crop: (1, 3, M, M) float image.
        samples: T.
        level: augmentation level 0..7 (0 = random flip only).
        generator: the item's generator (`tta_generator`).

    Returns:
        (images (T, 3, M, M), A (T, 2, 2) float64, b (T, 2) float64), A and b on the CPU.
    """
    draw, linear, shift = _item_maps(generator, samples, level, crop.shape[-1])
    copies = crop.expand(samples, -1, -1, -1).contiguous()
    flip, theta = send([draw.flip, draw.theta(copies.dtype)], copies.device)
    images, _ = apply_augmentation(copies, None, flip, None, theta, None, None)
    return images, linear, shift


def _mapped_back(points: torch.Tensor, inverse: torch.Tensor, shift: torch.Tensor,
                 mirrored: torch.Tensor, inverse_perm: torch.Tensor) -> torch.Tensor:
    """(T, L, 2) points through p = A^-1 (q - b), relabelled where A mirrors; float32, all
    on the device of `points` (the other tensors are there too)."""
    offset = points.to(torch.float64) - shift[:, None]
    back = torch.einsum("tij,tlj->tli", inverse, offset)
    back = torch.where(mirrored[:, None, None], back[:, inverse_perm], back)
    return back.to(torch.float32)


def unaugment_landmarks(points: torch.Tensor, linear: torch.Tensor, shift: torch.Tensor,
                        flip_perm: np.ndarray | torch.Tensor) -> torch.Tensor:
    """Landmarks predicted on augmented crops, back in the un-augmented crop frame.

    Args:
        points: (T, L, 2) crop-frame predictions on the T augmented copies.
        linear: (T, 2, 2) A and shift: (T, 2) b of each copy's map q = A p + b.
        flip_perm: (L,) flip permutation, applied to the copies whose A mirrors.

    Returns:
        (T, L, 2) float32 on the device of `points`.
    """
    back = _mapped_back(points.cpu(), torch.linalg.inv(linear), shift,
                        torch.linalg.det(linear) < 0, inverse_permutation(flip_perm))
    return back.to(points.device)


@torch.no_grad()
def tta_landmarks(model: FabRec, pool: CropSet, indices: np.ndarray,
                  settings: PassSettings) -> torch.Tensor:
    """(n, T, L, 2) float32 landmarks of `pool[indices]` under T augmentations, mapped back.

    Each item's augmentations come from its own generator; groups of about
    `settings.batch_size` images are augmented, forwarded and mapped back at once on the
    device, after one host-to-device copy per group (crops, draws and maps) and with no
    wait for the device, so memory stays that of one batch.
    """
    per_group = max(1, settings.batch_size // settings.tta_samples)
    (inverse_perm,) = to_device([inverse_permutation(pool.flip_perm)], settings.device)
    return torch.cat([_tta_group(model, pool, indices[start:start + per_group], settings,
                                 inverse_perm)
                      for start in range(0, len(indices), per_group)])


def _tta_group(model: FabRec, pool: CropSet, group: np.ndarray,
               settings: PassSettings, inverse_perm: torch.Tensor) -> torch.Tensor:
    """`tta_landmarks` of one group of items (see there)."""
    samples, side = settings.tta_samples, pool.images.shape[1]
    flips, thetas, inverses, shifts, mirrored = [], [], [], [], []
    for pool_index in group:  # host work only: the draws and maps of each item
        gen = tta_generator(settings.seed, settings.round_index, int(pool_index))
        draw, linear, item_shift = _item_maps(gen, samples, settings.augment_level, side)
        flips.append(torch.zeros(samples, dtype=torch.bool) if draw.flip is None
                     else draw.flip)
        thetas.append(draw.theta(torch.float32))
        inverses.append(torch.linalg.inv(linear))
        shifts.append(item_shift)
        mirrored.append(torch.linalg.det(linear) < 0)
    theta_host = None if thetas[0] is None else torch.cat(thetas)  # type: ignore[arg-type]
    images, flip, theta, inverse, shift, mirror = send(
        [torch.from_numpy(np.ascontiguousarray(pool.images[group])), torch.cat(flips),
         theta_host,
         torch.cat(inverses), torch.cat(shifts), torch.cat(mirrored)], settings.device)
    assert images is not None and inverse is not None and shift is not None
    crops = crops_to_tensor(images, settings.device).repeat_interleave(samples, dim=0)
    x, _ = apply_augmentation(crops, None, flip, None, theta, None, None)
    x, _ = network_input(x, None, pool.input_size)
    _, _, points = network_outputs(model, x, device=settings.device, amp=settings.amp,
                                   subpixel=settings.subpixel)
    back = _mapped_back(points, inverse, shift, mirror, inverse_perm)  # type: ignore[arg-type]
    return back.reshape(len(group), samples, *back.shape[1:])


@torch.no_grad()
def flip_outputs(model: FabRec, pool: CropSet, indices: np.ndarray,
                 settings: PassSettings) -> dict[str, torch.Tensor]:
    """`flip_heatmaps` and `flip_landmarks` of `pool[indices]` (whichever `needs` holds)."""
    # One copy for the crops and the permutation that maps the mirrored channels back.
    images, inverse = to_device([torch.from_numpy(np.ascontiguousarray(pool.images[indices])),
                                 inverse_permutation(pool.flip_perm)], settings.device)
    x, _ = network_input(crops_to_tensor(images, settings.device), None, pool.input_size)
    maps, _, _ = network_outputs(model, x.flip(-1), device=settings.device, amp=settings.amp,
                                 subpixel=settings.subpixel)
    back = maps[:, inverse].flip(-1)  # `unflip_heatmaps`, the permutation already moved
    out = {"flip_heatmaps": back} if "flip_heatmaps" in settings.needs else {}
    if "flip_landmarks" in settings.needs:
        # Decoding the mapped-back maps (rather than mapping decoded points) breaks argmax
        # ties as on the plain image, so an exactly mirror-symmetric model scores 0.
        out["flip_landmarks"] = heatmaps_to_landmarks(back, pool.input_size,
                                                      subpixel=settings.subpixel)
    return out


def interocular_norm(landmarks: torch.Tensor, eye_idx: tuple[int, int]) -> torch.Tensor:
    """(n,) float32 distance between the two predicted outer eye corners, at least 1 pixel
    (a collapsed prediction must not divide by zero). Never ground truth: pool items are
    unlabeled."""
    left, right = landmarks[:, eye_idx[0]], landmarks[:, eye_idx[1]]
    distance = (left - right).float().square().sum(dim=-1).sqrt()
    return distance.clamp(min=1.0)


def stream_pool(model: FabRec, pool: CropSet, rows: np.ndarray,
                settings: PassSettings) -> Iterator[dict]:
    """`supervised.predict`'s chunks of `pool[rows]`, with "norm" and the asked-for extras.

    Yields:
        dicts with "indices", "heatmaps", "features", "landmarks" (as `predict`), "norm"
        (`interocular_norm`), and "flip_heatmaps" / "flip_landmarks" / "tta_landmarks"
        when `settings.needs` holds them.
    """
    for chunk in predict(model, pool, rows, batch_size=settings.batch_size,
                         device=settings.device, amp=settings.amp, subpixel=settings.subpixel):
        chunk["norm"] = interocular_norm(chunk["landmarks"], pool.eye_idx)
        if settings.needs & FLIP_INPUTS:
            chunk.update(flip_outputs(model, pool, chunk["indices"], settings))
        if "tta_landmarks" in settings.needs:
            chunk["tta_landmarks"] = tta_landmarks(model, pool, chunk["indices"], settings)
        yield chunk


def labeled_inputs(model: FabRec, pool: CropSet, labeled_mask: np.ndarray,
                   settings: PassSettings) -> dict[str, np.ndarray]:
    """The labeled-set inputs `settings.needs` asks for, rows in increasing pool index.

    `labeled_features` takes a short pass of the model over the labeled items (before the
    pool's first chunk is scored); `labeled_landmarks` are their annotations.
    """
    rows = np.flatnonzero(labeled_mask)
    out: dict[str, np.ndarray] = {}
    if "labeled_features" in settings.needs:
        parts = [chunk["features"].cpu().numpy()
                 for chunk in predict(model, pool, rows, batch_size=settings.batch_size,
                                      device=settings.device, amp=settings.amp)]
        # The loop always has L0 labeled; an empty set still gets a (0, d)-shaped placeholder.
        out["labeled_features"] = (np.concatenate(parts) if parts
                                   else np.zeros((0, 0), dtype=np.float32))
    if "labeled_landmarks" in settings.needs:
        out["labeled_landmarks"] = pool.landmarks[rows].astype(np.float32)
    return out
