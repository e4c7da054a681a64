"""What the backend records from Label Studio: an annotation `propose` can read lands in the
project's annotations (the landmarks coming back to the annotator's pixels), one it cannot
read is refused with the reason, and a task left without annotations is forgotten."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from orchestrator.projects.label_studio import keypoint_results, read_label_studio_exports
from orchestrator.projects.status import project_status
from orchestrator.serve.project_adapter import RECORD_PREFIX, ServedProject, ServeError
from tests.orchestrator.serve.conftest import Project
from trainers.datasets.pts import read_pts


def _task(project: Project, name: str, drop: int | None = None) -> dict[str, Any]:
    """A task as Label Studio's API returns it, annotated with the held-back truth."""
    result = keypoint_results(read_pts(project.truth / name.replace(".png", ".pts")), 91, 91)
    if drop is not None:
        del result[drop]
    return {"id": 12, "data": {"image": f"/data/local-files/?d={name}", "scaf_image": name},
            "annotations": [{"id": 40, "result": result, "was_cancelled": False}]}


def test_an_annotation_is_recorded_and_counted_then_forgotten(served_untrained: Project
                                                              ) -> None:
    served = ServedProject(served_untrained.path, served_untrained.images)
    name = served_untrained.proposed[0]
    before = project_status(served_untrained.path).labeled
    assert served.record_annotation(12, _task(served_untrained, name)) == name
    assert project_status(served_untrained.path).labeled == before + 1
    assert served.recorded_tasks_with_annotation(40) == [12]
    found, problems = read_label_studio_exports(served_untrained.path / "annotations",
                                                served.image_names())
    assert problems == []
    # Keypoints without a parent rectangle are face 1 of the image.
    assert list(found[name]) == [1]
    np.testing.assert_allclose(found[name][1],
                               read_pts(served_untrained.truth / name.replace(".png", ".pts")),
                               atol=1e-9)
    emptied = {**_task(served_untrained, name), "annotations": []}
    assert served.record_annotation(12, emptied) is None
    assert project_status(served_untrained.path).labeled == before
    assert not list((served_untrained.path / "annotations").glob(f"{RECORD_PREFIX}*"))


def test_an_annotation_propose_could_not_read_is_refused(served_untrained: Project) -> None:
    served = ServedProject(served_untrained.path, served_untrained.images)
    name = served_untrained.proposed[0]
    with pytest.raises(ServeError, match=r"^task 12: keypoints p5 are missing; not recorded$"
                       ) as missing:
        served.record_annotation(12, _task(served_untrained, name, drop=5))
    assert missing.value.status == 422
    elsewhere = {**_task(served_untrained, name), "data": {"image": "/data/upload/1/x.png"}}
    with pytest.raises(ServeError, match="matches no project image"):
        served.record_annotation(12, elsewhere)
    assert not list((served_untrained.path / "annotations").iterdir())
