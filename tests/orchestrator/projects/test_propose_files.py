"""The files of a `propose` round: to_annotate.csv, preannotations/*.pts, label_studio.json
with its config, contact_sheet.png, and Label Studio exports read back."""

from __future__ import annotations

import csv
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from orchestrator.projects.label_studio import keypoint_results, read_label_studio_exports
from orchestrator.projects.propose import propose
from tests.helpers.propose_faces import annotate, tiny_spec, write_faces
from trainers.datasets.pts import read_pts
from trainers.inference.predict import predict_images


@pytest.fixture(scope="module")
def trained_round(tmp_path_factory: pytest.TempPathFactory, propose_autoencoder: Path) -> dict:
    """A project after a random cold start of 4 (annotated) and one trained round of K=5."""
    tmp = tmp_path_factory.mktemp("propose-files")
    images, truth = tmp / "images", tmp / "truth"
    faces = write_faces(images, truth, 14)
    spec = tiny_spec(tmp / "spec.toml", tmp / "cache",
                     model={"pretrained": str(propose_autoencoder)},
                     budgets=[{"sizes": [4]}])
    project = tmp / "project"
    first = propose(project, images, 4, spec=spec, cold_start="random", whole_image=True)
    annotate(images, truth, first.record.proposed)
    out = propose(project, images, 5, whole_image=True)
    return {"images": images, "project": project, "out": out, "faces": faces, "tmp": tmp}


