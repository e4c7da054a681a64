"""Decode and crop every face once; keep the crops as memory-mapped arrays on disk.

`build_cropset` turns a LandmarkDataset into a CropSet. With a `cache_dir` the crops are
stored in `cache_dir/<dataset>-<split>-<crop source>-<S>-<key>/` as `images.npy` (N x M x M
x 3 uint8, memory-mapped when read back), `landmarks.npy`, `to_original.npy` and
`meta.json`. The key hashes everything the crops depend on: data set, split, crop
settings, the chosen faces, their landmarks and boxes, and the size and modification time
of every image and annotation file, so a changed file never reuses stale crops. A cache
entry is written to a temporary folder and renamed into place, so concurrent workers
building the same entry never see half-written files.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import warnings
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from trainers.datasets.base import DatasetError, LandmarkDataset, SkippedFilesWarning
from trainers.datasets.crops import (
    check_crop_source,
    crop_image,
    face_roi,
    points_to_crop,
    roi_to_original,
)
from trainers.datasets.cropset import CropSet, margin_size

if TYPE_CHECKING:
    from typing_extensions import TypeIs

# Bump when the crop geometry or resampling changes, so old cache entries are not reused.
CACHE_VERSION = 1


def _file_stat(path: Path) -> tuple[int, int]:
    try:
        st = path.stat()
    except OSError:
        return (-1, -1)
    return (int(st.st_size), int(st.st_mtime_ns))


def cache_key(
    ds: LandmarkDataset, indices: np.ndarray, input_size: int, crop_source: str
) -> str:
    """Hex digest of everything the crops of `indices` depend on."""
    h = hashlib.sha256()

    def put(obj: Any) -> None:
        h.update(json.dumps(obj, sort_keys=True, default=str).encode())
        h.update(b"\0")

    put([CACHE_VERSION, ds.name, ds.split, int(input_size), crop_source, list(ds.box_adjust)])
    h.update(np.ascontiguousarray(indices, dtype=np.int64).tobytes())
    h.update(np.ascontiguousarray(ds.landmarks[indices], dtype=np.float64).tobytes())
    if crop_source != "lm_ground_truth":
        h.update(np.ascontiguousarray(ds.crop_boxes(crop_source)[indices]).tobytes())
    seen: set[Path] = set()
    stats = []
    for i in indices:
        p = ds.image_paths[int(i)]
        if p not in seen:
            seen.add(p)
            stats.append([ds.names[int(i)], *_file_stat(p)])
    put(stats)
    put([[str(p), *_file_stat(p)] for p in ds.annotation_files])
    return h.hexdigest()


def _entry_name(ds: LandmarkDataset, input_size: int, crop_source: str, key: str) -> str:
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in f"{ds.name}-{ds.split}")
    return f"{safe}-{crop_source}-{input_size}-{key[:20]}"


def _crop_faces(
    ds: LandmarkDataset,
    indices: np.ndarray,
    input_size: int,
    crop_source: str,
    images_out: np.ndarray,
    workers: int,
) -> tuple[np.ndarray, np.ndarray, list[tuple[str, str]]]:
    """Crop faces `indices` into `images_out` rows (same order); decode each file once.

    Returns:
        landmarks (n, L, 2) float32 in the crop frame, to_original (n, 2, 3), and the
        (path, reason) of images that could not be decoded (their rows are left unset).
    """
    m = margin_size(input_size)
    n = len(indices)
    lms_out = np.zeros((n, ds.layout.num_landmarks, 2), dtype=np.float32)
    aff_out = np.zeros((n, 2, 3), dtype=np.float64)
    boxes = None if crop_source == "lm_ground_truth" else ds.crop_boxes(crop_source)
    by_path: dict[Path, list[int]] = defaultdict(list)
    for slot, i in enumerate(indices):
        by_path[ds.image_paths[int(i)]].append(slot)

    def work(item: tuple[Path, list[int]]) -> tuple[str, str] | None:
        path, slots = item
        try:
            image = ds.load_image(int(indices[slots[0]]))
        except DatasetError as e:
            return (str(path), str(e).removeprefix(f"{path}: "))
        for slot in slots:
            i = int(indices[slot])
            lms = ds.landmarks[i]
            roi = face_roi(
                None if boxes is None else boxes[i], lms, crop_source, input_size, ds.box_adjust
            )
            images_out[slot] = crop_image(image, roi, m)
            lms_out[slot] = points_to_crop(lms, roi, m)
            aff_out[slot] = roi_to_original(roi, m)
        return None

    items = list(by_path.items())
    if workers <= 1 or len(items) < 2:
        results = [work(it) for it in items]
    else:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            results = list(pool.map(work, items))
    failed = [r for r in results if r is not None]
    return lms_out, aff_out, failed


def _failed_slots(ds: LandmarkDataset, indices: np.ndarray, failed: list[tuple[str, str]]) -> set:
    bad_paths = {p for p, _ in failed}
    return {s for s, i in enumerate(indices) if str(ds.image_paths[int(i)]) in bad_paths}


def _handle_failures(ds: LandmarkDataset, failed: list[tuple[str, str]]) -> None:
    if not failed:
        return
    if ds.on_bad_file == "error":
        lines = "\n".join(f"  {p}: {r}" for p, r in failed[:50])
        raise DatasetError(
            f"{len(failed)} image(s) of {ds.name}/{ds.split} could not be decoded:\n{lines}\n"
            "(open the data set with on_bad_file='skip' to leave them out)"
        )
    warnings.warn(
        f"{ds.name}/{ds.split}: skipped {len(failed)} undecodable image(s), e.g. "
        f"{failed[0][0]}: {failed[0][1]} (listed in the CropSet's meta['skipped'])",
        SkippedFilesWarning,
        stacklevel=4,  # the caller of build_cropset
    )


def _meta(ds: LandmarkDataset, input_size: int, crop_source: str, kept: np.ndarray,
          skipped: list[tuple[str, str]], key: str | None) -> dict[str, Any]:
    return {
        "dataset": ds.name,
        "split": ds.split,
        "root": str(ds.root),
        "input_size": int(input_size),
        "crop_source": crop_source,
        "box_adjust": list(ds.box_adjust),
        "source_indices": [int(i) for i in kept],
        "skipped": [list(s) for s in list(ds.skipped) + list(skipped)],
        # Per-crop flags (WFLW pose, expression, ...) for per-subset scores of one test set.
        "attributes": {
            k: [int(v[int(i)]) for i in kept] for k, v in getattr(ds, "attributes", {}).items()
        },
        "cache_key": key,
        "cache_version": CACHE_VERSION,
    }


def _cropset(ds: LandmarkDataset, images: np.ndarray, lms: np.ndarray, aff: np.ndarray,
             kept: np.ndarray | list[int], meta: dict[str, Any], input_size: int) -> CropSet:
    return CropSet(
        images=images,
        landmarks=lms,
        input_size=int(input_size),
        flip_perm=np.asarray(ds.layout.flip_perm, dtype=np.int64),
        eye_idx=(ds.layout.eye_idx[0], ds.layout.eye_idx[1]),
        to_original=aff,
        names=[ds.names[int(i)] for i in kept],
        meta=meta,
    )


def _read_entry(entry: Path, ds: LandmarkDataset, input_size: int) -> CropSet:
    meta = json.loads((entry / "meta.json").read_text(encoding="utf-8"))
    count = len(meta["source_indices"])
    images = np.load(entry / "images.npy", mmap_mode="r")[:count]
    lms = np.load(entry / "landmarks.npy")
    aff = np.load(entry / "to_original.npy")
    meta["cache_entry"] = str(entry)
    return _cropset(ds, images, lms, aff, meta["source_indices"], meta, input_size)


class RendersCropSet(Protocol):
    """A data set that builds its own CropSet (the synthetic generator)."""

    def __len__(self) -> int: ...

    def to_cropset(self, *, input_size: int) -> CropSet: ...


def _renders_cropset(ds: LandmarkDataset | RendersCropSet) -> TypeIs[RendersCropSet]:
    return callable(getattr(ds, "to_cropset", None))


def build_cropset(
    ds: LandmarkDataset | RendersCropSet,
    input_size: int = 256,
    crop_source: str = "bb_ground_truth",
    cache_dir: Path | None = None,
    indices: np.ndarray | None = None,
    workers: int | None = None,
) -> CropSet:
    """Crop the faces of `ds` (all, or `indices`) into a CropSet, through the cache.

    Args:
        ds: an opened data set. One with a `to_cropset(input_size=)` method (the
            synthetic generator) builds its CropSet directly; `indices` then subsets it.
        input_size: network input side S; crops are M = ceil(S sqrt 2).
        crop_source: "bb_ground_truth" (3FabRec's training default), "bb_detector" or
            "lm_ground_truth".
        cache_dir: where cache entries live, or None to crop in memory every time.
        indices: faces of `ds` to crop, in this order (default all).
        workers: decoding threads (default min(8, CPU count)).

    Returns:
        The CropSet. Its `meta` has "source_indices" (the `ds` index of each crop),
        "skipped" and, when cached, "cache_entry". Images read from the cache are a
        read-only memory map.

    Raises:
        DatasetError: for undecodable images when `ds.on_bad_file == "error"`.
        ValueError: for an unknown crop source or boxes this data set lacks.
    """
    check_crop_source(crop_source)
    if _renders_cropset(ds):
        # Synthetic faces are rendered as margin crops already; the crop source is moot.
        cs = ds.to_cropset(input_size=input_size)
        return cs if indices is None else cs.subset(np.asarray(indices, dtype=np.int64))
    indices = (
        np.arange(len(ds), dtype=np.int64) if indices is None
        else np.asarray(indices, dtype=np.int64).ravel()
    )
    if indices.size and (indices.min() < 0 or indices.max() >= len(ds)):
        raise ValueError(f"indices must lie in 0..{len(ds) - 1} for {ds.name}/{ds.split}")
    workers = workers if workers is not None else min(8, os.cpu_count() or 1)

    if cache_dir is None:
        return _crop_in_memory(ds, indices, input_size, crop_source, workers)
    cache_dir = Path(cache_dir)
    key = cache_key(ds, indices, input_size, crop_source)
    entry = cache_dir / _entry_name(ds, input_size, crop_source, key)
    if (entry / "meta.json").is_file():
        try:
            return _read_entry(entry, ds, input_size)
        except (OSError, ValueError, KeyError, json.JSONDecodeError):
            shutil.rmtree(entry, ignore_errors=True)  # damaged entry: rebuild below
    _write_entry(ds, indices, input_size, crop_source, workers, entry, key)
    return _read_entry(entry, ds, input_size)


def _crop_in_memory(ds: LandmarkDataset, indices: np.ndarray, input_size: int,
                    crop_source: str, workers: int) -> CropSet:
    m = margin_size(input_size)
    images = np.zeros((len(indices), m, m, 3), dtype=np.uint8)
    lms, aff, failed = _crop_faces(ds, indices, input_size, crop_source, images, workers)
    _handle_failures(ds, failed)
    keep = np.array(
        sorted(set(range(len(indices))) - _failed_slots(ds, indices, failed)), dtype=np.int64
    )
    kept = indices[keep]
    meta = _meta(ds, input_size, crop_source, kept, failed, None)
    return _cropset(ds, images[keep], lms[keep], aff[keep], kept, meta, input_size)


def _write_entry(ds: LandmarkDataset, indices: np.ndarray, input_size: int, crop_source: str,
                 workers: int, entry: Path, key: str) -> None:
    """Crop the faces into a temporary folder, then rename it to `entry` atomically."""
    cache_dir = entry.parent
    m = margin_size(input_size)
    n = len(indices)
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{entry.name}-", dir=cache_dir))
    try:
        images = np.lib.format.open_memmap(
            tmp / "images.npy", mode="w+", dtype=np.uint8, shape=(max(n, 1), m, m, 3)
        )
        lms, aff, failed = _crop_faces(ds, indices, input_size, crop_source, images, workers)
        _handle_failures(ds, failed)
        bad_slots = _failed_slots(ds, indices, failed)
        keep = np.array(sorted(set(range(n)) - bad_slots), dtype=np.int64)
        if bad_slots:  # compact in place; rows only move towards the front
            for dst, src in enumerate(keep):
                if dst != src:
                    images[dst] = images[src]
        images.flush()
        del images
        kept = indices[keep]
        np.save(tmp / "landmarks.npy", lms[keep])
        np.save(tmp / "to_original.npy", aff[keep])
        meta = _meta(ds, input_size, crop_source, kept, failed, key)
        (tmp / "meta.json").write_text(json.dumps(meta), encoding="utf-8")
        try:
            os.rename(tmp, entry)
        except OSError:
            # Another worker finished the same entry first; use theirs.
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
