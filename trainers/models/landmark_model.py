"""A saved landmark model: the network plus what using it needs (layout, crop settings).

`save_landmark_model` writes our checkpoint format (see `trainers.models.checkpoint`) with
one key in `extra`:

    "landmark_model": {
        "version": 1,
        "flip_perm": [int] * L,          # new[i] = old[flip_perm[i]] after mirroring x
        "eye_idx": [int, int],           # the pair whose distance normalises NME
        "box_adjust": [top, bottom],     # the data set's box adjustment (crops from boxes)
        "meta": {...},                   # caller's facts: data set, round, steps, ...
    }

The model config (arch, L, input size S, width, z_dim) and every weight are the checkpoint's
own fields, so `load_model` and `load_pretrained` read these files too. The file is read
with `torch.load(weights_only=True)` only.

`load_landmark_model` also takes a checkpoint without that key (a grid checkpoint, an
official 3FabRec landmark snapshot) when it has 68 or 98 landmarks: the standard iBUG /
WFLW tables and 3FabRec's 300-W / WFLW box adjustments then apply.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from trainers.datasets.layouts import IBUG_68, WFLW_98, check_flip_perm
from trainers.models.checkpoint import (
    Checkpoint,
    CheckpointError,
    _load_into,
    read_checkpoint,
    save_checkpoint,
)
from trainers.models.config import ModelConfig
from trainers.models.fabrec import FabRec

LANDMARK_KEY = "landmark_model"
LANDMARK_VERSION = 1

# 3FabRec's box adjustments (top, bottom): 300-W for 68 points, WFLW for 98.
STANDARD_BOX_ADJUST = {68: (0.2, 0.12), 98: (0.0, 0.1)}
_STANDARD_LAYOUTS = {68: IBUG_68, 98: WFLW_98}


@dataclass(frozen=True)
class LandmarkModelInfo:
    """What a landmark model file says besides its weights.

    Attributes:
        path: the file read.
        config: the network's ModelConfig (arch, num_landmarks, input_size, width, z_dim).
        flip_perm: (L,) horizontal-flip permutation.
        eye_idx: the normalisation pair.
        box_adjust: (top, bottom) fractions of a box's height the crop adds (face boxes).
        meta: the caller's facts stored with the model ({} when none).
        standard_layout: True when the file had no landmark_model entry and the standard
            68 / 98 tables were assumed.
    """

    path: Path
    config: ModelConfig
    flip_perm: tuple[int, ...]
    eye_idx: tuple[int, int]
    box_adjust: tuple[float, float]
    meta: dict = field(default_factory=dict)
    standard_layout: bool = False

    @property
    def input_size(self) -> int:
        return self.config.input_size

    @property
    def num_landmarks(self) -> int:
        return self.config.num_landmarks


def _check_box_adjust(box_adjust: Sequence[float]) -> tuple[float, float]:
    values = tuple(float(v) for v in box_adjust)
    if len(values) != 2 or not all(np.isfinite(v) and -1.0 < v < 1.0 for v in values):
        raise ValueError(f"box_adjust must be two fractions (top, bottom) in (-1, 1), "
                         f"got {list(box_adjust)}")
    return values[0], values[1]


def _check_eye_idx(eye_idx: Sequence[int], num_landmarks: int) -> tuple[int, int]:
    eyes = tuple(int(v) for v in eye_idx)
    if len(eyes) != 2 or eyes[0] == eyes[1] or not all(0 <= v < num_landmarks for v in eyes):
        raise ValueError(f"eye_idx must be two different indices in 0..{num_landmarks - 1}, "
                         f"got {list(eye_idx)}")
    return eyes[0], eyes[1]


def save_landmark_model(
    model: FabRec,
    path: str | os.PathLike,
    *,
    flip_perm: Sequence[int],
    eye_idx: Sequence[int],
    box_adjust: Sequence[float] = STANDARD_BOX_ADJUST[68],
    meta: Mapping | None = None,
) -> Path:
    """Write a trained landmark model and its layout to `path` (atomically).

    Args:
        model: a FabRec with a landmark head (num_landmarks > 0); discriminators, if any,
            are not saved.
        path: the file to write (e.g. `round-003/model.pt`).
        flip_perm: the layout's flip permutation (a self-inverse permutation of 0..L-1).
        eye_idx: the layout's normalisation pair.
        box_adjust: (top, bottom) box adjustment of the data set the model was trained on.
        meta: plain facts to keep with the model (str / int / float / bool / None, lists
            and dicts of them).

    Returns:
        The path written.

    Raises:
        ValueError: the model has no head, or a table does not fit its landmark count.
        TypeError: `meta` holds something a weights-only load would refuse.
    """
    n = model.config.num_landmarks
    if n == 0:
        raise ValueError("save_landmark_model needs a model with a landmark head "
                         "(num_landmarks > 0); use save_checkpoint for an auto-encoder")
    entry = {
        "version": LANDMARK_VERSION,
        "flip_perm": [int(v) for v in check_flip_perm(np.asarray(flip_perm), n)],
        "eye_idx": list(_check_eye_idx(eye_idx, n)),
        "box_adjust": list(_check_box_adjust(box_adjust)),
        "meta": dict(meta or {}),
    }
    return save_checkpoint(_without_discriminators(model), path, extra={LANDMARK_KEY: entry})


def _without_discriminators(model: FabRec) -> FabRec:
    """The model itself when it has no discriminators, else a copy of its other weights."""
    if not model.has_discriminators:
        return model
    slim = FabRec(model.config, with_discriminators=False)
    slim.load_state_dict({k: v for k, v in model.state_dict().items()
                          if not k.startswith(("D_z.", "D."))})
    return slim


def _entry_fields(path: Path, entry: object, n: int) -> tuple:
    if not isinstance(entry, Mapping) or entry.get("version") != LANDMARK_VERSION:
        raise CheckpointError(f"landmark model {path}: extra[{LANDMARK_KEY!r}] is not a "
                              f"version-{LANDMARK_VERSION} entry")
    try:
        perm = check_flip_perm(np.asarray(entry["flip_perm"]), n)
        eyes = _check_eye_idx(entry["eye_idx"], n)
        adjust = _check_box_adjust(entry["box_adjust"])
    except (KeyError, TypeError, ValueError) as e:
        raise CheckpointError(f"landmark model {path}: bad {LANDMARK_KEY!r} entry: {e}") from e
    meta = entry.get("meta") or {}
    return tuple(int(v) for v in perm), eyes, adjust, dict(meta)


def read_landmark_info(path: str | os.PathLike) -> LandmarkModelInfo:
    """The layout and config of a landmark model file, without building the network.

    Raises:
        CheckpointError: unreadable file, no landmark head, or a bad landmark_model entry
            (the message names the file).
    """
    return _info(read_checkpoint(path))


def _info(ckpt: Checkpoint) -> LandmarkModelInfo:
    path, n = ckpt.path, ckpt.config.num_landmarks
    if n == 0 or not ckpt.has_head:
        raise CheckpointError(f"landmark model {path}: the file holds an auto-encoder without a "
                              "landmark head; train a landmark model first")
    if LANDMARK_KEY in ckpt.extra:
        perm, eyes, adjust, meta = _entry_fields(path, ckpt.extra[LANDMARK_KEY], n)
        return LandmarkModelInfo(path, ckpt.config, perm, eyes, adjust, meta)
    if n not in _STANDARD_LAYOUTS:
        raise CheckpointError(
            f"landmark model {path}: {n} landmarks and no {LANDMARK_KEY!r} entry, so the flip "
            "table and eye pair are unknown (standard ones exist for 68 and 98); save it "
            "with save_landmark_model"
        )
    layout = _STANDARD_LAYOUTS[n]
    return LandmarkModelInfo(path, ckpt.config, tuple(int(v) for v in layout.flip_perm),
                             layout.eye_idx, STANDARD_BOX_ADJUST[n], {}, standard_layout=True)


def load_landmark_model(path: str | os.PathLike, device: torch.device | str = "cpu"
                        ) -> tuple[FabRec, LandmarkModelInfo]:
    """Rebuild a saved landmark model on `device`, in eval mode, with its info.

    The file is read once; discriminator weights in it (official snapshots) are ignored.

    Raises:
        CheckpointError: unreadable, corrupt or malicious file, no landmark head, or
            weights that do not fit the file's config (the message names the file).
    """
    ckpt = read_checkpoint(path)
    info = _info(ckpt)
    model = FabRec(ckpt.config, with_discriminators=False)
    _load_into(model, ckpt, strict_head=True)
    return model.to(device).eval(), info
