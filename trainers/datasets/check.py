"""`scaf-al datasets check NAME ROOT`: what a download holds, split by split.

`check_dataset` opens every split with bad files skipped (so that one run lists all the
problems) and returns one plain `SplitCheck` per split; the orchestrator renders them.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from trainers.datasets.base import DatasetError, LandmarkDataset, landmark_boxes
from trainers.datasets.registry import DatasetInfo


@dataclass
class SplitCheck:
    """What one split of a download holds.

    Attributes:
        split: the split name.
        faces: usable faces.
        expected: the official count, or None when there is none.
        skipped: bad files left out.
        problems: messages (count mismatches, "path: reason" of bad files, or the error
            that stopped the split from opening).
        boxes: where the boxes come from (".mat", "annotation", "landmarks"; "" on error).
        box_vs_landmarks_px: median |bb_ground_truth - landmark extent| for 300-W .mat
            boxes, else None.
        status: "ok", "warning" (problems, but the split opened) or "error".
    """

    split: str
    faces: int = 0
    expected: int | None = None
    skipped: int = 0
    problems: list[str] = field(default_factory=list)
    boxes: str = ""
    box_vs_landmarks_px: float | None = None
    status: str = "ok"


def failing_splits(rows: list[SplitCheck], strict: bool) -> list[str]:
    """The splits with errors (and, with strict=True, with warnings)."""
    failing = {"error", "warning"} if strict else {"error"}
    return [r.split for r in rows if r.status in failing]


def _box_note(info: DatasetInfo, ds: Any) -> tuple[str, float | None]:
    """Where the boxes come from and, for .mat boxes, how far they are from the points."""
    if "bb_detector" not in ds.box_sets or info.boxes != ".mat":
        return ("landmarks" if info.boxes == ".mat" else info.boxes), None
    has_det = np.isfinite(ds.box_sets["bb_detector"]).all(axis=1)
    if len(ds) == 0 or not has_det.any():
        return "landmarks", None
    # bb_ground_truth should be the tight box around the points (1-based in both files):
    # a systematic offset here would reveal a coordinate-convention error.
    diff = np.abs(ds.boxes[has_det] - landmark_boxes(ds.landmarks[has_det]))
    source = ".mat" if has_det.all() else f".mat ({int(has_det.sum())}/{len(ds)})"
    return source, float(np.median(diff))


def check_dataset(name: str, root: str | Path, **options: Any) -> list[SplitCheck]:
    """Open every split of a data set and summarise what was found.

    Args:
        name: a registered data set read from disk ("300w", "wflw", "folder", a plugin's).
        root: the data set root, as for `open_dataset`.
        **options: loader options (on_bad_file is forced to "skip", strict to False).

    Returns:
        One SplitCheck per split, in the data set's split order.

    Raises:
        ValueError: for generated data (nothing on disk to check) or an unknown name.
    """
    from trainers.datasets import get_dataset

    info = get_dataset(name)
    if info.generated:
        raise ValueError(f"the {info.name} data set is generated, there is nothing to check")
    options = {**options, "on_bad_file": "skip"}
    options.pop("strict", None)
    return [_check_split(info, root, split, options) for split in info.splits]


def _check_split(info: DatasetInfo, root: str | Path, split: str,
                 options: dict[str, Any]) -> SplitCheck:
    from trainers.datasets import open_dataset

    key = info.name
    row = SplitCheck(split=split, expected=info.split_sizes.get(split))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = open_dataset(key, root, split, strict=False, **options)
    except (DatasetError, ValueError) as e:
        row.status = "error"
        row.problems = [str(e)]
        return row
    assert isinstance(ds, LandmarkDataset)  # check_dataset turns generated data away
    row.faces = len(ds)
    row.skipped = len(ds.skipped)
    row.problems = list(ds.count_problems) + [f"{p}: {r}" for p, r in ds.skipped]
    row.boxes, row.box_vs_landmarks_px = _box_note(info, ds)
    if row.problems:
        row.status = "warning"
    return row
