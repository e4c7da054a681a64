"""Landmark data sets: 300-W, WFLW, users' folders and synthetic faces, cropped as 3FabRec
does, and any data set a plugin registers (`trainers.datasets.registry`).

    from trainers.datasets import open_dataset, build_cropset, load_cropset
    ds = open_dataset("300w", root, "train")          # or "wflw", "folder", "synthetic"
    cs = build_cropset(ds, input_size=256, cache_dir=Path("~/.cache/scaf-al/crops"))
    cs = load_cropset("300w", root, "train", 256, cache_dir=...)   # both steps at once

Importing this package registers the built-in data sets (`trainers.datasets.builtin`);
plugins are loaded at the first lookup of a name.
"""

from __future__ import annotations

import trainers.datasets.builtin  # noqa: F401 - registers the built-in data sets
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
from trainers.datasets.opening import (
    dataset_options,
    dataset_splits,
    is_generated,
    load_cropset,
    open_dataset,
)
from trainers.datasets.registry import (
    DatasetInfo,
    DatasetRegistryError,
    dataset_names,
    find_dataset,
    get_dataset,
    register_dataset,
)
from trainers.datasets.subsets import ReducedSet, reduced_indices, resolve_count, select_subset

__all__ = [
    "CROP_SOURCES",
    "IBUG_68",
    "WFLW_98",
    "CropSet",
    "DatasetCountWarning",
    "DatasetError",
    "DatasetInfo",
    "DatasetRegistryError",
    "LandmarkDataset",
    "Layout",
    "ReducedSet",
    "SkippedFilesWarning",
    "build_cropset",
    "centre_offset",
    "dataset_names",
    "dataset_options",
    "dataset_splits",
    "find_dataset",
    "get_dataset",
    "is_generated",
    "load_cropset",
    "margin_size",
    "open_dataset",
    "reduced_indices",
    "register_dataset",
    "resolve_count",
    "select_subset",
]
