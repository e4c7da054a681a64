"""Reduced training sets and `datasets check`."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.helpers.datasets_on_disk import build_300w, build_wflw
from tests.helpers.faces import write_image
from trainers.datasets import reduced_indices, resolve_count, select_subset
from trainers.datasets.check import check_dataset, failing_splits


@pytest.mark.parametrize(
    ("total", "size", "count"),
    [
        (3148, "10%", 315), (3148, "5%", 158), (3148, "20%", 630), (3148, 0.1, 315),
        (7500, "10%", 750), (7500, "5%", 375), (7500, 0.2, 1500), (7500, 50, 50),
        (7500, "200", 200), (10, "100%", 10), (10, 1.0, 10),
    ],
)
def test_counts_match_the_papers(total, size, count):
    assert resolve_count(total, size) == count


@pytest.mark.parametrize("size", [0, -3, 11, "0%", "101%", "ten", 1.5, 0.0, True, None])
def test_bad_sizes(size):
    with pytest.raises(ValueError):
        resolve_count(10, size)


def test_first_n_is_3fabrec():
    r = select_subset(3148, 50, protocol="first")
    np.testing.assert_array_equal(r.indices, np.arange(50))
    assert r.seed is None and r.count == 50
    np.testing.assert_array_equal(select_subset(100, 5, "first", start=10).indices,
                                  np.arange(10, 15))
    with pytest.raises(ValueError, match="do not fit"):
        select_subset(100, 5, "first", start=98)


def test_random_is_seeded_sorted_and_unique():
    a = select_subset(3148, "10%", protocol="random", seed=3)
    b = select_subset(3148, "10%", protocol="random", seed=3)
    c = select_subset(3148, "10%", protocol="random", seed=4)
    np.testing.assert_array_equal(a.indices, b.indices)
    assert not np.array_equal(a.indices, c.indices)
    assert a.count == 315 and len(set(a.indices.tolist())) == 315
    assert np.all(np.diff(a.indices) > 0) and a.indices.max() < 3148
    rec = a.record()
    json.dumps(rec)
    assert rec["protocol"] == "random" and rec["seed"] == 3 and rec["size"] == "10%"
    assert rec["count"] == 315 and rec["total"] == 3148
    np.testing.assert_array_equal(reduced_indices(3148, "10%", seed=3), a.indices)
    with pytest.raises(ValueError, match="protocol must be one of"):
        select_subset(10, 2, protocol="stratified")


def test_check_300w(tmp_path):
    counts = {"afw": 1, "helen/trainset": 1, "lfpw/trainset": 1, "helen/testset": 1,
              "lfpw/testset": 1, "ibug": 2}
    written = build_300w(tmp_path, counts)
    written["ibug"][0]["image"].write_bytes(b"broken")
    rows = check_dataset("300w", tmp_path)
    by = {r.split: r for r in rows}
    assert list(by) == ["train", "common", "challenging", "full", "private"]
    assert by["train"].faces == 3 and by["train"].expected == 3148
    assert by["train"].status == "warning"
    assert "afw: 1 .pts files, expected 337" in by["train"].problems
    assert by["challenging"].faces == 1 and by["challenging"].skipped == 1
    assert any("unreadable image" in p for p in by["challenging"].problems)
    assert by["common"].boxes == ".mat"
    assert by["common"].box_vs_landmarks_px == pytest.approx(0.0, abs=1e-3)
    assert by["private"].status == "error"
    assert "300W/01_Indoor" in by["private"].problems[0]
    # Errors fail a check; warnings (here every count is short of the official one) fail
    # it only when strict.
    assert failing_splits(rows, strict=False) == ["private"]
    assert failing_splits(rows, strict=True) == list(by)


def test_check_wflw_and_folder(tmp_path):
    build_wflw(tmp_path / "wflw", n_train=2, n_test=3)
    rows = check_dataset("wflw", tmp_path / "wflw")
    assert [r.split for r in rows][:2] == ["train", "test"]
    assert rows[1].faces == 3 and rows[1].expected == 2500
    write_image(tmp_path / "f" / "a.png", np.random.default_rng(0))
    rows = check_dataset("folder", tmp_path / "f")
    assert rows[0].status == "error" and "no usable faces" in rows[0].problems[0]
    assert "a.pts: .pts file not found" in rows[0].problems[0]
    with pytest.raises(ValueError, match="synthetic"):
        check_dataset("synthetic", tmp_path)
