"""Run a saved landmark model on new images: landmarks in original image pixels.

    from trainers.inference.predict import predict_images
    result = predict_images(Path("model.pt"), [Path("photos/")], Path("pred.csv"),
                            boxes=Path("boxes.csv"), overlay_dir=Path("overlays"))

Cropping is the data sets' own (`trainers.datasets.crops`): with a box, the box is adjusted
by the model's `box_adjust` (the training data set's, stored in the model file), squared
and enlarged to the M x M margin crop; without one, the whole image is the face square
(padded with black to a square about its centre). The network sees the crop's central
S x S window; its heatmap argmaxes map back through the crop's affine (`to_original`).

Output CSV: a header row `image,x0,y0,x1,y1,...,x{L-1},y{L-1}`, then one row per image:
`image` is the path as found (a file argument as given; under a folder argument the folder
joined with the file's relative path), and the coordinates are original image pixels,
0-based pixel centres (the centre of the top-left pixel is (0, 0); x to the right, y down),
three decimals. There is no comment line, so the file is also a `folder` data set
annotation CSV (`annotations="pred.csv"`, 0-based, paths relative to that folder's root).
"""

from __future__ import annotations

import csv
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from trainers.datasets.base import DatasetError, decode_rgb
from trainers.datasets.collect import probe_image
from trainers.datasets.crops import crop_image, face_roi, roi_to_original, square_roi
from trainers.datasets.cropset import CropSet, margin_size
from trainers.inference.inputs import PredictError, find_images, match_boxes, read_boxes
from trainers.inference.safe_files import (
    OverlayFolder,
    overlay_names,
    refuse_output_over_inputs,
    spreadsheet_cell,
)
from trainers.models.fabrec import FabRec
from trainers.models.landmark_model import LandmarkModelInfo, load_landmark_model
from trainers.training.device import resolve_device
from trainers.training.supervised import predict as predict_crops

__all__ = [
    "PredictError",
    "Predictions",
    "draw_overlay",
    "face_crops",
    "predict_images",
    "predict_landmarks",
    "whole_image_roi",
]


@dataclass
class Predictions:
    """What `predict_images` wrote.

    Attributes:
        csv_path: the CSV file.
        images: the CSV's image column, one per image, in order.
        landmarks: (N, L, 2) float64 (x, y) in original image pixels, 0-based centres.
        rois: (N, 4) int64 crop regions l, t, r, b in original pixels (the M x M crop;
            the network saw its central S / M part).
        overlays: the overlay PNGs written (empty without `overlay_dir`).
    """

    csv_path: Path
    images: list[str]
    landmarks: np.ndarray
    rois: np.ndarray
    overlays: list[Path] = field(default_factory=list)


def whole_image_roi(width: int, height: int, input_size: int) -> np.ndarray:
    """The crop region that makes a whole width x height image the face square.

    The image's own extent [0, w) x [0, h) is the box; `square_roi` squares it about the
    image centre (the short side padded with black) and adds the margin.
    """
    return square_roi(np.array([0.0, 0.0, float(width), float(height)]), input_size)


def face_crops(images: Sequence[np.ndarray], boxes: Sequence[np.ndarray | None],
               info: LandmarkModelInfo, names: Sequence[str] | None = None) -> CropSet:
    """Margin crops of `images` for the model in `info` (landmarks unknown, set to 0).

    Args:
        images: H x W x 3 uint8 RGB images.
        boxes: a face box per image (x_min, y_min, x_max, y_max, 0-based), or None for
            "the whole image is the face".
        info: the model's info (input size, box adjustment, layout).
        names: an identifier per image (default: the positions "0", "1", ...).
    """
    s, m = info.input_size, margin_size(info.input_size)
    n = len(images)
    crops = np.zeros((n, m, m, 3), dtype=np.uint8)
    affines = np.zeros((n, 2, 3), dtype=np.float64)
    rois = np.zeros((n, 4), dtype=np.int64)
    for i, (image, box) in enumerate(zip(images, boxes, strict=True)):
        if box is None:
            roi = whole_image_roi(image.shape[1], image.shape[0], s)
        else:
            roi = face_roi(box, None, "bb_ground_truth", s, info.box_adjust)
        crops[i] = crop_image(image, roi, m)
        affines[i] = roi_to_original(roi, m)
        rois[i] = roi
    return CropSet(images=crops, landmarks=np.zeros((n, info.num_landmarks, 2), np.float32),
                   input_size=s, flip_perm=np.asarray(info.flip_perm), eye_idx=info.eye_idx,
                   to_original=affines, meta={"rois": rois},
                   names=[str(i) for i in range(n)] if names is None else list(names))


def _check_readable(paths: Sequence[Path]) -> None:
    """Fail before any work on a missing or non-image file (headers only)."""
    for p in paths:
        try:
            probe_image(p)
        except DatasetError as e:
            raise PredictError(f"{p}: {e}") from e


def _decode(path: Path) -> np.ndarray:
    try:
        return decode_rgb(path)
    except DatasetError as e:  # its message names the file already
        raise PredictError(str(e)) from e


def draw_overlay(image: np.ndarray, landmarks: np.ndarray, box: np.ndarray | None,
                 out: Path) -> Path:
    """Write `image` with `landmarks` (0-based pixel centres) as dots, and the box if any."""
    canvas = Image.fromarray(image)
    draw = ImageDraw.Draw(canvas)
    # Dots scale with the face (or the image) so they stay visible yet apart.
    side = min(canvas.size) / 3 if box is None else max(box[2] - box[0], box[3] - box[1])
    r = max(1.5, side / 60)
    width = max(1, round(r / 2))
    if box is not None:
        draw.rectangle([float(v) for v in box], outline=(255, 64, 64), width=width)
    for x, y in landmarks:
        draw.ellipse([x - r, y - r, x + r, y + r], fill=(64, 255, 64), outline=(0, 0, 0))
    out.parent.mkdir(parents=True, exist_ok=True)
    canvas.save(out, format="PNG")
    return out


