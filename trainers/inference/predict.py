"""Run a saved landmark model on new images: landmarks in original image pixels.

    from trainers.inference.predict import predict_images
    result = predict_images(Path("model.pt"), [Path("photos/")], Path("pred.csv"),
                            boxes=Path("boxes.csv"), overlay_dir=Path("overlays"))

Faces: the rows of a box CSV (several per image), else the face detector's
(`trainers.inference.detect`; `min_face` leaves out small ones), else, with
`whole_image=True`, each image is one face already (padded to a square about its centre).
Images are read upright (EXIF orientation applied) and only their crops are kept
(`trainers.inference.faces`). Cropping is the data sets' own (`trainers.datasets.crops`):
the box is adjusted by the model's `box_adjust` (stored in the model file), squared and
enlarged to the M x M margin crop. The network sees the crop's central S x S window; its
heatmap argmaxes map back through the crop's affine (`to_original`).

Output CSV: a header row `image,face,x_min,y_min,x_max,y_max,x0,y0,...,x{L-1},y{L-1}`, then
one row per face: `image` is the path as found (a file argument as given; under a folder
argument the folder joined with the file's relative path), `face` the face index (1, 2,
...), the box the face's, and the coordinates original image pixels in the upright frame,
0-based pixel centres (the centre of the top-left pixel is (0, 0); x to the right, y down),
three decimals. An image where no face was found has no row (`Predictions.no_face`).
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
from trainers.inference.detect import FaceDetector
from trainers.inference.faces import (
    PhotoFace,
    cut_crops,
    detect_faces,
    given_faces,
    stack,
    whole_image_face,
)
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
        images: the CSV's image column, one per face (row), in order.
        faces: the face index of each row (1, 2, ...).
        boxes: (N, 4) float64 face boxes x_min, y_min, x_max, y_max (original pixels).
        scores: (N,) the detector's score per face (NaN for given boxes).
        landmarks: (N, L, 2) float64 (x, y) in original image pixels, 0-based centres.
        rois: (N, 4) int64 crop regions l, t, r, b in original pixels (the M x M crop;
            the network saw its central S / M part).
        overlays: the overlay PNGs written (empty without `overlay_dir`).
        no_face: the images where no face was found (no rows).
    """

    csv_path: Path
    images: list[str]
    landmarks: np.ndarray
    rois: np.ndarray
    overlays: list[Path] = field(default_factory=list)
    faces: list[int] = field(default_factory=list)
    boxes: np.ndarray = field(default_factory=lambda: np.zeros((0, 4)))
    scores: np.ndarray = field(default_factory=lambda: np.zeros(0))
    no_face: list[str] = field(default_factory=list)


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


def draw_overlay(image: np.ndarray, landmarks: np.ndarray, box: np.ndarray | None,
                 out: Path) -> Path:
    """Write `image` with `landmarks` (0-based pixel centres; (L, 2) for one face or
    (F, L, 2) for several) as dots, and the face box(es) if any."""
    lms = np.asarray(landmarks, dtype=np.float64)
    faces = lms[None] if lms.ndim == 2 else lms
    boxes = [None] * len(faces) if box is None else list(np.asarray(box).reshape(-1, 4))
    canvas = Image.fromarray(image)
    draw = ImageDraw.Draw(canvas)
    for face, face_box in zip(faces, boxes, strict=True):
        # Dots scale with the face (or the image) so they stay visible yet apart.
        side = (min(canvas.size) / 3 if face_box is None
                else max(face_box[2] - face_box[0], face_box[3] - face_box[1]))
        r = max(1.5, side / 60)
        if face_box is not None:
            draw.rectangle([float(v) for v in face_box], outline=(255, 64, 64),
                           width=max(1, round(r / 2)))
        for x, y in face:
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


CSV_COLUMNS = ("image", "face", "x_min", "y_min", "x_max", "y_max")


def _csv_header(num_landmarks: int) -> list[str]:
    return [*CSV_COLUMNS] + [f"{a}{k}" for k in range(num_landmarks) for a in ("x", "y")]


def photo_faces(path: Path, given: dict[int, np.ndarray] | None,
                detector: FaceDetector | None) -> list[PhotoFace]:
    """A photo's faces: the box file's, else the detector's, else the whole image."""
    if given is not None:
        return given_faces(given)
    if detector is not None:
        try:
            return detect_faces(path, detector)
        except DatasetError as e:
            raise PredictError(str(e)) from e
    return [whole_image_face(probe_image(path))]


def face_rois(faces: Sequence[PhotoFace], input_size: int, box_adjust: Sequence[float],
              whole_image: bool) -> list[np.ndarray]:
    """The crop region of each face (whole-image faces: the image padded to a square)."""
    if whole_image:
        return [whole_image_roi(int(f.box[2]), int(f.box[3]), input_size) for f in faces]
    adjust = (float(box_adjust[0]), float(box_adjust[1]))
    return [face_roi(f.box, None, "bb_ground_truth", input_size, adjust) for f in faces]


def rois_cropset(crops: list[np.ndarray], rois: Sequence[np.ndarray],
                 info: LandmarkModelInfo) -> CropSet:
    """The network's input for faces already cut (`cut_crops`) from their crop regions
    `rois` (landmarks unknown, set to 0)."""
    m = margin_size(info.input_size)
    return CropSet(images=stack(crops, m),
                   landmarks=np.zeros((len(rois), info.num_landmarks, 2), np.float32),
                   input_size=info.input_size, flip_perm=np.asarray(info.flip_perm),
                   eye_idx=info.eye_idx,
                   to_original=np.stack([roi_to_original(r, m) for r in rois]),
                   names=[str(i) for i in range(len(rois))])