def test_to_annotate_csv_has_k_ranked_rows_best_first(trained_round: dict) -> None:
    path = trained_round["project"] / "round-001" / "to_annotate.csv"
    with path.open(newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["rank", "image", "face", "score", "x_min", "y_min", "x_max", "y_max"]
    body = rows[1:]
    assert [int(r[0]) for r in body] == [1, 2, 3, 4, 5]
    scores = [float(r[3]) for r in body]
    assert scores == sorted(scores, reverse=True)  # higher = more worth labeling
    labeled = set(trained_round["out"].record.labeled)
    for _rank, image, face, _score, *box in body:
        assert (trained_round["images"] / image).is_file()  # relative to DIR
        assert f"{image}#{face}" not in labeled and face == "1"
        assert [float(v) for v in box] == [0.0, 0.0, 91.0, 91.0]  # whole image: its extent


def test_preannotations_are_the_saved_models_predictions_in_image_pixels(
        trained_round: dict, tmp_path: Path) -> None:
    round_dir, images = trained_round["project"] / "round-001", trained_round["images"]
    proposed = [face.removesuffix("#1") for face in trained_round["out"].record.proposed]
    pts_files = sorted((round_dir / "preannotations").glob("*.pts"))
    assert [p.stem for p in pts_files] == sorted(f"{Path(p).stem}_1" for p in proposed)
    # An independent path: `predict` with the round's model.pt on the original images
    # (whole image as the face, as propose crops unlabeled images without --boxes).
    pred = predict_images(round_dir / "model.pt", [images / p for p in proposed],
                          tmp_path / "pred.csv", device="cpu", whole_image=True)
    for rel, expected in zip(proposed, pred.landmarks, strict=True):
        got = read_pts(round_dir / "preannotations" / f"{Path(rel).stem}_1.pts")
        assert got.shape == (68, 2)
        np.testing.assert_allclose(got, expected, atol=1.5e-3)  # .pts keeps 3 decimals


def test_label_studio_percent_coordinates_by_hand() -> None:
    # Pixel centre (49.5, 24.5) of a 200 x 100 image is the point (50, 25): 25 % and 25 %.
    [entry] = keypoint_results(np.array([[49.5, 24.5]]), 200, 100)
    assert entry["value"]["x"] == pytest.approx(25.0)
    assert entry["value"]["y"] == pytest.approx(25.0)
    assert entry["type"] == "keypointlabels"
    assert entry["value"]["keypointlabels"] == ["p0"]
    assert (entry["original_width"], entry["original_height"]) == (200, 100)


def test_label_studio_tasks_match_the_preannotations_and_the_config(trained_round: dict) -> None:
    round_dir = trained_round["project"] / "round-001"
    tasks = json.loads((round_dir / "label_studio.json").read_text())
    config = ET.fromstring((round_dir / "label_studio_config.xml").read_text())
    image_tag, kp_tag = config.find("Image"), config.find("KeyPointLabels")
    labels = [lab.get("value") for lab in kp_tag.findall("Label")]
    assert labels == [f"p{i}" for i in range(68)]
    assert kp_tag.get("toName") == image_tag.get("name")
    box_tag = config.find("RectangleLabels")
    assert box_tag.get("toName") == image_tag.get("name")
    assert [f"{t['data']['scaf_image']}#1" for t in tasks] == trained_round["out"].record.proposed
    for task in tasks:
        stem = Path(task["data"]["scaf_image"]).stem
        pts = read_pts(round_dir / "preannotations" / f"{stem}_1.pts")
        [pred] = task["predictions"]
        assert len(pred["result"]) == 1 + 68  # the face box, then its points
        box = pred["result"][0]
        assert box["id"] == "face1" and box["from_name"] == box_tag.get("name")
        assert box["value"]["width"] == pytest.approx(100.0)  # the whole 91 px image
        for i, entry in enumerate(pred["result"][1:]):
            assert entry["parentID"] == "face1"
            assert entry["from_name"] == kp_tag.get("name")
            assert entry["to_name"] == image_tag.get("name")
            assert entry["value"]["keypointlabels"] == [f"p{i}"]
            w, h = entry["original_width"], entry["original_height"]
            assert (w, h) == (91, 91)
            # percent = 100 * (pixel centre + 0.5) / size
            assert entry["value"]["x"] == pytest.approx(100 * (pts[i, 0] + 0.5) / w, abs=2e-3)
            assert entry["value"]["y"] == pytest.approx(100 * (pts[i, 1] + 0.5) / h, abs=2e-3)


def test_contact_sheet_shows_the_k_faces(trained_round: dict) -> None:
    with Image.open(trained_round["project"] / "round-001" / "contact_sheet.png") as im:
        assert im.format == "PNG"
        assert im.size == (5 * 200, 1 * 230)  # K = 5 tiles of 200 px, 30 px captions


def _export(tasks: list[tuple[str, list[tuple[float, float]], int, int]]) -> list[dict]:
    """A Label Studio export: per task the image, points in percent, and the image size."""
    out = []
    for image, points, w, h in tasks:
        result = [{"from_name": "kp", "to_name": "img", "type": "keypointlabels",
                   "original_width": w, "original_height": h,
                   "value": {"x": x, "y": y, "width": 1.0, "keypointlabels": [f"p{i}"]}}
                  for i, (x, y) in enumerate(points)]
        out.append({"data": {"image": image}, "annotations": [{"result": result}]})
    return out


def test_label_studio_export_reads_back_in_pixels(tmp_path: Path) -> None:
    # 25 % of 200 px is the point 50, i.e. the pixel centre 49.5; 50 % of 100 px -> 49.5.
    export = _export([("/data/upload/1/0a1b2c3d-face.png", [(25.0, 50.0), (0.25, 99.5)], 200,
                       100)])
    (tmp_path / "export.json").write_text(json.dumps(export))
    found, problems = read_label_studio_exports(tmp_path, ["sub/face.png", "other.png"])
    assert problems == []
    np.testing.assert_allclose(found["sub/face.png"][1], [[49.5, 49.5], [0.0, 99.0]])


def test_label_studio_export_problems_name_the_file(tmp_path: Path) -> None:
    export = _export([("face.png", [(10.0, 10.0)], 100, 100)])
    export[0]["annotations"][0]["result"][0]["value"]["keypointlabels"] = ["p3"]
    (tmp_path / "gap.json").write_text(json.dumps(export))
    (tmp_path / "broken.json").write_text("{not json")
    found, problems = read_label_studio_exports(tmp_path, ["face.png"])
    assert found == {}
    assert [Path(p.split(" task")[0]).name for p, _ in problems] == ["broken.json", "gap.json"]
    assert "p0, p1, p2 are missing" in problems[1][1]


def test_an_imported_export_counts_as_labeled(trained_round: dict, tmp_path: Path) -> None:
    from orchestrator.projects.status import project_status

    project, images = trained_round["project"], trained_round["images"]
    before = project_status(project)
    rel = trained_round["out"].record.proposed[0].removesuffix("#1")
    lms = trained_round["faces"][rel]
    points = [(100 * (x + 0.5) / 91, 100 * (y + 0.5) / 91) for x, y in lms]
    (project / "annotations" / "ls-export.json").write_text(
        json.dumps(_export([(f"/data/local-files/?d={rel}", points, 91, 91)])))
    try:
        after = project_status(project)
        assert after.labeled == before.labeled + 1
        assert after.waiting == before.waiting - 1
        found, _ = read_label_studio_exports(project / "annotations", [rel])
        np.testing.assert_allclose(found[rel][1], lms, atol=1e-9)
        assert not (images / f"{Path(rel).stem}.pts").exists()  # nothing written into DIR
    finally:
        (project / "annotations" / "ls-export.json").unlink()
