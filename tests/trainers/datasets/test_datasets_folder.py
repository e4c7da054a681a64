"""Users' own folders: images + .pts, JSON or CSV, any number of landmarks."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from tests.helpers.faces import FLIP_19, face_points, write_image
from trainers.datasets import DatasetError, build_cropset, open_dataset
from trainers.datasets.layouts import FLIP_68
from trainers.datasets.pts import write_pts

EYES_19 = (6, 11)


def test_pts_folder_with_splits(tmp_path):
    rng = np.random.default_rng(0)
    written = {}
    for split in ("train", "test"):
        for k in range(2):
            img = tmp_path / split / f"sub{k}" / f"face{k}.png"
            write_image(img, rng)
            lms = face_points(rng, 68)
            write_pts(img.with_suffix(".pts"), lms)
            written[f"{split}/sub{k}/face{k}.png"] = lms
    ds = open_dataset("folder", tmp_path, "train")
    assert ds.names == ["train/sub0/face0.png", "train/sub1/face1.png"]
    np.testing.assert_allclose(ds.landmarks[1], written["train/sub1/face1.png"], atol=1e-3)
    np.testing.assert_array_equal(ds.flip_perm, FLIP_68)  # 68 points: standard table
    assert ds.eye_idx == (36, 45)
    assert len(open_dataset("folder", tmp_path, "all")) == 4
    with pytest.raises(DatasetError, match="is not a folder"):
        open_dataset("folder", tmp_path, "val")


def test_pts_folder_missing_pts_is_bad(tmp_path):
    rng = np.random.default_rng(0)
    write_image(tmp_path / "a.jpg", rng)
    write_pts(tmp_path / "a.pts", face_points(rng, 68))
    write_image(tmp_path / "b.jpg", rng)
    write_pts(tmp_path / "orphan.pts", face_points(rng, 68))
    with pytest.raises(DatasetError) as info:
        open_dataset("folder", tmp_path, "all")
    msg = str(info.value)
    assert "2 bad file" in msg and "b.pts: .pts file not found" in msg
    assert "orphan.pts: no image with this stem" in msg


def _json_faces(tmp_path, num=19, n=3, rng=None):
    rng = rng or np.random.default_rng(1)
    faces = []
    for k in range(n):
        write_image(tmp_path / "imgs" / f"{k}.png", rng)
        lms = face_points(rng, num)
        faces.append({"image": f"imgs/{k}.png", "landmarks": lms.tolist(),
                      "split": "train" if k < 2 else "test"})
    faces[0]["box"] = [5.0, 6.0, 50.0, 44.0]
    return faces


def test_json_any_number_of_points(tmp_path):
    faces = _json_faces(tmp_path)
    (tmp_path / "faces.json").write_text(json.dumps({"faces": faces}))
    ds = open_dataset("folder", tmp_path, "train", annotations="faces.json",
                      flip_perm=FLIP_19.tolist(), eye_idx=EYES_19)
    assert len(ds) == 2 and ds.layout.num_landmarks == 19
    assert ds.eye_idx == EYES_19
    np.testing.assert_allclose(ds.landmarks[1], faces[1]["landmarks"])  # 0-based as given
    np.testing.assert_allclose(ds.boxes[0], [5.0, 6.0, 50.0, 44.0])
    lm = np.asarray(faces[1]["landmarks"])
    np.testing.assert_allclose(ds.boxes[1], [*lm.min(0), *lm.max(0)])  # from the points
    ds1 = open_dataset("folder", tmp_path, "test", annotations="faces.json",
                       flip_perm=FLIP_19, eye_idx=EYES_19, one_based=True)
    np.testing.assert_allclose(ds1.landmarks[0], np.asarray(faces[2]["landmarks"]) - 1)
    cs = build_cropset(ds, input_size=32)
    assert cs.images.shape == (2, 46, 46, 3) and cs.eye_idx == EYES_19


def test_json_needs_flip_and_eyes_for_unusual_counts(tmp_path):
    (tmp_path / "f.json").write_text(json.dumps(_json_faces(tmp_path)))
    with pytest.raises(ValueError, match="19 landmarks needs a flip permutation"):
        open_dataset("folder", tmp_path, "all", annotations="f.json")
    with pytest.raises(ValueError, match="needs the normalisation pair"):
        open_dataset("folder", tmp_path, "all", annotations="f.json", flip_perm=FLIP_19)
    with pytest.raises(ValueError, match="own inverse"):
        open_dataset("folder", tmp_path, "all", annotations="f.json",
                     flip_perm=np.roll(np.arange(19), 1), eye_idx=EYES_19)
    with pytest.raises(ValueError, match="eye_idx must be two different"):
        open_dataset("folder", tmp_path, "all", annotations="f.json", flip_perm=FLIP_19,
                     eye_idx=(3, 3))


def test_json_bad_records(tmp_path):
    faces = _json_faces(tmp_path)
    faces[1]["landmarks"] = faces[1]["landmarks"][:5]
    faces[2]["image"] = "imgs/missing.png"
    (tmp_path / "f.json").write_text(json.dumps(faces))
    kw = {"annotations": "f.json", "flip_perm": FLIP_19, "eye_idx": EYES_19}
    with pytest.raises(DatasetError) as info:
        open_dataset("folder", tmp_path, "all", **kw)
    msg = str(info.value)
    assert "f.json[1] (imgs/1.png): 5 landmarks, expected 19" in msg
    assert "missing.png: image file not found" in msg
    with pytest.warns(UserWarning, match="skipped 2"):
        ds = open_dataset("folder", tmp_path, "all", on_bad_file="skip", **kw)
    assert len(ds) == 1 and len(ds.skipped) == 2
    (tmp_path / "g.json").write_text("{not json")
    with pytest.raises(DatasetError, match="unreadable JSON"):
        open_dataset("folder", tmp_path, "all", annotations="g.json")


def test_csv(tmp_path):
    rng = np.random.default_rng(2)
    header = ["image"] + [f"{a}{k}" for k in range(68) for a in "xy"] + [
        "box_x_min", "box_y_min", "box_x_max", "box_y_max", "split"]
    rows, lms_all = [], []
    for k in range(3):
        write_image(tmp_path / f"{k}.jpg", rng)
        lms = face_points(rng, 68)
        lms_all.append(lms)
        box = ["2", "3", "60", "45"] if k == 0 else ["", "", "", ""]
        rows.append([f"{k}.jpg", *(f"{v:.4f}" for v in lms.ravel()), *box, "train"])
    rows.append(["3.jpg", "oops"])
    with (tmp_path / "faces.csv").open("w", newline="") as f:
        csv.writer(f).writerows([header, *rows])
    with pytest.raises(DatasetError, match=r"faces.csv:5: 2 columns, the header has 142"):
        open_dataset("folder", tmp_path, "train", annotations="faces.csv")
    with pytest.warns(UserWarning, match="skipped 1"):
        ds = open_dataset("folder", tmp_path, "train", annotations="faces.csv",
                          on_bad_file="skip")
    assert len(ds) == 3
    np.testing.assert_allclose(ds.landmarks, np.stack(lms_all), atol=1e-4)
    np.testing.assert_allclose(ds.boxes[0], [2, 3, 60, 45])
    np.testing.assert_allclose(ds.boxes[2], [*lms_all[2].min(0), *lms_all[2].max(0)], atol=1e-4)


def test_afw_pts_give_a_photo_several_faces(tmp_path):
    rng = np.random.default_rng(3)
    write_image(tmp_path / "group.jpg", rng)
    write_image(tmp_path / "solo.jpg", rng)
    faces = [face_points(rng, 68) for _ in range(3)]
    write_pts(tmp_path / "group_2.pts", faces[1])  # AFW: face n of group.jpg
    write_pts(tmp_path / "group_1.pts", faces[0])
    write_pts(tmp_path / "solo.pts", faces[2])
    ds = open_dataset("folder", tmp_path, "all")
    assert [p.name for p in ds.image_paths] == ["group.jpg", "group.jpg", "solo.jpg"]
    np.testing.assert_allclose(ds.landmarks[1], faces[1], atol=1e-3)  # face 2, in n order
