"""Landmark data sets: 300-W, WFLW, users' folders and synthetic faces, cropped as 3FabRec does.

    from trainers.datasets import open_dataset, build_cropset, load_cropset
    ds = open_dataset("300w", root, "train")          # or "wflw", "folder", "synthetic"
    cs = build_cropset(ds, input_size=256, cache_dir=Path("~/.cache/scaf-al/crops"))
    cs = load_cropset("300w", root, "train", 256, cache_dir=...)   # both steps at once

`open_dataset` is the one place that tells generated data (synthetic faces, rendered at
the network input size, no download) from data read from a root folder; `load_cropset`
and the callers above it (trainers.loop.data_loading, `scaf-al pretrain`) go through it.

Loaders import lazily so that importing this package stays cheap.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

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

if TYPE_CHECKING:
    from trainers.datasets.builtin.synthetic import SyntheticFaces

DATASETS = ("300w", "wflw", "folder", "synthetic")
# Data sets rendered by a generator at the network input size: no root folder needed.
GENERATED = ("synthetic",)

__all__ = [
    "CROP_SOURCES",
    "DATASETS",
    "GENERATED",
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
    "dataset_options",
    "dataset_splits",
    "is_generated",
    "load_cropset",
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
        from trainers.datasets.builtin.w300 import SPLITS

        return tuple(SPLITS)
    if name == "wflw":
        from trainers.datasets.builtin.wflw import SPLITS as WFLW_SPLITS

        return WFLW_SPLITS
    if name == "folder":
        return ("all",)
    if name == "synthetic":
        return ("train", "test")
    raise ValueError(f"unknown data set {name!r}; choose one of {DATASETS}")


def is_generated(name: str) -> bool:
    """Whether a data set is rendered by a generator (needs no root folder) or read from disk."""
    return name.lower() in GENERATED


def open_dataset(
    name: str, root: str | Path | None, split: str, strict: bool = False, **options: Any
) -> LandmarkDataset | SyntheticFaces:
    """Open one split of a data set.

    Args:
        name: "300w", "wflw", "folder" or "synthetic".
        root: 300-W: the folder holding lfpw/, helen/, afw/, ibug/, 300W/; WFLW: the
            folder holding WFLW_images/ and WFLW_annotations/; folder: the user's folder;
            synthetic: a folder to cache the generated faces in, or None (memory only).
        split: 300-W "train", "common", "challenging", "full", "private"; WFLW "train",
            "test", "pose", "expression", "illumination", "makeup", "occlusion", "blur";
            folder "all" or a sub-folder / split field; synthetic "pool" ("train") or "test".
        strict: official-count mismatches raise instead of warning.
        **options: loader options, e.g. on_bad_file="error" | "skip", check_images,
            max_outside; 300-W bbox_dir; folder annotations, flip_perm, eye_idx,
            num_landmarks, box_adjust, one_based; synthetic: the generator's options.

    Raises:
        ValueError: for an unknown data set, split or option, or no root for data on disk.
        DatasetError: for missing or bad files (see the loaders).
    """
    key = name.lower()
    if key not in DATASETS:
        raise ValueError(f"unknown data set {name!r}; choose one of {DATASETS}")
    root = None if root is None else Path(root).expanduser()
    if is_generated(key):
        from trainers.datasets.builtin.synthetic import SyntheticFaces

        return SyntheticFaces(root, split, **options)
    if root is None:
        raise ValueError(f"data set {key!r} needs a root folder (where its download is)")
    opener = _opener(key)
    try:
        return opener(root, split, strict=strict, **options)
    except TypeError as e:
        if "unexpected keyword argument" in str(e):
            raise ValueError(f"{name}: {e}") from e
        raise


def dataset_options(name: str) -> frozenset[str]:
    """The keyword options `open_dataset(name, ...)` takes besides root, split and strict.

    For generated data: the generator's settings less input_size, which `load_cropset`
    sets from the network. For spec validation before anything is opened.

    Raises:
        ValueError: for an unknown data set.
    """
    key = name.lower()
    if key not in DATASETS:
        raise ValueError(f"unknown data set {name!r}; choose one of {DATASETS}")
    if is_generated(key):
        from trainers.datasets.builtin.synthetic import SyntheticConfig

        return frozenset(f.name for f in fields(SyntheticConfig)) - {"input_size"}
    return frozenset(inspect.signature(_opener(key)).parameters) - {"root", "split", "strict"}


def _opener(key: str) -> Callable[..., LandmarkDataset]:
    """The loader of a data set read from disk (imported only when used)."""
    if key == "300w":
        from trainers.datasets.builtin.w300 import open_300w

        return open_300w
    if key == "wflw":
        from trainers.datasets.builtin.wflw import open_wflw

        return open_wflw
    from trainers.datasets.builtin.folder import open_folder

    return open_folder


def load_cropset(
    name: str,
    root: str | Path | None,
    split: str,
    input_size: int,
    *,
    crop_source: str = "bb_ground_truth",
    cache_dir: Path | None = None,
    strict: bool = False,
    **options: Any,
) -> CropSet:
    """Open one split and crop it for a network of `input_size` (`open_dataset`, then
    `build_cropset`).

    Generated data is rendered at `input_size` and needs no crop cache; data on disk is
    cropped through the cache under `cache_dir` (None: in memory).

    Raises:
        As `open_dataset` and `build_cropset`.
    """
    if is_generated(name):
        options = {**options, "input_size": input_size}
    ds = open_dataset(name, root, split, strict=strict, **options)
    return build_cropset(ds, input_size=input_size, crop_source=crop_source, cache_dir=cache_dir)
