"""Landmark data sets: 300-W, WFLW, users' folders and synthetic faces, cropped as 3FabRec does.

    from trainers.datasets import open_dataset, build_cropset
    ds = open_dataset("300w", root, "train")          # or "wflw", "folder", "synthetic"
    cs = build_cropset(ds, input_size=256, cache_dir=Path("~/.cache/scaf-al/crops"))

Loaders import lazily so that importing this package stays cheap.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from trainers.datasets.base import (
    DatasetCountWarning,
    DatasetError,
    LandmarkDataset,
    SkippedFilesWarning,
)
from trainers.datasets.crop_cache import build_cropset
from trainers.datasets.crops import CROP_SOURCES
from trainers.datasets.cropset import CropSet, centre_offset, margin_size
from trainers.datasets.layouts import IBUG_68, WFLW_98, Layout
from trainers.datasets.subsets import ReducedSet, reduced_indices, resolve_count, select_subset

DATASETS = ("300w", "wflw", "folder", "synthetic")

__all__ = [
    "CROP_SOURCES",
    "DATASETS",
    "IBUG_68",
    "WFLW_98",
    "CropSet",
    "DatasetCountWarning",
    "DatasetError",
    "LandmarkDataset",
    "Layout",
    "ReducedSet",
    "SkippedFilesWarning",
    "build_cropset",
    "centre_offset",
    "dataset_splits",
    "margin_size",
    "open_dataset",
    "reduced_indices",
    "resolve_count",
    "select_subset",
]


def dataset_splits(name: str) -> tuple[str, ...]:
    """The split names a data set accepts ("folder": "all" plus any sub-folder name)."""
    name = name.lower()
    if name == "300w":
        from trainers.datasets.w300 import SPLITS

        return tuple(SPLITS)
    if name == "wflw":
        from trainers.datasets.wflw import SPLITS as WFLW_SPLITS

        return WFLW_SPLITS
    if name == "folder":
        return ("all",)
    if name == "synthetic":
        return ("train", "test")
    raise ValueError(f"unknown data set {name!r}; choose one of {DATASETS}")


def open_dataset(
    name: str, root: str | Path, split: str, strict: bool = False, **options: Any
) -> LandmarkDataset:
    """Open one split of a data set.

    Args:
        name: "300w", "wflw", "folder" or "synthetic".
        root: 300-W: the folder holding lfpw/, helen/, afw/, ibug/, 300W/; WFLW: the
            folder holding WFLW_images/ and WFLW_annotations/; folder: the user's folder.
        split: 300-W "train", "common", "challenging", "full", "private"; WFLW "train",
            "test", "pose", "expression", "illumination", "makeup", "occlusion", "blur";
            folder "all" or a sub-folder / split field.
        strict: official-count mismatches raise instead of warning.
        **options: loader options, e.g. on_bad_file="error" | "skip", check_images,
            max_outside; 300-W bbox_dir; folder annotations, flip_perm, eye_idx,
            num_landmarks, box_adjust, one_based; synthetic: the generator's options.

    Raises:
        ValueError: for an unknown data set, split or option.
        DatasetError: for missing or bad files (see the loaders).
    """
    key = name.lower()
    root = Path(root).expanduser()
    try:
        if key == "300w":
            from trainers.datasets.w300 import open_300w

            return open_300w(root, split, strict=strict, **options)
        if key == "wflw":
            from trainers.datasets.wflw import open_wflw

            return open_wflw(root, split, strict=strict, **options)
        if key == "folder":
            from trainers.datasets.folder import open_folder

            return open_folder(root, split, strict=strict, **options)
    except TypeError as e:
        if "unexpected keyword argument" in str(e):
            raise ValueError(f"{name}: {e}") from e
        raise
    if key == "synthetic":
        from trainers.datasets.synthetic import SyntheticFaces

        return SyntheticFaces(root, split, **options)
    raise ValueError(f"unknown data set {name!r}; choose one of {DATASETS}")
