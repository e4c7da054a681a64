"""Label Studio with several faces per photo: one task per image, one keypoint group per
face (grouped under the face rectangle by `parentID`), the JSON-MIN export, and one line
naming the file, task and field for malformed keypoints."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from orchestrator.projects.label_studio import (
    keypoint_results,
    label_studio_tasks,
    read_label_studio_exports,
)

W, H = 200, 100


def _points(k: int) -> np.ndarray:
    """Three 0-based points of face k (pixel centres)."""
    return np.array([[10.0 + 50 * k, 20.0], [20.0 + 50 * k, 30.0], [15.0 + 50 * k, 40.0]])


def test_tasks_group_each_faces_points_under_its_box_and_read_back(tmp_path: Path) -> None:
    boxes = [np.array([0.0, 10, 40, 50]), np.array([50.0, 10, 90, 50])]
    tasks = label_studio_tasks(["g.jpg", "g.jpg"], [1, 2], boxes, [_points(0), _points(1)],
                               [(W, H)] * 2, [0.9, 0.5], "m")
    assert len(tasks) == 1 and tasks[0]["data"]["scaf_faces"] == [1, 2]
    result = tasks[0]["predictions"][0]["result"]
    assert [r.get("id") for r in result if r["type"] == "rectanglelabels"] == ["face1", "face2"]
    # By hand: box 1 spans x 0..40 of 200 px = 0 % .. 20 %, y 10..50 of 100 px.
    assert result[0]["value"]["x"] == 0.0 and result[0]["value"]["width"] == 20.0
    assert result[0]["value"]["y"] == 10.0 and result[0]["value"]["height"] == 40.0
    assert {r["parentID"] for r in result[1:4]} == {"face1"}
    # An export is the annotator's copy of the prediction, the rectangles included.
    export = [{"data": tasks[0]["data"], "annotations": [{"result": result}]}]
    (tmp_path / "export.json").write_text(json.dumps(export))
    found, problems = read_label_studio_exports(tmp_path, ["g.jpg"])
    assert problems == []
    assert sorted(found["g.jpg"]) == [1, 2]
    np.testing.assert_allclose(found["g.jpg"][2], _points(1), atol=1e-9)


def test_json_min_export_reads_like_the_full_one(tmp_path: Path) -> None:
    kp = [{"x": e["value"]["x"], "y": e["value"]["y"],
           "keypointlabels": e["value"]["keypointlabels"], "original_width": W,
           "original_height": H} for e in keypoint_results(_points(0), W, H)]
    (tmp_path / "min.json").write_text(json.dumps([
        {"image": "/data/local-files/?d=sub/a.jpg", "id": 7, "kp": kp}]))
    found, problems = read_label_studio_exports(tmp_path, ["sub/a.jpg"])
    assert problems == []
    np.testing.assert_allclose(found["sub/a.jpg"][1], _points(0), atol=1e-9)


@pytest.mark.parametrize(("spoil", "message"), [
    (lambda e: e["value"].update(x=float("nan")), "keypoint p1 field 'x' is nan, not a finite"),
    (lambda e: e["value"].update(keypointlabels={"a": 1}),
     "field 'keypointlabels' is {'a': 1}, not a list of one label"),
    (lambda e: e.update(value=[1, 2]), "field 'value' is [1, 2], not an object"),
])
def test_a_malformed_keypoint_is_one_line_naming_file_task_and_field(
        tmp_path: Path, spoil, message: str) -> None:
    result = keypoint_results(_points(0), W, H)
    spoil(result[1])
    (tmp_path / "bad.json").write_text(json.dumps(
        [{"data": {"image": "a.jpg"}, "annotations": [{"result": result}]}]))
    found, problems = read_label_studio_exports(tmp_path, ["a.jpg"])
    assert found == {}
    [(where, why)] = problems
    assert where == f"{tmp_path / 'bad.json'} task 0"
    assert message in why and "\n" not in why


def test_a_repeated_label_without_face_boxes_says_how_to_group(tmp_path: Path) -> None:
    result = keypoint_results(_points(0), W, H) + keypoint_results(_points(1), W, H)
    (tmp_path / "two.json").write_text(json.dumps(
        [{"data": {"image": "a.jpg"}, "annotations": [{"result": result}]}]))
    _found, [(_where, why)] = read_label_studio_exports(tmp_path, ["a.jpg"])
    assert "p0 appears twice" in why and "face rectangle" in why
