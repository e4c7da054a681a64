"""WFLW as its two archives unpack: `WFLW_images/` and `WFLW_annotations/` under one root.

Faces are the lines of `WFLW_annotations/list_98pt_rect_attr_train_test/
list_98pt_rect_attr_{train,test}.txt`, 207 space-separated fields each: 98 (x, y) pairs,
the face rectangle x_min y_min x_max y_max, six 0/1 flags (pose, expression,
illumination, make-up, occlusion, blur) and the image path relative to `WFLW_images/`.
The test subsets are the test lines whose flag is 1, as 3FabRec builds them. The
coordinate origin is not documented; values are used as given (0-based).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from trainers.datasets.base import DatasetError, LandmarkDataset
from trainers.datasets.collect import (
    DEFAULT_MAX_OUTSIDE,
    FaceCollector,
    FaceRecord,
    check_count,
)
from trainers.datasets.layouts import WFLW_98
from trainers.datasets.registry import register_dataset

ANNOTATION_DIR = Path("WFLW_annotations") / "list_98pt_rect_attr_train_test"
IMAGE_DIR = "WFLW_images"
NUM_FIELDS = 207
FLAGS = ("pose", "expression", "illumination", "makeup", "occlusion", "blur")
SPLITS = ("train", "test", *FLAGS)
SPLIT_SIZES = {"train": 7500, "test": 2500}
# Widely reported subset sizes, not verified against the files (data-and-eval.md 2):
# a mismatch is always only a warning.
SUBSET_SIZES = {
    "pose": 326, "expression": 314, "illumination": 698,
    "makeup": 206, "occlusion": 736, "blur": 773,
}  # fmt: skip

# 3FabRec's box adjustment for WFLW: only the bottom moves down, by 0.1 h.
BOX_ADJUST = (0.0, 0.1)


def annotation_file(root: Path, split: str) -> Path:
    """The rect_attr list a split is read from."""
    part = "train" if split == "train" else "test"
    return Path(root) / ANNOTATION_DIR / f"list_98pt_rect_attr_{part}.txt"


def parse_line(line: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
    """One rect_attr line -> (landmarks (98, 2), box (4,), flags (6,) int, image path).

    Raises:
        ValueError: describing the problem (field count, non-numbers, flags not 0/1).
    """
    fields = line.split()
    if len(fields) != NUM_FIELDS:
        raise ValueError(f"{len(fields)} fields, expected {NUM_FIELDS}")
    try:
        values = np.array([float(v) for v in fields[:196]], dtype=np.float64)
    except ValueError as e:
        raise ValueError(f"landmark coordinates are not numbers ({e})") from e
    try:
        box = np.array([float(v) for v in fields[196:200]], dtype=np.float64)
        flags = np.array([int(v) for v in fields[200:206]], dtype=np.int64)
    except ValueError as e:
        raise ValueError(f"face rectangle or attribute flags are not numbers ({e})") from e
    if not np.all(np.isin(flags, (0, 1))):
        raise ValueError(f"attribute flags must be 0 or 1, got {flags.tolist()}")
    return values.reshape(98, 2), box, flags, fields[206]


@register_dataset(
    "wflw", title="WFLW", splits=SPLITS, train_split="train", test_splits=("test",),
    pretrain_split="train", split_sizes={**SPLIT_SIZES, **SUBSET_SIZES},
    split_titles={"test": "Full", "pose": "Pose", "expression": "Expr.",
                  "illumination": "Illum.", "makeup": "Make-up", "occlusion": "Occl.",
                  "blur": "Blur"},
    layout=WFLW_98, boxes="annotation", suffixes=(".jpg",),  # WFLW_images ships JPEGs
)
def open_wflw(
    root: Path,
    split: str,
    strict: bool = False,
    on_bad_file: str = "error",
    check_images: bool = True,
    max_outside: float = DEFAULT_MAX_OUTSIDE,
) -> LandmarkDataset:
    """Open one split of WFLW.

    Args:
        root: folder holding WFLW_images/ and WFLW_annotations/.
        split: "train" (7500), "test" (2500) or a test subset: "pose", "expression",
            "illumination", "makeup", "occlusion", "blur".
        strict: raise instead of warning when the train/test count differs from the
            official one (subset sizes are unverified and only ever warn).
        on_bad_file: "error" or "skip" (see LandmarkDataset).
        check_images: read each image header once (existence, readability, size).
        max_outside: how far (fraction of the image side) landmarks may stick out.

    Raises:
        ValueError: for an unknown split.
        DatasetError: for missing files, strict count mismatches or bad lines/images.
    """
    if split not in SPLITS:
        raise ValueError(f"WFLW split must be one of {list(SPLITS)}, got {split!r}")
    root = Path(root)
    ann = annotation_file(root, split)
    if not ann.is_file():
        raise DatasetError(
            f"WFLW annotation list not found: {ann}; the root must be the folder holding "
            "WFLW_images/ and WFLW_annotations/ as the two archives unpack"
        )
    image_dir = root / IMAGE_DIR
    if not image_dir.is_dir():
        raise DatasetError(f"WFLW image folder not found: {image_dir}")
    faces = FaceCollector(f"WFLW {split} under {root}", on_bad_file,
                          num_landmarks=WFLW_98.num_landmarks, check_images=check_images,
                          max_outside=max_outside)
    try:
        text = ann.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise DatasetError(f"{ann}: unreadable annotation list ({e})") from e
    n_lines, n_subset = _read_lines(text, ann, image_dir, split, faces)
    count_problem = _check_counts(ann, split, n_lines, n_subset, strict)
    return faces.dataset(
        name="wflw", split=split, root=root, layout=WFLW_98, box_adjust=BOX_ADJUST,
        # WFLW has one rectangle per face; 3FabRec crops from it for both box sources.
        detector_boxes=True, attribute_names=FLAGS, annotation_files=[ann],
        count_problems=[count_problem] if count_problem else [],
    )


def _read_lines(
    text: str, ann: Path, image_dir: Path, split: str, faces: FaceCollector
) -> tuple[int, int]:
    """Parse the annotation lines of `split` into `faces`; returns (lines, subset faces)."""
    flag_i = FLAGS.index(split) if split in FLAGS else None
    n_lines = n_subset = 0
    for line_no, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        n_lines += 1
        where = f"{ann.name}:{line_no}"
        try:
            lms, box, flags, rel = parse_line(line)
        except ValueError as e:
            faces.bad_file(where, str(e))
            continue
        if flag_i is not None and flags[flag_i] != 1:
            continue
        n_subset += 1
        label = f"{where} ({rel})"
        faces.add(FaceRecord(
            image=image_dir / rel, landmarks=lms, name=f"{rel}@{line_no}",
            group=rel.split("/")[0], where=label, box=box, detector_box=box,
            attributes={f: int(v) for f, v in zip(FLAGS, flags, strict=True)},
            image_where=label,
        ))
    return n_lines, n_subset


def _check_counts(ann: Path, split: str, n_lines: int, n_subset: int, strict: bool) -> str | None:
    """Compare the face count with the official one (subset sizes only ever warn)."""
    if split not in FLAGS:
        expected = SPLIT_SIZES["train" if split == "train" else "test"]
        return check_count(ann.name, n_lines, expected, strict, unit="faces")
    return check_count(
        f"{ann.name} {split} subset", n_subset, SUBSET_SIZES[split], strict=False,
        unit="faces", note=" (the expected size is unverified)",
    )
