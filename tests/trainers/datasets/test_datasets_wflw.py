"""WFLW loader on a miniature tree with 207-field annotation lines."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from tests.helpers.datasets_on_disk import build_wflw, wflw_line
from tests.helpers.faces import face_points
from trainers.datasets import (
    DatasetCountWarning,
    DatasetError,
    SkippedFilesWarning,
    open_dataset,
)
from trainers.datasets.builtin import wflw
from trainers.datasets.layouts import FLIP_98


@pytest.fixture
def tree(tmp_path, monkeypatch):
    written = build_wflw(tmp_path, n_train=3, n_test=7)
    monkeypatch.setattr(wflw, "SPLIT_SIZES", {"train": 3, "test": 7})
    monkeypatch.setattr(wflw, "SUBSET_SIZES", {f: (2 if k == 0 else 1)
                                                for k, f in enumerate(wflw.FLAGS)})
    return tmp_path, written


def _open(root, split, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return open_dataset("wflw", root, split, **kw)


def test_parse_line_fields():
    lms = np.arange(196, dtype=float).reshape(98, 2) / 4
    line = wflw_line(lms, [1, 2, 30, 40], [0, 1, 0, 0, 1, 0], "7--Cheering/a.jpg")
    assert len(line.split(" ")) == 207
    got_lms, box, flags, rel = wflw.parse_line(line)
    np.testing.assert_allclose(got_lms, lms)  # used as given: no 1-based shift
    np.testing.assert_allclose(box, [1, 2, 30, 40])
    np.testing.assert_array_equal(flags, [0, 1, 0, 0, 1, 0])
    assert rel == "7--Cheering/a.jpg"


def test_train_and_test(tree):
    root, written = tree
    for split in ("train", "test"):
        ds = _open(root, split)
        faces = written[split]
        assert len(ds) == len(faces)
        np.testing.assert_allclose(ds.landmarks, np.stack([f["landmarks"] for f in faces]),
                                   atol=1e-5)
        np.testing.assert_allclose(ds.boxes, np.stack([f["box"] for f in faces]))
        assert [p.relative_to(root / "WFLW_images").as_posix() for p in ds.image_paths] == [
            f["rel"] for f in faces
        ]
        assert ds.layout.num_landmarks == 98 and ds.eye_idx == (60, 72)
        np.testing.assert_array_equal(ds.flip_perm, FLIP_98)
        assert ds.box_adjust == (0.0, 0.1)
        assert len(set(ds.names)) == len(ds)
    # The last test face shares the first one's photo: same path, distinct names.
    ds = _open(root, "test")
    assert ds.image_paths[-1] == ds.image_paths[0]
    np.testing.assert_array_equal(ds.load_image(0), ds.load_image(len(ds) - 1))


def test_subsets_follow_flags(tree):
    root, written = tree
    for k, flag in enumerate(wflw.FLAGS):
        ds = _open(root, flag)
        expect = [i for i, f in enumerate(written["test"]) if f["flags"][k] == 1]
        assert len(ds) == len(expect)
        np.testing.assert_allclose(
            ds.landmarks, np.stack([written["test"][i]["landmarks"] for i in expect]), atol=1e-5
        )
        assert np.all(ds.attributes[flag] == 1)


def test_official_counts_warn_or_raise(tmp_path):
    build_wflw(tmp_path, n_train=2, n_test=2)
    with pytest.warns(DatasetCountWarning, match="list_98pt_rect_attr_train.txt: 2 faces, "
                                                 "expected 7500"):
        open_dataset("wflw", tmp_path, "train")
    with pytest.raises(DatasetError, match="2 faces, expected 2500"):
        open_dataset("wflw", tmp_path, "test", strict=True)
    # Subset sizes are unverified: only a warning, even when strict.
    with pytest.warns(DatasetCountWarning, match="unverified"):
        open_dataset("wflw", tmp_path, "pose", strict=True)


def test_missing_root_parts(tmp_path):
    with pytest.raises(DatasetError, match="annotation list not found"):
        open_dataset("wflw", tmp_path, "train")
    build_wflw(tmp_path, n_train=1, n_test=1)
    with pytest.raises(ValueError, match="split must be one of"):
        open_dataset("wflw", tmp_path, "largepose")


def _append_line(root, line):
    ann = root / "WFLW_annotations/list_98pt_rect_attr_train_test/list_98pt_rect_attr_test.txt"
    with ann.open("a") as f:
        f.write(line + "\n")
    return ann


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda lms: wflw_line(lms[:97], [1, 1, 40, 40], [1, 0, 0, 0, 0, 0],
                               "0--Event/test_0.jpg"), "205 fields, expected 207"),
        (lambda lms: wflw_line(lms, [1, 1, 40, 40], [1, 0, 0, 0, 0, 0], "0--Event/none.jpg"),
         "image file not found"),
        (lambda lms: wflw_line(lms, [1, 1, 40, 40], [1, 0, 0, 0, 0, 0],
                               "0--Event/test_0.jpg").replace("1 0 0 0 0 0", "1 0 0 2 0 0"),
         "flags must be 0 or 1"),
        (lambda lms: wflw_line(np.where(np.arange(98)[:, None] == 3, np.nan, lms),
                               [1, 1, 40, 40], [1, 0, 0, 0, 0, 0], "0--Event/test_0.jpg"),
         "non-finite"),
        (lambda lms: wflw_line(lms + [500.0, 0.0], [1, 1, 40, 40], [1, 0, 0, 0, 0, 0],
                               "0--Event/test_0.jpg"), "far outside"),
        (lambda lms: wflw_line(lms, [40, 1, 1, 40], [1, 0, 0, 0, 0, 0], "0--Event/test_0.jpg"),
         "bad face rectangle"),
    ],
)
def test_bad_lines(tree, make, reason):
    root, written = tree
    lms = face_points(np.random.default_rng(5), 98)
    _append_line(root, make(lms))
    line_no = len(written["test"]) + 1
    with pytest.raises(DatasetError, match=reason) as info, warnings.catch_warnings():
        warnings.simplefilter("ignore", DatasetCountWarning)  # one more line than expected
        open_dataset("wflw", root, "test")
    assert f"list_98pt_rect_attr_test.txt:{line_no}" in str(info.value)
    with pytest.warns(SkippedFilesWarning), warnings.catch_warnings():
        warnings.simplefilter("ignore", DatasetCountWarning)
        ds = open_dataset("wflw", root, "test", on_bad_file="skip")
    assert len(ds) == len(written["test"])
    assert len(ds.skipped) == 1 and reason in ds.skipped[0][1]