@dataclass
class _Rows:
    """The faces collected so far and the crops still waiting for the network."""

    names: list[str] = field(default_factory=list)
    faces: list[PhotoFace] = field(default_factory=list)
    rois: list[np.ndarray] = field(default_factory=list)
    landmarks: list[np.ndarray] = field(default_factory=list)
    crops: list[np.ndarray] = field(default_factory=list)

    def add(self, path: Path, faces: list[PhotoFace], rois: list[np.ndarray],
            input_size: int) -> None:
        """One photo's faces, their crops cut (the photo decoded and released)."""
        self.names += [str(path)] * len(faces)
        self.faces += faces
        self.rois += rois
        self.crops += cut_crops(path, rois, margin_size(input_size))

    def predictions(self, out_csv: Path, num_landmarks: int, no_face: list[str]
                    ) -> Predictions:
        n = len(self.names)
        return Predictions(
            out_csv, self.names, np.asarray(self.landmarks).reshape(n, num_landmarks, 2),
            np.asarray(self.rois, dtype=np.int64).reshape(n, 4),
            faces=[f.face for f in self.faces],
            boxes=np.asarray([f.box for f in self.faces], dtype=np.float64).reshape(n, 4),
            scores=np.asarray([f.score for f in self.faces], dtype=np.float64),
            no_face=no_face)


def _flush(rows: _Rows, model: FabRec, info: LandmarkModelInfo, dev: torch.device,
           amp: bool) -> None:
    """Run the network on the waiting crops; their landmarks join `rows.landmarks`."""
    if not rows.crops:
        return
    crops = rois_cropset(rows.crops, rows.rois[len(rows.rois) - len(rows.crops):], info)
    pred = np.concatenate([out["landmarks"].cpu().numpy() for out in predict_crops(
        model, crops, batch_size=len(crops), device=dev, amp=amp)]).astype(np.float64)
    rows.landmarks.extend(crops.landmarks_to_original(pred))


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
    whole_image: bool = False,
    min_face: int = 0,
) -> Predictions:
    """Predict landmarks for every face of the images and write them as CSV (format in the
    module docstring); returns the Predictions written.

    Args:
        model_path: a landmark model file (`save_landmark_model`, or a 68/98-point
            checkpoint, see `trainers.models.landmark_model`).
        inputs: image files and folders (searched recursively for .jpg .jpeg .png .ppm .bmp).
        out_csv: the CSV to write (replaced atomically once every image is done).
        boxes: a face-box CSV (format and matching rules in `trainers.inference.inputs`);
            None: faces are found by the detector (extra `scaf-al[detect]`).
        overlay_dir: where to write each image with its faces drawn (`OverlayFolder`).
        device: "auto" (CUDA when available), "cpu", "cuda", "cuda:1", ...
        batch_size: face crops run through the network together.
        amp: bf16 autocast on CUDA (faster; off by default so GPU and CPU agree).
        whole_image: without boxes, take each image as one face crop already.
        min_face: leave out detected faces smaller than this many pixels.

    Raises:
        PredictError: a missing or unreadable image, a bad box file, or the detector's
            extra not installed (one line naming the file, and the row for box files).
        OutputPathError: `out_csv` is an input, or an overlay would replace a user's file.
        CheckpointError: a model file that is unreadable or not a landmark model.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    paths = find_images(inputs)
    overlay = _check_outputs(Path(out_csv), inputs, paths, boxes, Path(model_path), overlay_dir)
    given = match_boxes(read_boxes(boxes), paths, boxes) if boxes is not None else None
    _check_readable(paths)
    detector = None if given is not None or whole_image else FaceDetector(min_face)
    model, info = load_landmark_model(model_path, dev := resolve_device(device))
    rows, no_face = _Rows(), []
    for i, p in enumerate(paths):
        if faces := photo_faces(p, None if given is None else given[i], detector):
            rows.add(p, faces, face_rois(faces, info.input_size, info.box_adjust,
                                         given is None and whole_image), info.input_size)
        else:
            no_face.append(str(p))
        if len(rows.crops) >= batch_size:
            _flush(rows, model, info, dev, amp)
    _flush(rows, model, info, dev, amp)
    result = rows.predictions(Path(out_csv), info.num_landmarks, no_face)
    if overlay is not None:
        result.overlays = _overlays(result, paths, overlay.begin(), whole_image and not boxes)
        overlay.finish(result.overlays)
    _write_csv(result, info.num_landmarks)
    return result


def _overlays(result: Predictions, paths: Sequence[Path], targets: Sequence[Path],
              whole: bool) -> list[Path]:
    """One overlay per image with faces (at its target path), every face drawn (images
    decoded one at a time)."""
    written = []
    for p, target in zip(paths, targets, strict=True):
        rows = [k for k, image in enumerate(result.images) if image == str(p)]
        if rows:
            written.append(draw_overlay(decode_rgb(p), result.landmarks[rows],
                                        None if whole else result.boxes[rows], target))
    return written


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
            for k, (name, lms) in enumerate(zip(result.images, result.landmarks, strict=True)):
                writer.writerow([spreadsheet_cell(name), result.faces[k],
                                 *(f"{v:.3f}" for v in result.boxes[k]),
                                 *(f"{v:.3f}" for v in lms.reshape(-1))])
        os.replace(tmp, out)
    finally:
        if tmp.exists():
            tmp.unlink()
