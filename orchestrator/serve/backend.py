"""Label Studio's ML-backend protocol for one annotation project, without the HTTP.

- `setup(body)`: Label Studio sends `{project, schema, hostname, access_token}`; the URL and
  token are kept (to read annotations later) and the model version is returned.
- `predict(body)`: for each task of `{tasks: [...]}` one keypoint group per face, in percent
  of the image, each point with its score, and a task-level `score` that encodes the
  project's acquisition order: the i-th of the n images waiting for annotation (best first)
  scores i / (n + 1), every other image 1.0. Sorting the Data Manager by prediction score,
  ascending, or `label-studio start --sampling prediction-score-min`, gives that order.
  A task whose image is not an image under `--images` is refused (403) with its reason.
- `webhook(body)`: on `ANNOTATION_CREATED` / `ANNOTATION_UPDATED` / `ANNOTATION_DELETED`
  (and Label Studio's `ANNOTATIONS_DELETED`) the task is read back through Label Studio's
  API and recorded into the project; `START_TRAINING` trains.
- `train()`: one `propose` round in a background thread; the model version moves on to the
  new round when it is written.

Every instance holds its own state, so several backends (one per project) can run in one
process or side by side.
"""

from __future__ import annotations

import logging
import threading
import urllib.parse
from typing import Any

from orchestrator.serve.label_studio_api import LabelStudioAPI
from orchestrator.serve.project_adapter import ServedProject, ServeError, keypoint_regions

ANNOTATION_ACTIONS = ("ANNOTATION_CREATED", "ANNOTATION_UPDATED", "ANNOTATION_DELETED",
                      "ANNOTATIONS_DELETED")
TRAIN_ACTIONS = ("START_TRAINING",)
log = logging.getLogger("scaf_al.serve")


def _task_id(task: dict[str, Any]) -> str:
    return str(task.get("id", "?"))


