"""Opening a data set by name: the registry's loader, with the checks every caller wants.

`open_dataset` is the one place that tells generated data (rendered at the network input
size, no download) from data read from a root folder; `load_cropset` and the callers above
it (trainers.loop.data_loading, `scaf-al pretrain`) go through it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from trainers.datasets.base import LandmarkDataset
from trainers.datasets.crop_cache import RendersCropSet, build_cropset
from trainers.datasets.cropset import CropSet
from trainers.datasets.registry import get_dataset


def dataset_splits(name: str) -> tuple[str, ...]:
    """The split names a data set accepts ("folder": "all" plus any sub-folder name)."""
    return get_dataset(name).splits


def is_generated(name: str) -> bool:
    """Whether a data set is rendered by a generator (needs no root folder) or read from disk."""
    return get_dataset(name).generated


def open_dataset(
    name: str, root: str | Path | None, split: str, strict: bool = False, **options: Any
) -> LandmarkDataset | RendersCropSet:
    """Open one split of a registered data set.

    Args:
        name: a registered name (`scaf-al datasets list`), e.g. "300w", "wflw", "folder",
            "synthetic".
        root: where the download is (300-W: the folder holding lfpw/, helen/, afw/, ibug/,
            300W/; WFLW: the folder holding WFLW_images/ and WFLW_annotations/; folder: the
            user's folder); generated data: a folder to cache it in, or None (memory only).
        split: one of the data set's splits (`DatasetInfo.splits`).
        strict: official-count mismatches raise instead of warning.
        **options: the loader's options (`dataset_options(name)`).

    Raises:
        ValueError: for an unknown data set or option, or no root for data on disk.
        DatasetError: for missing or bad files (see the loaders).
    """
    info = get_dataset(name)
    root = None if root is None else Path(root).expanduser()
    if root is None and not info.generated:
        raise ValueError(f"data set {info.name!r} needs a root folder (where its download is)")
    try:
        return info.open(root, split, strict=strict, **options)
    except TypeError as e:
        if "unexpected keyword argument" in str(e):
            raise ValueError(f"{name}: {e}") from e
        raise


def dataset_options(name: str) -> frozenset[str]:
    """The keyword options `open_dataset(name, ...)` takes besides root, split and strict
    (for generated data, less the input size that `load_cropset` sets from the network).

    Raises:
        ValueError: for an unknown data set.
    """
    return frozenset(get_dataset(name).option_types() or ())


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
