"""300-W loader on miniature trees in the iBUG download layout."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from PIL import Image

from tests.helpers.datasets_on_disk import build_300w, mini_300w_expected, write_mat_boxes
from tests.helpers.faces import write_image
from trainers.datasets import (
    DatasetCountWarning,
    DatasetError,
    SkippedFilesWarning,
    open_dataset,
)
from trainers.datasets.builtin import w300
from trainers.datasets.layouts import FLIP_68
from trainers.datasets.pts import write_pts

COUNTS = {
    "afw": 2, "helen/trainset": 3, "lfpw/trainset": 2, "helen/testset": 2,
    "lfpw/testset": 1, "ibug": 2, "300W/01_Indoor": 1, "300W/02_Outdoor": 2,
}  # fmt: skip


@pytest.fixture
def tree(tmp_path, monkeypatch):
    written = build_300w(tmp_path, COUNTS)
    monkeypatch.setattr(w300, "SUBSETS", mini_300w_expected(COUNTS))
    return tmp_path, written


def _open(root, split, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # counts match the patched ones: no warning allowed
        return open_dataset("300w", root, split, **kw)


def test_split_membership_and_order(tree):
    root, written = tree
    expect = {
        "train": ["afw", "helen/trainset", "lfpw/trainset"],
        "common": ["helen/testset", "lfpw/testset"],
        "challenging": ["ibug"],
        "full": ["helen/testset", "lfpw/testset", "ibug"],
        "private": ["300W/01_Indoor", "300W/02_Outdoor"],
    }
    for split, folders in expect.items():
        ds = _open(root, split)
        faces = [f for folder in folders for f in written[folder]]
        assert len(ds) == len(faces)
        assert ds.split == split and ds.name == "300w"
        assert [p.name for p in ds.image_paths] == [f["name"] for f in faces]
        assert ds.groups == [folder for folder in folders for _ in written[folder]]
        np.testing.assert_allclose(ds.landmarks, np.stack([f["landmarks"] for f in faces]),
                                   atol=1e-3)  # .pts stores 3 decimals
        assert ds.landmarks.dtype == np.float64 and ds.landmarks.shape[1:] == (68, 2)
        assert ds.layout.num_landmarks == 68 and ds.eye_idx == (36, 45)
        np.testing.assert_array_equal(ds.flip_perm, FLIP_68)


def test_official_split_sizes():
    assert w300.SPLIT_SIZES == {
        "train": 3148, "common": 554, "challenging": 135, "full": 689, "private": 600,
    }


def test_mat_boxes_are_converted_to_zero_based(tree):
    root, written = tree
    ds = _open(root, "common")
    faces = written["helen/testset"] + written["lfpw/testset"]
    det = np.stack([f["det"] for f in faces])
    np.testing.assert_allclose(ds.box_sets["bb_detector"], det, atol=1e-9)
    # bb_ground_truth is the tight box around the points, both 1-based on disk.
    tight = np.concatenate([ds.landmarks.min(1), ds.landmarks.max(1)], axis=1)
    np.testing.assert_allclose(ds.boxes, tight, atol=1e-3)


def test_without_mat_boxes_come_from_landmarks(tmp_path, monkeypatch):
    build_300w(tmp_path, {"ibug": 2}, with_mat=False)
    monkeypatch.setattr(w300, "SUBSETS", mini_300w_expected({"ibug": 2}))
    ds = _open(tmp_path, "challenging")
    tight = np.concatenate([ds.landmarks.min(1), ds.landmarks.max(1)], axis=1)
    np.testing.assert_allclose(ds.boxes, tight)
    assert "bb_detector" not in ds.box_sets
    with pytest.raises(ValueError, match="no 'bb_detector' boxes"):
        ds.crop_boxes("bb_detector")


def test_private_split_has_no_detector_boxes(tree):
    root, _ = tree
    ds = _open(root, "private")
    assert "bb_detector" not in ds.box_sets


def test_load_image_gives_rgb_for_grey_and_rgba(tmp_path, monkeypatch):
    written = build_300w(tmp_path, {"ibug": 2}, with_mat=False)
    monkeypatch.setattr(w300, "SUBSETS", mini_300w_expected({"ibug": 2}))
    ds = _open(tmp_path, "challenging")
    img = ds.load_image(1)  # written as grey ("L")
    assert img.shape == (48, 64, 3) and img.dtype == np.uint8
    np.testing.assert_array_equal(img[..., 0], img[..., 1])
    np.testing.assert_array_equal(img, written["ibug"][1]["pixels"])
    np.testing.assert_array_equal(ds.load_image(0), written["ibug"][0]["pixels"])
    rgba = np.random.default_rng(0).integers(0, 256, (48, 64, 4), dtype=np.uint8)
    Image.fromarray(rgba, "RGBA").save(written["ibug"][0]["image"].with_suffix(".png"))
    written["ibug"][0]["image"].unlink()  # the loader finds the .png of the same stem
    ds = _open(tmp_path, "challenging")
    assert ds.image_paths[0].suffix == ".png"
    np.testing.assert_array_equal(ds.load_image(0), rgba[..., :3])


def test_count_mismatch_warns_or_raises(tmp_path):
    build_300w(tmp_path, {"helen/testset": 2, "lfpw/testset": 1}, with_mat=False)
    with pytest.warns(DatasetCountWarning) as record:
        ds = open_dataset("300w", tmp_path, "common")
    assert [str(w.message) for w in record] == [
        "helen/testset: 2 .pts files, expected 330",
        "lfpw/testset: 1 .pts files, expected 224",
    ]
    assert len(ds) == 3
    assert any("lfpw/testset: 1 .pts files, expected 224" in m for m in ds.count_problems)
    with pytest.raises(DatasetError, match=r"helen/testset: 2 \.pts files, expected 330"):
        open_dataset("300w", tmp_path, "common", strict=True)


def test_missing_folder_and_bad_split(tmp_path):
    build_300w(tmp_path, {"ibug": 1}, with_mat=False)
    with pytest.raises(DatasetError, match=r"folder not found: .*helen/testset"):
        open_dataset("300w", tmp_path, "common")
    with pytest.raises(ValueError, match="split must be one of"):
        open_dataset("300w", tmp_path, "valid")
    with pytest.raises(ValueError, match="unknown data set"):
        open_dataset("aflw", tmp_path, "train")


def _break(root, written, kind):
    """Damage the first ibug face in one way; return the file the error must name."""
    face = written["ibug"][0]
    img, pts = face["image"], face["image"].with_suffix(".pts")
    if kind == "unreadable image":
        img.write_bytes(b"not an image at all")
        return img, "unreadable image"
    if kind == "missing pts":
        pts.unlink()
        return img, "image without a .pts file"
    if kind == "missing image":
        img.unlink()
        return pts, "no image with stem"
    if kind == "truncated pts":
        pts.write_text("\n".join(pts.read_text().splitlines()[:30]))
        return pts, "truncated"
    if kind == "wrong count":
        write_pts(pts, face["landmarks"][:60])
        return pts, "60 landmarks, expected 68"
    if kind == "nan":
        lms = face["landmarks"].copy()
        lms[5] = np.nan
        write_pts(pts, lms)
        return pts, "non-finite"
    if kind == "outside":
        lms = face["landmarks"].copy()
        lms[7] = [400.0, 20.0]
        write_pts(pts, lms)
        return pts, "far outside the 64x48 image"
    raise AssertionError(kind)


KINDS = ["unreadable image", "missing pts", "missing image", "truncated pts", "wrong count",
         "nan", "outside"]


@pytest.mark.parametrize("kind", KINDS)
def test_bad_file_error_names_file_and_problem(tree, kind):
    root, written = tree
    path, reason = _break(root, written, kind)
    with pytest.raises(DatasetError, match="1 bad file") as info, warnings.catch_warnings():
        # A missing .pts also lowers the folder's count: that warning is expected.
        warnings.simplefilter("ignore", DatasetCountWarning)
        open_dataset("300w", root, "challenging")
    msg = str(info.value)
    assert str(path) in msg and reason in msg


@pytest.mark.parametrize("kind", KINDS)
def test_bad_file_skip_reports(tree, kind):
    root, written = tree
    path, reason = _break(root, written, kind)
    with pytest.warns(SkippedFilesWarning, match="skipped 1 bad file"), \
            warnings.catch_warnings():
        warnings.simplefilter("ignore", DatasetCountWarning)
        ds = open_dataset("300w", root, "challenging", on_bad_file="skip")
    assert len(ds) == 1
    assert [p.name for p in ds.image_paths] == [written["ibug"][1]["name"]]
    assert len(ds.skipped) == 1
    assert ds.skipped[0][0] == str(path) and reason in ds.skipped[0][1]


def test_mat_without_entry_is_a_bad_file(tree):
    root, written = tree
    faces = written["ibug"]
    write_mat_boxes(root / "Bounding Boxes" / "bounding_boxes_ibug.mat",
                    [(faces[1]["name"], faces[1]["det"], faces[1]["det"])])
    with pytest.raises(DatasetError, match="no box in bounding_boxes_ibug.mat"):
        _open(root, "challenging")


def test_bad_on_bad_file_value(tree):
    root, _ = tree
    with pytest.raises(ValueError, match="on_bad_file must be one of"):
        open_dataset("300w", root, "challenging", on_bad_file="ignore")
    with pytest.raises(ValueError, match="unexpected keyword"):
        open_dataset("300w", root, "challenging", no_such_option=1)


def test_unreadable_image_also_fails_at_decode(tree):
    root, written = tree
    ds = _open(root, "challenging", check_images=False)
    written["ibug"][0]["image"].write_bytes(b"\xff\xd8\xff garbage")
    with pytest.raises(DatasetError, match="unreadable image"):
        ds.load_image(0)
    write_image(written["ibug"][0]["image"], np.random.default_rng(0))
    assert ds.load_image(0).shape == (48, 64, 3)
