"""300-W as users download it from iBUG: per-subset folders of images with `.pts` files.

The root is the folder holding `lfpw/`, `helen/`, `afw/`, `ibug/` and `300W/` (plus,
optionally, `Bounding Boxes/` from the separate box archive). Faces are the `.pts` files
of each subset folder in sorted file-name order, each paired with the image of the same
stem; splits concatenate folders in 3FabRec's order (AFW, HELEN, LFPW for training), which
the first-N reduced sets depend on. Boxes come from `Bounding Boxes/bounding_boxes_*.mat`
when present (1-based like the `.pts` files) and from the landmarks otherwise (the 2015
private test set has no official boxes).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from trainers.datasets.base import DatasetError, LandmarkDataset
from trainers.datasets.collect import (
    DEFAULT_MAX_OUTSIDE,
    FaceCollector,
    FaceRecord,
    check_count,
)
from trainers.datasets.layouts import IBUG_68
from trainers.datasets.pts import read_pts
from trainers.datasets.registry import IMAGE_SUFFIXES, register_dataset


@dataclass(frozen=True)
class Subset:
    """One folder of the download: where it is, its official face count, its box file."""

    folder: str
    expected: int
    mat_name: str | None  # stem of Bounding Boxes/bounding_boxes_<mat_name>.mat


SUBSETS: dict[str, Subset] = {
    s.folder: s
    for s in (
        Subset("afw", 337, "afw"),
        Subset("helen/trainset", 2000, "helen_trainset"),
        Subset("lfpw/trainset", 811, "lfpw_trainset"),
        Subset("helen/testset", 330, "helen_testset"),
        Subset("lfpw/testset", 224, "lfpw_testset"),
        Subset("ibug", 135, "ibug"),
        Subset("300W/01_Indoor", 300, None),
        Subset("300W/02_Outdoor", 300, None),
    )
}

SPLITS: dict[str, tuple[str, ...]] = {
    "train": ("afw", "helen/trainset", "lfpw/trainset"),
    "common": ("helen/testset", "lfpw/testset"),
    "challenging": ("ibug",),
    "full": ("helen/testset", "lfpw/testset", "ibug"),
    "private": ("300W/01_Indoor", "300W/02_Outdoor"),
}

SPLIT_SIZES = {name: sum(SUBSETS[f].expected for f in folders) for name, folders in SPLITS.items()}

# 3FabRec's box adjustment for 300-W: top up by 0.2 h, bottom down by 0.12 h.
BOX_ADJUST = (0.2, 0.12)

BBOX_DIR = "Bounding Boxes"


def read_mat_boxes(path: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Read an iBUG `bounding_boxes_*.mat` file.

    Returns:
        {image file name: (bb_detector, bb_ground_truth)}, each (4,) 0-based
        x_min, y_min, x_max, y_max.

    Raises:
        DatasetError: naming the file when it is not in the expected layout (a 1 x N cell
            array `bounding_boxes` of structs imgName, bb_detector, bb_ground_truth).
    """
    import scipy.io

    try:
        mat = scipy.io.loadmat(str(path))
    except Exception as e:  # scipy raises several types for damaged files
        raise DatasetError(f"{path}: unreadable .mat file ({e})") from e
    if "bounding_boxes" not in mat:
        raise DatasetError(
            f"{path}: no variable 'bounding_boxes' (found {sorted(k for k in mat if k[0] != '_')})"
        )
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    try:
        cells = np.asarray(mat["bounding_boxes"]).ravel()
        for i, cell in enumerate(cells):
            rec = cell[0, 0] if cell.ndim == 2 else cell[0]
            names = rec.dtype.names or ()
            if {"imgName", "bb_detector", "bb_ground_truth"} <= set(names):
                name, det, gt = rec["imgName"], rec["bb_detector"], rec["bb_ground_truth"]
            else:  # positional, the order of the iBUG files
                name, det, gt = rec[0], rec[1], rec[2]
            name = str(np.asarray(name).ravel()[0])
            det = np.asarray(det, dtype=np.float64).ravel()
            gt = np.asarray(gt, dtype=np.float64).ravel()
            if det.shape != (4,) or gt.shape != (4,):
                raise DatasetError(f"{path}: entry {i} ({name}): boxes must have 4 values")
            out[name] = (det - 1.0, gt - 1.0)
    except DatasetError:
        raise
    except (IndexError, TypeError, ValueError, KeyError) as e:
        raise DatasetError(
            f"{path}: 'bounding_boxes' is not a cell array of (imgName, bb_detector, "
            f"bb_ground_truth) structs ({e})"
        ) from e
    return out


def _find_image(pts_path: Path) -> Path | None:
    for ext in IMAGE_SUFFIXES:
        for cand in (pts_path.with_suffix(ext), pts_path.with_suffix(ext.upper())):
            if cand.is_file():
                return cand
    return None


