"""The Label Studio round trip against real servers: a real Label Studio (its own virtual
environment) and `scaf-al serve` as a command, both on 127.0.0.1. Through Label Studio's API:
a project with the config `propose` writes and its tasks, the backend connected, predictions
where `predict` puts them and in acquisition order, an annotation counted by the project
(and uncounted when deleted), a webhook for an unknown task refused cleanly, and training
started from Label Studio moving the model version on."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from orchestrator.projects.label_studio import keypoint_results
from orchestrator.projects.outputs import RoundRecord
from orchestrator.projects.status import project_status
from tests.helpers.servers.http import call, free_port, wait_until_up
from tests.helpers.servers.label_studio import REPO, LabelStudio, running_label_studio
from tests.orchestrator.serve.conftest import Project, trained_project
from trainers.datasets.pts import read_pts
from trainers.inference.predict import predict_images

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def label_studio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabelStudio]:
    with running_label_studio(tmp_path_factory.mktemp("label-studio")) as ls:
        yield ls


@pytest.fixture
def served(tmp_path: Path, propose_autoencoder: Path) -> Iterator[tuple[Project, str]]:
    """A trained project and `scaf-al serve` on it (a process of its own)."""
    project = trained_project(tmp_path, propose_autoencoder)
    port = free_port()
    log = (tmp_path / "serve.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "orchestrator.cli", "serve", str(project.path), "--images",
         str(project.images), "--port", str(port)],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        wait_until_up(f"http://127.0.0.1:{port}/health", 120, "scaf-al serve")
        yield project, f"http://127.0.0.1:{port}"
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)
        log.close()


def _until(check: Callable[[], Any], what: str, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := check():
            return value
        time.sleep(0.5)
    raise AssertionError(f"{what}: not within {timeout:.0f} s")


def _connect(ls: LabelStudio, project: Project, url: str) -> tuple[int, int, dict[str, int]]:
    """A Label Studio project from round 001's files, the backend connected to it."""
    round_dir = project.path / "round-001"
    config = (round_dir / "label_studio_config.xml").read_text()
    pid = ls.api("POST", "/api/projects", {"title": "scaf-al faces", "label_config": config})["id"]
    tasks = json.loads((round_dir / "label_studio.json").read_text())
    for task in tasks:
        del task["predictions"]  # the backend's predictions only
    assert ls.api("POST", f"/api/projects/{pid}/import", tasks)["task_count"] == 5
    ml = ls.api("POST", "/api/ml", {"url": url, "project": pid, "title": "scaf-al"})
    assert (ml["state"], ml["model_version"]) == ("CO", "faces/round-001")
    listed = ls.api("GET", f"/api/tasks?project={pid}")["tasks"]
    return pid, ml["id"], {t["data"]["scaf_image"]: t["id"] for t in listed}


def _check_predictions(ls: LabelStudio, project: Project, pid: int, tasks: dict[str, int],
                       tmp: Path) -> None:
    reply = ls.api("POST", f"/api/dm/actions?id=retrieve_tasks_predictions&project={pid}",
                   {"selectedItems": {"all": True, "excluded": []}})
    assert reply["processed_items"] == 5
    names = project.proposed
    reference = predict_images(project.path / "round-001" / "model.pt",
                               [project.images / n for n in names], tmp / "p.csv", device="cpu",
                               whole_image=True)
    scores = {}
    for name, expected in zip(names, reference.landmarks, strict=True):
        (prediction,) = ls.api("GET", f"/api/tasks/{tasks[name]}/")["predictions"]
        assert prediction["model_version"] == "faces/round-001"
        points = {r["value"]["keypointlabels"][0]: (r["value"]["x"], r["value"]["y"])
                  for r in prediction["result"] if r["type"] == "keypointlabels"}
        assert {r["parentID"] for r in prediction["result"] if "parentID" in r} == {"face1"}
        xy = np.array([points[f"p{i}"] for i in range(68)]) * 91 / 100 - 0.5  # % -> pixels
        np.testing.assert_allclose(xy, expected, atol=1e-4)
        scores[name] = prediction["score"]
    # The Data Manager sorted by prediction score, ascending: the round's ranks.
    assert sorted(names, key=scores.__getitem__) == names
    assert [scores[n] for n in names] == pytest.approx([1 / 6, 2 / 6, 3 / 6, 4 / 6, 5 / 6])


def _annotate(ls: LabelStudio, project: Project, task_id: int, name: str) -> int:
    """Post the held-back truth of `name` as an annotation; wait until the project has it."""
    before = project_status(project.path).labeled
    result = keypoint_results(read_pts(project.truth / name.replace(".png", ".pts")), 91, 91)
    for i, region in enumerate(result):
        region["id"] = f"a{i}"
    annotation = ls.api("POST", f"/api/tasks/{task_id}/annotations/", {"result": result})
    _until(lambda: project_status(project.path).labeled == before + 1,
           "the project counts the annotation")
    return int(annotation["id"])


def test_label_studio_round_trip(label_studio: LabelStudio, served: tuple[Project, str],
                                 tmp_path: Path) -> None:
    ls, (project, url) = label_studio, served
    pid, ml_id, tasks = _connect(ls, project, url)
    _check_predictions(ls, project, pid, tasks, tmp_path)

    first = project.proposed[0]
    labeled = project_status(project.path).labeled
    annotation = _annotate(ls, project, tasks[first], first)
    ls.api("DELETE", f"/api/annotations/{annotation}/")
    _until(lambda: project_status(project.path).labeled == labeled, "the deletion counted")
    _annotate(ls, project, tasks[first], first)

    status, body = call("POST", url + "/webhook", {"action": "ANNOTATION_CREATED",
                                                   "task": {"id": 999999}})
    assert status == 404 and body["detail"].startswith("task 999999: Label Studio at ")
    assert call("GET", url + "/health")[0] == 200

    ls.api("POST", f"/api/ml/{ml_id}/train", {})
    _until(lambda: ls.api("GET", f"/api/ml/{ml_id}")["model_version"] == "faces/round-002",
           "Label Studio sees the new model version", timeout=300)
    record = RoundRecord.read(project.path / "round-002" / "round.json")
    assert f"{first}#1" in record.labeled and record.model == "model.pt"