def _check_outputs(out_csv: Path, inputs: list[Path], paths: list[Path], boxes: Path | None,
                   model_path: Path, overlay_dir: Path | None) -> OverlayFolder | None:
    """Refuse, before any work, an output that is an input or would replace a user's file;
    the overlay folder to write (None without one)."""
    refuse_output_over_inputs(out_csv, "--out", {"image": paths, "IMAGE_OR_DIR": inputs,
                                                 "--boxes": boxes, "--model": model_path})
    if overlay_dir is None:
        return None
    overlay = OverlayFolder(Path(overlay_dir), overlay_names(inputs, paths))
    overlay.check(paths)
    return overlay


def _csv_header(num_landmarks: int) -> list[str]:
    return ["image"] + [f"{a}{k}" for k in range(num_landmarks) for a in ("x", "y")]


def predict_images(
    model_path: Path,
    inputs: list[Path],
    out_csv: Path,
    *,
    boxes: Path | None = None,
    overlay_dir: Path | None = None,
    device: str = "auto",
    batch_size: int = 32,
    amp: bool = False,
) -> Predictions:
    """Predict landmarks for images and write them as CSV (format in the module docstring).

    Args:
        model_path: a landmark model file (`save_landmark_model`, or a 68/98-point
            checkpoint, see `trainers.models.landmark_model`).
        inputs: image files and folders (searched recursively for .jpg .jpeg .png .ppm .bmp).
        out_csv: the CSV to write (replaced atomically once every image is done).
        boxes: a face-box CSV (format and matching rules in `trainers.inference.inputs`);
            None takes each image as a face crop already.
        overlay_dir: where to write each image with its landmarks drawn (`OverlayFolder`).
        device: "auto" (CUDA when available), "cpu", "cuda", "cuda:1", ...
        batch_size: images decoded, cropped and run together.
        amp: bf16 autocast on CUDA (faster; off by default so GPU and CPU agree).

    Returns:
        The Predictions written.

    Raises:
        PredictError: a missing or unreadable image, or a bad box file (names file and row).
        OutputPathError: `out_csv` is an input, or an overlay would replace a user's file.
        CheckpointError: a model file that is unreadable or not a landmark model.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    paths = find_images(inputs)
    overlay = _check_outputs(Path(out_csv), inputs, paths, boxes, Path(model_path), overlay_dir)
    face_boxes: list[np.ndarray | None] = (
        list(match_boxes(read_boxes(boxes), paths, boxes)) if boxes is not None
        else [None] * len(paths))
    _check_readable(paths)
    dev = resolve_device(device)
    model, info = load_landmark_model(model_path, dev)
    overlay_paths = [] if overlay is None else overlay.begin()
    landmarks, rois, overlays = [], [], []
    for start in range(0, len(paths), batch_size):
        chunk = slice(start, start + batch_size)
        images = [_decode(p) for p in paths[chunk]]
        chunk_landmarks, chunk_rois = predict_landmarks(model, info, images, face_boxes[chunk],
                                                        device=dev, amp=amp)
        landmarks.append(chunk_landmarks)
        rois.append(chunk_rois)
        overlays += [draw_overlay(*args) for args in zip(
            images, landmarks[-1], face_boxes[chunk], overlay_paths[chunk], strict=False)]
    if overlay is not None:
        overlay.finish(overlays)
    result = Predictions(Path(out_csv), [str(p) for p in paths], np.concatenate(landmarks),
                         np.concatenate(rois), overlays)
    _write_csv(result, info.num_landmarks)
    return result


def predict_landmarks(model: FabRec, info: LandmarkModelInfo, images: Sequence[np.ndarray],
                      boxes: Sequence[np.ndarray | None], *, device: torch.device | str = "cpu",
                      amp: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Landmarks of decoded images in original pixels, as one network batch (in memory).

    Args:
        model: the landmark model (e.g. from `load_landmark_model`).
        info: its info (input size, box adjustment, layout).
        images: H x W x 3 uint8 RGB images.
        boxes: a face box per image (x_min, y_min, x_max, y_max, 0-based), or None for
            "the whole image is the face".
        device: where to run the model.
        amp: bf16 autocast on CUDA.

    Returns:
        landmarks (N, L, 2) float64 (x, y), 0-based pixel centres of each image, and the
        (N, 4) crop regions (l, t, r, b).
    """
    crops = face_crops(images, boxes, info)
    pred_crop = np.concatenate([
        out["landmarks"].cpu().numpy()
        for out in predict_crops(model, crops, batch_size=len(crops),
                                 device=resolve_device(device), amp=amp)
    ]).astype(np.float64)
    return crops.landmarks_to_original(pred_crop), crops.meta["rois"]


def _write_csv(result: Predictions, num_landmarks: int) -> None:
    out = result.csv_path
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    try:
        with tmp.open("w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(_csv_header(num_landmarks))
            for name, lms in zip(result.images, result.landmarks, strict=True):
                writer.writerow([spreadsheet_cell(name), *(f"{v:.3f}" for v in lms.reshape(-1))])
        os.replace(tmp, out)
    finally:
        if tmp.exists():
            tmp.unlink()