class Backend:
    """The ML backend of one project (see the module docstring).

    Args:
        project: the served project.
        label_studio_url, label_studio_token: used until `/setup` gives others.
    """

    def __init__(self, project: ServedProject, *, label_studio_url: str | None = None,
                 label_studio_token: str | None = None) -> None:
        self.project = project
        self.label_studio_url = label_studio_url
        self.label_studio_token = label_studio_token
        self._lock = threading.Lock()
        self._training: threading.Thread | None = None
        self.last_training_error: str | None = None

    # -- protocol ------------------------------------------------------------------------
    def health(self) -> dict[str, Any]:
        return {"status": "UP", "model_class": "scaf-al",
                "model_version": self.project.model_version()}

    def setup(self, body: dict[str, Any]) -> dict[str, Any]:
        """Keep Label Studio's URL and token; answer the model version."""
        with self._lock:
            self.label_studio_url = str(body.get("hostname") or "") or self.label_studio_url
            self.label_studio_token = (str(body.get("access_token") or "")
                                       or self.label_studio_token)
        return {"model_version": self.project.model_version()}

    def predict(self, body: dict[str, Any]) -> dict[str, Any]:
        tasks = body.get("tasks")
        if not isinstance(tasks, list) or not all(isinstance(t, dict) for t in tasks):
            raise ServeError("/predict needs {\"tasks\": [task, ...]}", 400)
        version = self.project.model_version()
        names = [self.task_image(t) for t in tasks]  # refuses before any work
        order = self.project.acquisition_order()
        rank = {rel: i for i, rel in enumerate(order)}
        results = []
        for rel in names:
            faces = self.project.faces(rel)
            regions = [r for face in faces.faces
                       for r in keypoint_regions(face, faces.width, faces.height)]
            score = (rank[rel] + 1) / (len(order) + 1) if rel in rank else 1.0
            results.append({"result": regions, "score": score, "model_version": version})
        return {"results": results, "model_version": version}

    def task_image(self, task: dict[str, Any]) -> str:
        """The project image a task shows (relative path), or ServeError 403.

        `data.scaf_image` and a local-files URL (`...?d=PATH`) name a path relative to
        `--images` that must stay inside it; any other `data.image` (an upload URL) is
        matched by file name against the project's images."""
        data: dict[str, Any] = task["data"] if isinstance(task.get("data"), dict) else {}
        local = data.get("scaf_image") or None
        image = str(data.get("image") or "")
        if local is None and "?d=" in image:
            local = urllib.parse.unquote(image.split("?d=", 1)[1])
        if local is None and not image:
            raise ServeError(f"task {_task_id(task)}: no data.image", 400)
        images = self.project.images
        if local is not None:
            path = (images / str(local)).resolve()
            rel = path.relative_to(images).as_posix() if path.is_relative_to(images) else None
        else:
            rel = self.project.match_image(image)
        if rel is None or rel not in self.project.image_names():
            raise ServeError(f"task {_task_id(task)}: image {local or image!r} is not an image "
                             f"under --images {images}; refused", 403)
        return rel

    def webhook(self, body: dict[str, Any]) -> dict[str, Any]:
        action = str(body.get("action") or "")
        if action in TRAIN_ACTIONS:
            return self.train()
        if action not in ANNOTATION_ACTIONS:
            return {"status": "ignored", "action": action}
        api = self._api()
        task_ids = self._webhook_tasks(body)
        images = []
        for task_id in task_ids:
            recorded = self.project.record_annotation(task_id, api.task(task_id))
            images.append(recorded)
            log.info("%s: task %s %s", action, task_id,
                     f"recorded ({recorded})" if recorded else "has no annotation left")
        return {"status": "ok", "action": action, "tasks": task_ids, "images": images,
                "labeled": self.project.labeled_count()}

    def _webhook_tasks(self, body: dict[str, Any]) -> list[int]:
        """The task ids a webhook is about (deletions: the tasks recorded with them)."""
        ids: list[Any] = []
        if isinstance(body.get("task"), dict):
            ids.append(body["task"].get("id"))
        if isinstance(body.get("annotation"), dict):
            ids.append(body["annotation"].get("task"))
        for ann in body.get("annotations") or []:
            if isinstance(ann, dict):
                ids.append(ann.get("task"))
                if ann.get("id") is not None:
                    ids += self.project.recorded_tasks_with_annotation(ann["id"])
        found = [int(i) for i in ids if isinstance(i, int | str) and str(i).isdigit()]
        if not found and body.get("action") in ("ANNOTATION_DELETED", "ANNOTATIONS_DELETED"):
            return []
        if not found:
            raise ServeError(f"webhook {body.get('action')}: names no task (expected "
                             "task.id or annotation.task)", 400)
        return list(dict.fromkeys(found))

    def _api(self) -> LabelStudioAPI:
        with self._lock:
            url, token = self.label_studio_url, self.label_studio_token
        if not url or not token:
            raise ServeError("no Label Studio URL and token yet: connect this backend in "
                             "Label Studio (it calls /setup) or pass --label-studio-url and "
                             "--label-studio-token", 409)
        return LabelStudioAPI(url, token)

    # -- training ------------------------------------------------------------------------
    def train(self) -> dict[str, Any]:
        """Start one propose round in the background (one at a time)."""
        with self._lock:
            if self._training is not None and self._training.is_alive():
                return {"status": "already training",
                        "model_version": self.project.model_version()}
            self._training = threading.Thread(target=self._train, daemon=True,
                                              name=f"scaf-al-train-{self.project.folder.path}")
            self._training.start()
        return {"status": "training started", "model_version": self.project.model_version()}

    def _train(self) -> None:
        try:
            version = self.project.run_round(lambda m: log.info("train: %s", m))
            log.info("train: model version %s", version)
            self.last_training_error = None
        except Exception as e:  # noqa: BLE001 - a failed round is reported, never fatal
            self.last_training_error = f"{type(e).__name__}: {e}"
            log.error("train failed: %s", self.last_training_error)

    def is_training(self) -> dict[str, Any]:
        training = self._training is not None and self._training.is_alive()
        return {"is_training": training, "model_version": self.project.model_version(),
                "last_error": self.last_training_error}

    def wait_training(self, timeout: float | None = None) -> None:
        """Block until the running round (if any) ends (tests, shutdown)."""
        thread = self._training
        if thread is not None:
            thread.join(timeout)
