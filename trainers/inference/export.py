"""Export a saved landmark model as ONNX or TorchScript, for use without scaf-al.

The exported network (`LandmarkNet`) takes what the model takes and returns two outputs:

* input `crops`: (B, 3, S, S) float32, S the model's input size (`info.input_size`; the
  ONNX/TorchScript metadata says it too). RGB in [0, 1] minus the channel means
  IMAGE_MEAN = (0.518, 0.418, 0.361), no division by a std: `x = rgb / 255 - mean`. The
  crop is the face square: with scaf-al's geometry, the central S x S window of the
  M = ceil(S * sqrt 2) margin crop (see `trainers.datasets.crops`).
* output `heatmaps`: (B, L, S/2, S/2) float32, the raw head output.
* output `landmarks`: (B, L, 2) float32 (x, y) in crop pixels (0-based pixel centres of the
  S x S input), decoded as scaf-al decodes: each heatmap blurred with a k x k box (k from
  `trainers.training.heatmaps.blur_kernel`, zero border), integer argmax, then
  p_crop = (p_heatmap + 0.5) * S / (S/2) - 0.5.

ONNX: written with torch's dynamo exporter (`torch.onnx.export(..., dynamo=True)`, which
needs `onnxscript`; the `export` extra installs it), opset 18, a dynamic batch axis, and
all weights inside the one `.onnx` file (`external_data=False`; fine below ONNX's 2 GB
protobuf limit, and the 256 px width-1 network is far below it). The older exporter
(`dynamo=False`) is built on `torch.jit`, which torch 2.13 marks deprecated, so it is not
used. TorchScript: traced (`torch.jit.trace`; torch 2.13 warns that torch.jit is
deprecated, but the files load in Python and C++ libtorch); the batch size stays free
because tracing records shape reads, and the decode's sizes are fixed Python ints.
Both files carry metadata: input size, landmark count, image mean, flip table and eye pair.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Literal

import torch
from torch import nn

from trainers.inference.safe_files import refuse_output_over_inputs
from trainers.models.config import IMAGE_MEAN
from trainers.models.fabrec import FabRec
from trainers.models.landmark_model import LandmarkModelInfo, load_landmark_model
from trainers.training.heatmaps import blur_kernel, decode
from trainers.training.supervised import from_heatmap_coords

FORMATS = ("onnx", "torchscript")
ONNX_OPSET = 18  # the dynamo exporter's own opset (no version conversion); >= 17 as asked
_TRACE_BATCH = 2  # not 1, so no size-1 axis gets specialised while tracing


class LandmarkNet(nn.Module):
    """A landmark model as a plain network: crops -> (heatmaps, landmarks in crop pixels)."""

    def __init__(self, model: FabRec) -> None:
        super().__init__()
        self.model = model
        # Python ints, fixed at build time: tracing turns shape reads into tensors.
        self.input_size = model.config.input_size
        self.grid = model.config.heatmap_size
        self.kernel = blur_kernel(self.grid)

    def forward(self, crops: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, 3, S, S) -> heatmaps (B, L, S/2, S/2), landmarks (B, L, 2)."""
        heatmaps = self.model.heatmaps(crops)
        xy = decode(heatmaps, kernel=self.kernel)
        return heatmaps, from_heatmap_coords(xy, self.input_size, self.grid)


def export_metadata(info: LandmarkModelInfo) -> dict[str, str]:
    """String metadata stored in the exported file (keys prefixed `scaf_al.`)."""
    return {
        "scaf_al.format": "landmark-net/1",
        "scaf_al.input_size": str(info.input_size),
        "scaf_al.num_landmarks": str(info.num_landmarks),
        "scaf_al.arch": info.config.arch,
        "scaf_al.image_mean": json.dumps(list(IMAGE_MEAN)),
        "scaf_al.input": "RGB/255 - image_mean, (B, 3, S, S), the face square",
        "scaf_al.landmarks": "(x, y) in input pixels, 0-based pixel centres",
        "scaf_al.flip_perm": json.dumps(list(info.flip_perm)),
        "scaf_al.eye_idx": json.dumps(list(info.eye_idx)),
    }


def _example(info: LandmarkModelInfo) -> torch.Tensor:
    s = info.input_size
    gen = torch.Generator().manual_seed(0)
    return torch.rand(_TRACE_BATCH, 3, s, s, generator=gen) - torch.tensor(IMAGE_MEAN).view(
        1, 3, 1, 1)


def _export_onnx(net: LandmarkNet, info: LandmarkModelInfo, out: Path) -> None:
    try:
        import onnx
        import onnxscript  # noqa: F401  (the dynamo exporter needs it; fail early and clearly)
    except ImportError as e:
        raise RuntimeError(f"ONNX export needs onnx and onnxscript ({e}); install them with "
                           "pip install 'scaf-al[export]'") from e
    batch = torch.export.Dim("batch", min=1, max=4096)
    program = torch.onnx.export(
        net, (_example(info),), dynamo=True, opset_version=ONNX_OPSET,
        input_names=["crops"], output_names=["heatmaps", "landmarks"],
        dynamic_shapes={"crops": {0: batch}}, external_data=False, verbose=False,
    )
    if program is None:  # pragma: no cover - dynamo=True always returns the program
        raise RuntimeError("torch.onnx.export returned no program")
    proto = program.model_proto
    for key, value in export_metadata(info).items():
        proto.metadata_props.add(key=key, value=value)
    onnx.save_model(proto, str(out), save_as_external_data=False)


def _export_torchscript(net: LandmarkNet, info: LandmarkModelInfo, out: Path) -> None:
    traced = torch.jit.trace(net, (_example(info),), check_trace=False)
    extra = {"scaf_al.json": json.dumps(export_metadata(info))}
    torch.jit.save(traced, str(out), _extra_files=extra)


def export_model(model_path: Path, fmt: Literal["onnx", "torchscript"], out: Path) -> Path:
    """Write the landmark network of a saved model as ONNX or TorchScript.

    Args:
        model_path: a landmark model file (see `trainers.models.landmark_model`).
        fmt: "onnx" or "torchscript".
        out: the file to write (replaced atomically; folders are created).

    Returns:
        `out`.

    Raises:
        ValueError: an unknown format.
        OutputPathError: `out` is the model file itself (nothing is written).
        RuntimeError: ONNX asked for without the `export` extra installed.
        CheckpointError: a model file that is unreadable or not a landmark model.
    """
    if fmt not in FORMATS:
        raise ValueError(f"export format must be one of {FORMATS}, got {fmt!r}")
    refuse_output_over_inputs(out, "--out", {"MODEL": model_path})
    model, info = load_landmark_model(model_path, "cpu")
    net = LandmarkNet(model.float()).eval()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    try:
        with torch.no_grad():
            if fmt == "onnx":
                _export_onnx(net, info, tmp)
            else:
                _export_torchscript(net, info, tmp)
        os.replace(tmp, out)
    finally:
        if tmp.exists():
            tmp.unlink()
    return out
