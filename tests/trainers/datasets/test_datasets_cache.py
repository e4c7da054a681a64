"""build_cropset: crops of real-format trees, the on-disk crop cache, and the synthetic path."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import pytest

from tests.helpers.datasets_on_disk import build_300w, build_wflw, mini_300w_expected
from trainers.datasets import (
    DatasetError,
    SkippedFilesWarning,
    build_cropset,
    dataset_options,
    load_cropset,
    open_dataset,
)
from trainers.datasets.builtin import w300
from trainers.datasets.crops import face_roi, points_to_crop

S = 32  # margin crops of 46 px keep these tests fast
COUNTS = {"ibug": 3, "helen/testset": 2, "lfpw/testset": 1}


@pytest.fixture
def ds300(tmp_path, monkeypatch):
    build_300w(tmp_path / "300w", COUNTS)
    monkeypatch.setattr(w300, "SUBSETS", mini_300w_expected(COUNTS))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return open_dataset("300w", tmp_path / "300w", "full")


@pytest.mark.parametrize("crop_source", ["bb_ground_truth", "bb_detector", "lm_ground_truth"])
def test_cropset_geometry_and_inverse(ds300, crop_source):
    cs = build_cropset(ds300, input_size=S, crop_source=crop_source)
    n = len(ds300)
    assert len(cs) == n and cs.images.shape == (n, 46, 46, 3) and cs.images.dtype == np.uint8
    assert cs.input_size == S and cs.eye_idx == (36, 45)
    assert cs.names == ds300.names
    assert cs.meta["source_indices"] == list(range(n))
    boxes = None if crop_source == "lm_ground_truth" else ds300.crop_boxes(crop_source)
    for i in range(n):
        roi = face_roi(None if boxes is None else boxes[i], ds300.landmarks[i], crop_source, S,
                       (0.2, 0.12))
        np.testing.assert_allclose(cs.landmarks[i], points_to_crop(ds300.landmarks[i], roi, 46),
                                   rtol=1e-6, atol=1e-4)
    back = cs.landmarks_to_original(cs.landmarks.astype(np.float64))
    np.testing.assert_allclose(back, ds300.landmarks, atol=1e-3)  # float32 crop landmarks


def test_crop_sources_differ(ds300):
    gt = build_cropset(ds300, input_size=S, crop_source="bb_ground_truth")
    det = build_cropset(ds300, input_size=S, crop_source="bb_detector")
    assert not np.allclose(gt.to_original, det.to_original)


def test_cache_reuse_and_invalidation(ds300, tmp_path):
    cache = tmp_path / "cache"
    mem = build_cropset(ds300, input_size=S)
    first = build_cropset(ds300, input_size=S, cache_dir=cache)
    np.testing.assert_array_equal(first.images, mem.images)
    np.testing.assert_array_equal(first.landmarks, mem.landmarks)
    np.testing.assert_array_equal(first.to_original, mem.to_original)
    assert isinstance(first.images, np.memmap)
    entry = first.meta["cache_entry"]
    stamp = os.stat(os.path.join(entry, "images.npy")).st_mtime_ns
    again = build_cropset(ds300, input_size=S, cache_dir=cache)
    assert again.meta["cache_entry"] == entry
    assert os.stat(os.path.join(entry, "images.npy")).st_mtime_ns == stamp  # read, not rebuilt
    # Other settings or other faces -> other entries.
    sub = build_cropset(ds300, input_size=S, cache_dir=cache, indices=[4, 0])
    assert sub.meta["cache_entry"] != entry and sub.names == [ds300.names[4], ds300.names[0]]
    np.testing.assert_array_equal(sub.images[1], mem.images[0])
    other = build_cropset(ds300, input_size=S, cache_dir=cache, crop_source="bb_detector")
    assert other.meta["cache_entry"] != entry
    # A changed image file changes the key.
    img = ds300.image_paths[0]
    os.utime(img, ns=(stamp, os.stat(img).st_mtime_ns + 10**9))
    changed = build_cropset(ds300, input_size=S, cache_dir=cache)
    assert changed.meta["cache_entry"] != entry
    assert not any(p.name.startswith(".tmp") for p in cache.iterdir())


def test_damaged_cache_entry_is_rebuilt(ds300, tmp_path):
    cs = build_cropset(ds300, input_size=S, cache_dir=tmp_path / "c")
    entry = cs.meta["cache_entry"]
    del cs
    with open(os.path.join(entry, "meta.json"), "w") as f:
        f.write("{broken")
    cs = build_cropset(ds300, input_size=S, cache_dir=tmp_path / "c")
    assert len(cs) == len(ds300)


@pytest.mark.parametrize("cached", [False, True])
def test_undecodable_image_at_crop_time(tmp_path, monkeypatch, cached):
    build_300w(tmp_path / "d", {"ibug": 3})
    monkeypatch.setattr(w300, "SUBSETS", mini_300w_expected({"ibug": 3}))
    cache = tmp_path / "cache" if cached else None
    ds = open_dataset("300w", tmp_path / "d", "challenging", check_images=False)
    bad = ds.image_paths[1]
    bad.write_bytes(bad.read_bytes()[:40])  # truncated JPEG: the header may still parse
    with pytest.raises(DatasetError, match="could not be decoded") as info:
        build_cropset(ds, input_size=S, cache_dir=cache)
    assert str(bad) in str(info.value)
    ds = open_dataset("300w", tmp_path / "d", "challenging", check_images=False,
                      on_bad_file="skip")
    full = build_cropset(open_dataset("300w", tmp_path / "d", "challenging",
                                      check_images=False, on_bad_file="skip"),
                         input_size=S, indices=[0, 2])
    with pytest.warns(SkippedFilesWarning, match="undecodable"):
        cs = build_cropset(ds, input_size=S, cache_dir=cache)
    assert len(cs) == 2 and cs.meta["source_indices"] == [0, 2]
    assert cs.meta["skipped"][0][0] == str(bad)
    np.testing.assert_array_equal(cs.images, full.images)  # rows compacted in order


def test_wflw_cropset(tmp_path):
    build_wflw(tmp_path, n_train=2, n_test=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = open_dataset("wflw", tmp_path, "test")
    cs = build_cropset(ds, input_size=S, cache_dir=tmp_path / "cache")
    assert len(cs) == 3 and cs.num_landmarks == 98 and cs.eye_idx == (60, 72)
    assert cs.meta["attributes"]["pose"] == [1, 0, 0]  # face k has flag k % 6
    assert cs.meta["attributes"]["expression"] == [0, 1, 0]
    np.testing.assert_allclose(cs.landmarks_to_original(cs.landmarks.astype(float)),
                               ds.landmarks, atol=1e-3)


def test_bad_arguments(ds300):
    with pytest.raises(ValueError, match="crop_source must be one of"):
        build_cropset(ds300, crop_source="tight")
    with pytest.raises(ValueError, match="indices must lie in"):
        build_cropset(ds300, input_size=S, indices=[99])


def test_synthetic_dispatch(tmp_path):
    ds = open_dataset("synthetic", tmp_path, "train", n_pool=3, n_test=2, input_size=32)
    assert len(ds) == 3
    cs = build_cropset(ds, input_size=32)
    assert len(cs) == 3 and cs.images.shape[1:] == (46, 46, 3)
    assert len(build_cropset(ds, input_size=32, indices=[2, 0])) == 2


def test_load_cropset_crops_a_tree_on_disk_through_the_cache(ds300, tmp_path):
    cs = load_cropset("300w", tmp_path / "300w", "full", S, crop_source="bb_detector",
                      cache_dir=tmp_path / "crops")
    assert len(cs) == 6 and cs.images.shape[1:] == (46, 46, 3)
    assert cs.meta["dataset"] == "300w" and cs.meta["crop_source"] == "bb_detector"
    assert Path(cs.meta["cache_entry"]).parent == tmp_path / "crops"


def test_load_cropset_renders_generated_faces_at_the_input_size(tmp_path):
    cs = load_cropset("synthetic", None, "train", S, n_pool=3, n_test=2)
    assert len(cs) == 3 and cs.input_size == S and cs.images.shape[1:] == (46, 46, 3)
    assert not list(tmp_path.iterdir())  # no root: kept in memory
    test = load_cropset("synthetic", tmp_path, "test", S, n_pool=3, n_test=2)
    assert len(test) == 2 and len(list(tmp_path.glob("synthetic-*/test.npz"))) == 1


def test_data_on_disk_needs_a_root():
    with pytest.raises(ValueError, match="'300w' needs a root folder"):
        open_dataset("300w", None, "train")


def test_dataset_options_are_what_the_loaders_take():
    assert dataset_options("300w") == {"on_bad_file", "bbox_dir", "check_images", "max_outside"}
    assert dataset_options("WFLW") == {"on_bad_file", "check_images", "max_outside"}
    assert {"annotations", "flip_perm", "one_based", "name"} <= dataset_options("folder")
    synthetic = dataset_options("synthetic")
    assert {"n_pool", "n_test", "outlier_fraction", "seed"} <= synthetic
    assert "input_size" not in synthetic
    with pytest.raises(ValueError, match="unknown data set"):
        dataset_options("celeba")
