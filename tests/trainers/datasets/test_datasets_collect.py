"""FaceCollector: the one place that checks parsed faces and builds a LandmarkDataset."""

from __future__ import annotations

import numpy as np
import pytest

from tests.helpers.faces import write_image
from trainers.datasets import DatasetError, SkippedFilesWarning
from trainers.datasets.collect import FaceCollector, FaceRecord
from trainers.datasets.layouts import Layout

# Three points inside a 64x48 image, and a layout for them (flip: 0 <-> 2).
POINTS = np.array([[10.0, 10.0], [32.0, 30.0], [54.0, 10.0]])
LAYOUT = Layout("three", 3, np.array([2, 1, 0]), (0, 2))


def _face(image, name, where, **kw):
    return FaceRecord(image=image, landmarks=kw.pop("landmarks", POINTS), name=name,
                      group="g", where=where, **kw)


def test_collector_keeps_good_faces_and_names_each_bad_one(tmp_path):
    good = tmp_path / "good.png"
    write_image(good, np.random.default_rng(0))  # 64 x 48
    faces = FaceCollector("toy all under here", "skip")
    kept = [
        faces.add(_face(good, "good.png", "a.txt:1", box=np.array([1.0, 2.0, 60.0, 40.0]),
                        attributes={"pose": 1})),
        faces.add(_face(good, "good.png", "a.txt:2", attributes={"pose": 0})),
        faces.add(_face(good, "x", "a.txt:3", box=np.array([9.0, 2.0, 3.0, 40.0]))),
        faces.add(_face(tmp_path / "none.png", "y", "a.txt:4", image_where="a.txt:4 (none)")),
        faces.add(_face(tmp_path / "none.png", "z", "a.txt:5")),
        faces.add(_face(good, "w", "a.txt:6", landmarks=POINTS[:2])),
    ]
    assert kept == [True, True, False, False, False, False]
    faces.bad_file("a.txt:7", "7 fields, expected 9")
    with pytest.warns(SkippedFilesWarning, match="toy all under here: skipped 5 bad file"):
        ds = faces.dataset(name="toy", split="all", root=tmp_path, layout=LAYOUT,
                           box_adjust=(0.0, 0.1), detector_boxes=True, attribute_names=["pose"])
    assert [p for p, _ in ds.skipped] == [
        "a.txt:3", "a.txt:4 (none)", str(tmp_path / "none.png"), "a.txt:6", "a.txt:7"]
    assert "bad face rectangle [9.0, 2.0, 3.0, 40.0]" in ds.skipped[0][1]
    assert ds.skipped[1][1] == f"{tmp_path / 'none.png'}: image file not found"
    assert ds.skipped[3][1] == "2 landmarks, expected 3"
    # Two faces of one photo get unique names; a face without a box gets the landmarks'.
    assert ds.names == ["good.png@0", "good.png@1"]
    np.testing.assert_array_equal(ds.boxes, [[1, 2, 60, 40], [10, 10, 54, 30]])
    assert np.isnan(ds.box_sets["bb_detector"][1]).all()
    np.testing.assert_array_equal(ds.image_sizes, [[64, 48], [64, 48]])
    np.testing.assert_array_equal(ds.attributes["pose"], [1, 0])
    assert ds.box_adjust == (0.0, 0.1) and ds.layout is LAYOUT


def test_collector_learns_the_landmark_count_or_says_there_is_none(tmp_path):
    faces = FaceCollector("toy all under here", "skip", check_images=False)
    assert faces.add(_face(tmp_path / "a.png", "a", "a.pts"))
    ds = faces.dataset(name="toy", split="all", root=tmp_path, box_adjust=(0, 0),
                       layout=lambda n: Layout(f"n{n}", n, np.array([2, 1, 0]), (0, 2)))
    assert ds.layout.name == "n3" and ds.image_sizes.tolist() == [[0, 0]]
    empty = FaceCollector("toy all under here", "skip")
    empty.add(_face(tmp_path / "missing.png", "m", "m.pts"))
    with pytest.raises(DatasetError, match="no usable faces in toy all under here\n.*missing"), \
            pytest.warns(SkippedFilesWarning):
        empty.dataset(name="toy", split="all", root=tmp_path, layout=LAYOUT, box_adjust=(0, 0))
    with pytest.raises(DatasetError, match="1 bad file"):
        strict = FaceCollector("toy", "error")
        strict.add(_face(tmp_path / "missing.png", "m", "m.pts"))
        strict.dataset(name="toy", split="all", root=tmp_path, layout=LAYOUT, box_adjust=(0, 0))
