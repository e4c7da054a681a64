"""`scaf-al serve`'s HTTP API on a real uvicorn (no Label Studio): health, setup,
predictions against `predict`'s own output, the acquisition order in the task scores,
refused images, webhooks that cannot be served, training, and two backends side by side."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from orchestrator.cli.commands import main
from orchestrator.serve.app import create_app
from orchestrator.serve.backend import Backend
from orchestrator.serve.project_adapter import ServedProject
from tests.helpers.servers.http import call, running_app
from tests.orchestrator.serve.conftest import Project
from trainers.inference.predict import predict_images


def _backend(project: Project, **kw: Any) -> Backend:
    return Backend(ServedProject(project.path, project.images, **kw))


def _task(task_id: int, rel: str) -> dict[str, Any]:
    """A task as `propose` writes it into label_studio.json (Label Studio adds the id)."""
    return {"id": task_id, "data": {"image": f"/data/local-files/?d={rel}", "scaf_image": rel}}


def test_health_and_setup_give_the_latest_rounds_model_version(served_trained: Project
                                                                ) -> None:
    with running_app(create_app(_backend(served_trained))) as url:
        assert call("GET", url + "/health") == (
            200, {"status": "UP", "model_class": "scaf-al", "model_version": "faces/round-001"})
        status, body = call("POST", url + "/setup", {"project": "1.1", "schema": "<View/>",
                                                     "hostname": "http://127.0.0.1:9",
                                                     "access_token": "abc"})
        assert (status, body) == (200, {"model_version": "faces/round-001"})
        # The URL given at setup is the one the webhook then asks (port 9: nothing there).
        status, body = call("POST", url + "/webhook", {"action": "ANNOTATION_CREATED",
                                                       "task": {"id": 3}})
        assert status == 502 and "http://127.0.0.1:9" in body["detail"]


def test_predict_puts_the_keypoints_where_predict_does_in_percent(served_trained: Project,
                                                                   tmp_path: Path) -> None:
    names = [*served_trained.proposed[:2], "face000.png"]
    with running_app(create_app(_backend(served_trained))) as url:
        status, body = call("POST", url + "/predict",
                            {"tasks": [_task(i + 1, n) for i, n in enumerate(names)]})
    assert status == 200, body
    assert body["model_version"] == "faces/round-001"
    reference = predict_images(served_trained.path / "round-001" / "model.pt",
                               [served_trained.images / n for n in names], tmp_path / "p.csv",
                               device="cpu", whole_image=True)
    for result, expected in zip(body["results"], reference.landmarks, strict=True):
        # One face: its rectangle "face1" (the whole 91 x 91 image), then its keypoint group.
        box, *regions = result["result"]
        assert box["id"] == "face1" and box["type"] == "rectanglelabels"
        assert [box["value"][k] for k in ("x", "y", "width", "height")] == [0, 0, 100, 100]
        assert len(regions) == 68
        assert [r["value"]["keypointlabels"] for r in regions] == [[f"p{i}"] for i in range(68)]
        assert {r["id"].split("-")[0] for r in regions} == {"f1"}
        assert {r["parentID"] for r in regions} == {"face1"}
        # 91 x 91 images: pixel centre x0 is at 100 (x0 + 0.5) / 91 percent.
        xy = np.array([[r["value"]["x"] * 91 / 100 - 0.5, r["value"]["y"] * 91 / 100 - 0.5]
                       for r in regions])
        np.testing.assert_allclose(xy, expected, atol=1e-6)
        assert all(0.0 <= r["score"] <= 1.0 for r in regions)
        assert result["model_version"] == "faces/round-001"


def test_task_scores_put_the_rounds_picks_first_in_rank_order(served_trained: Project
                                                              ) -> None:
    """Round 001 proposed 5 images (none annotated yet): the i-th scores i / 6; an image
    that is labeled already scores 1.0, so an ascending sort gives the acquisition order."""
    labeled = next(p.name for p in sorted(served_trained.images.glob("*.pts")))
    labeled_png = labeled.replace(".pts", ".png")
    names = [labeled_png, *reversed(served_trained.proposed)]
    with running_app(create_app(_backend(served_trained))) as url:
        _status, body = call("POST", url + "/predict",
                             {"tasks": [_task(i, n) for i, n in enumerate(names)]})
    scores = dict(zip(names, (r["score"] for r in body["results"]), strict=True))
    assert scores[labeled_png] == 1.0
    assert [scores[n] for n in served_trained.proposed] == pytest.approx(
        [1 / 6, 2 / 6, 3 / 6, 4 / 6, 5 / 6])
    assert sorted(names, key=scores.__getitem__)[:5] == served_trained.proposed


@pytest.mark.parametrize("data", [
    {"image": "/data/local-files/?d=../truth/face000.pts"},
    {"image": "/data/local-files/?d=%2E%2E/truth/face000.pts"},
    {"image": "/data/local-files/?d=/etc/hostname"},
    {"scaf_image": "../images/../truth/face000.pts"},
    {"image": "/data/upload/1/0a1b2c3d-not-in-the-project.png"},
], ids=["dotdot", "quoted-dotdot", "absolute", "scaf_image", "unknown-upload"])
def test_predict_refuses_an_image_outside_images(served_trained: Project,
                                                  data: dict[str, str]) -> None:
    tasks = [_task(1, "face001.png"), {"id": 2, "data": data}]
    with running_app(create_app(_backend(served_trained))) as url:
        status, body = call("POST", url + "/predict", {"tasks": tasks})
        assert status == 403
        assert body["detail"].startswith("task 2: image ")
        assert body["detail"].endswith(f"is not an image under --images "
                                       f"{served_trained.images.resolve()}; refused")
        assert call("GET", url + "/health")[0] == 200  # still serving


def test_webhooks_it_cannot_serve_are_answered_with_a_reason(served_trained: Project) -> None:
    with running_app(create_app(_backend(served_trained))) as url:
        status, body = call("POST", url + "/webhook", {"action": "ANNOTATION_CREATED",
                                                       "task": {"id": 7}})
        assert status == 409 and "/setup" in body["detail"]  # no Label Studio yet
        call("POST", url + "/setup", {"hostname": "http://127.0.0.1:9", "access_token": "t"})
        status, body = call("POST", url + "/webhook", {"action": "ANNOTATION_UPDATED"})
        assert (status, body) == (400, {"detail": "webhook ANNOTATION_UPDATED: names no task "
                                                  "(expected task.id or annotation.task)"})
        assert call("POST", url + "/webhook", {"action": "PROJECT_UPDATED"}) == (
            200, {"status": "ignored", "action": "PROJECT_UPDATED"})
        assert call("POST", url + "/predict", {"tasks": "x"})[0] == 400
        assert call("GET", url + "/health")[0] == 200


def _wait_trained(url: str, timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _status, body = call("GET", url + "/is_training")
        if not body["is_training"]:
            return body
        time.sleep(0.3)
    raise AssertionError(f"still training after {timeout} s")


def test_two_backends_side_by_side_and_train_bumps_one_version(
        served_trained: Project, served_untrained: Project) -> None:
    """Two projects, two ports, one process: each answers for its own project; training
    the untrained one (a random cold start: K = 2 of its 6 images) moves only its version."""
    with running_app(create_app(_backend(served_trained))) as url_a, \
            running_app(create_app(_backend(served_untrained, k=2))) as url_b:
        assert call("GET", url_b + "/health")[1]["model_version"] == "other/round-000"
        task = _task(1, served_untrained.proposed[0])
        _status, body = call("POST", url_b + "/predict", {"tasks": [task]})
        assert body["results"] == [{"result": [], "score": 1 / 3,
                                    "model_version": "other/round-000"}]  # no model yet
        assert call("POST", url_a + "/predict", {"tasks": [task]})[0] == 403  # not A's image
        status, body = call("POST", url_b + "/train", {})
        assert (status, body["status"]) == (200, "training started")
        done = _wait_trained(url_b)
        assert (done["model_version"], done["last_error"]) == ("other/round-001", None)
        assert (served_untrained.path / "round-001" / "to_annotate.csv").is_file()
        assert call("GET", url_a + "/health")[1]["model_version"] == "faces/round-001"


def test_serve_on_a_folder_that_is_not_a_project_is_one_line(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture
                                                              ) -> None:
    (tmp_path / "images").mkdir()
    code = main(["serve", str(tmp_path / "nothing"), "--images", str(tmp_path / "images")])
    assert code == 2
    out = capsys.readouterr().out
    assert "not an annotation project" in out and len(out.strip().splitlines()) == 1
