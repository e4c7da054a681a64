"""3FabRec and SCAF networks and their checkpoints (device helpers: `trainers.training.device`).

    from trainers.models import build_model, load_pretrained, save_checkpoint, ModelConfig
    model = build_model("scaf", num_landmarks=68, input_size=256, width=1.0)
    report = load_pretrained(model, "saae.mdl")
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from trainers.models.config import IMAGE_MEAN, ModelConfig

if TYPE_CHECKING:
    from trainers.models.fabrec import FabRec

# Imported on first use (PEP 562): configs and specs import this package's config module,
# and reading a spec or a progress view should not wait for torch.
_LAZY = {
    "Checkpoint": "checkpoint", "CheckpointError": "checkpoint", "LoadReport": "checkpoint",
    "load_model": "checkpoint", "load_pretrained": "checkpoint",
    "read_checkpoint": "checkpoint", "save_checkpoint": "checkpoint", "FabRec": "fabrec",
    "LandmarkModelInfo": "landmark_model", "load_landmark_model": "landmark_model",
    "read_landmark_info": "landmark_model", "save_landmark_model": "landmark_model",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f"trainers.models.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'trainers.models' has no attribute {name!r}")


def build_model(arch: str = "3fabrec", num_landmarks: int = 68, input_size: int = 256,
                width: float = 1.0, with_discriminators: bool = False) -> FabRec:
    """Build a freshly initialised 3FabRec or SCAF network.

    Args:
        arch: "3fabrec" or "scaf".
        num_landmarks: heatmap channels L (68 300-W, 98 WFLW, 19 AFLW); 0 = auto-encoder only.
        input_size: network input side S (64, 128 or 256; 256 is the published network).
        width: channel multiplier (1.0 = published network).
        with_discriminators: also build `D_z` and `D` (unsupervised stage).

    Raises:
        ValueError: an argument out of range (the message names it and what is allowed).
    """
    from trainers.models.fabrec import FabRec

    config = ModelConfig(arch=arch, num_landmarks=num_landmarks, input_size=input_size,
                         width=float(width))
    return FabRec(config, with_discriminators=with_discriminators)


__all__ = [
    "IMAGE_MEAN",
    "Checkpoint",
    "CheckpointError",
    "FabRec",
    "LandmarkModelInfo",
    "LoadReport",
    "ModelConfig",
    "build_model",
    "load_landmark_model",
    "load_model",
    "load_pretrained",
    "read_checkpoint",
    "read_landmark_info",
    "save_checkpoint",
    "save_landmark_model",
]