@register_dataset(
    "300w", title="300-W", splits=tuple(SPLITS), train_split="train",
    test_splits=("common", "challenging", "full"), pretrain_split="train",
    split_sizes=SPLIT_SIZES,
    split_titles={"common": "Common", "challenging": "Challenging", "full": "Full"},
    # "full" is common + challenging: its NME comes from their per-image errors.
    derived_splits={"full": ("common", "challenging")},
    layout=IBUG_68, boxes=".mat", suffixes=IMAGE_SUFFIXES,
)
def open_300w(
    root: Path,
    split: str,
    strict: bool = False,
    on_bad_file: str = "error",
    bbox_dir: Path | None = None,
    check_images: bool = True,
    max_outside: float = DEFAULT_MAX_OUTSIDE,
) -> LandmarkDataset:
    """Open one split of 300-W in the standard iBUG download layout.

    Args:
        root: folder holding lfpw/, helen/, afw/, ibug/ and 300W/.
        split: "train" (3148), "common" (554), "challenging" (135), "full" (689) or
            "private" (600, the 300W indoor + outdoor test set).
        strict: raise instead of warning when a folder's count differs from the official one.
        on_bad_file: "error" stops with a list of every bad file; "skip" leaves them out and
            records (path, reason) in `ds.skipped`.
        bbox_dir: folder of the iBUG `bounding_boxes_*.mat` files (default
            root/"Bounding Boxes"); without them boxes come from the landmarks.
        check_images: read every image header (existence, readability, size for the
            landmarks-outside test). Decoding errors still surface when cropping.
        max_outside: how far (fraction of the image side) landmarks may stick out.

    Raises:
        ValueError: for an unknown split.
        DatasetError: for a missing folder, a count mismatch with strict=True, or bad
            files with on_bad_file="error".
    """
    if split not in SPLITS:
        raise ValueError(f"300-W split must be one of {sorted(SPLITS)}, got {split!r}")
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"300-W root {root} is not a folder")
    bbox_dir = Path(bbox_dir) if bbox_dir is not None else root / BBOX_DIR
    faces = FaceCollector(f"300-W {split} under {root}", on_bad_file,
                          num_landmarks=IBUG_68.num_landmarks, check_images=check_images,
                          max_outside=max_outside)
    count_problems: list[str] = []
    mat_files: list[Path] = []
    for folder in SPLITS[split]:
        count_problem, mat_file = _read_folder(root, folder, bbox_dir, strict, faces)
        count_problems += [count_problem] if count_problem else []
        mat_files += [mat_file] if mat_file else []
    return faces.dataset(
        name="300w", split=split, root=root, layout=IBUG_68, box_adjust=BOX_ADJUST,
        detector_boxes=bool(mat_files), annotation_files=mat_files,
        count_problems=count_problems,
    )


def _read_folder(
    root: Path, folder: str, bbox_dir: Path, strict: bool, faces: FaceCollector
) -> tuple[str | None, Path | None]:
    """Parse one subset folder into `faces`; returns (its count mismatch, the .mat read)."""
    sub = SUBSETS[folder]
    folder_path = root / folder
    if not folder_path.is_dir():
        raise DatasetError(
            f"300-W folder not found: {folder_path} (expected {sub.expected} .pts files); "
            "the root must be the folder holding lfpw/, helen/, afw/, ibug/ and 300W/"
        )
    pts_files = sorted(folder_path.glob("*.pts"), key=lambda p: p.name)
    count_problem = check_count(folder, len(pts_files), sub.expected, strict)
    # Images without a .pts are bad files too: a face we cannot use must not vanish.
    pts_stems = {p.stem for p in pts_files}
    for img in sorted(folder_path.iterdir()):
        if img.suffix.lower() in IMAGE_SUFFIXES and img.stem not in pts_stems:
            faces.bad_file(img, "image without a .pts file")
    mat_file = None
    if sub.mat_name is not None and (bbox_dir / f"bounding_boxes_{sub.mat_name}.mat").is_file():
        mat_file = bbox_dir / f"bounding_boxes_{sub.mat_name}.mat"
    mat_boxes = read_mat_boxes(mat_file) if mat_file else None
    for pts in pts_files:
        face = _parse_face(pts, folder, mat_boxes, mat_file, faces)
        if face is not None:
            faces.add(face)
    return count_problem, mat_file


def _parse_face(
    pts: Path,
    folder: str,
    mat_boxes: dict[str, tuple[np.ndarray, np.ndarray]] | None,
    mat_file: Path | None,
    faces: FaceCollector,
) -> FaceRecord | None:
    """One .pts file and its image as a FaceRecord, or None after reporting why not."""
    image = _find_image(pts)
    if image is None:
        faces.bad_file(pts, f"no image with stem {pts.stem!r} ({'/'.join(IMAGE_SUFFIXES)})")
        return None
    try:
        lms = read_pts(pts)
    except DatasetError as e:
        faces.bad_file(pts, str(e).removeprefix(f"{pts}: "))
        return None
    det = gt = None  # without a .mat file the box is the one around the landmarks
    if mat_boxes is not None and mat_file is not None:
        if image.name not in mat_boxes:
            faces.bad_file(image, f"no box in {mat_file.name}")
            return None
        det, gt = mat_boxes[image.name]
    return FaceRecord(image=image, landmarks=lms, name=f"{folder}/{image.name}", group=folder,
                      where=pts, box=gt, detector_box=det)
