"""Label Studio files of an annotation project: tasks with pre-annotations out, exports in.

Out (`round-NNN/label_studio.json` and `label_studio_config.xml`): a JSON list of tasks,
one per proposed image, each

    {"data": {"image": "/data/local-files/?d=<path relative to the image folder,
                         percent-encoded>",
              "scaf_image": "<the same relative path>"},
     "predictions": [{"model_version": "...", "score": <acquisition score>,
                      "result": [<one keypointlabels entry per landmark>]}]}

and the labeling config with one `<Label value="p<i>"/>` per landmark index i, so that an
export maps back to landmark order. A keypoint entry holds `x`, `y` in **percent of the
image size** (Label Studio's unit): our 0-based pixel centre (x0, y0) is the continuous
point (x0 + 0.5, y0 + 0.5), so x = 100 (x0 + 0.5) / W and y = 100 (y0 + 0.5) / H.

In (JSON exports dropped into `PROJECT/annotations/`): a list of tasks whose
`annotations` (the last one not cancelled) hold keypointlabels entries `p0` ... `p<L-1>`,
every index exactly once. The image is found by `data.scaf_image`, else by the file name
of `data.image` (Label Studio's upload prefix `1a2b3c4d-` stripped) matching one image.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote
from xml.sax.saxutils import quoteattr

import numpy as np

FROM_NAME = "kp"
TO_NAME = "img"
LABEL_PREFIX = "p"
LOCAL_FILES_URL = "/data/local-files/?d="
_UPLOAD_PREFIX = re.compile(r"^[0-9a-f]{8}-")


def label_config_xml(num_landmarks: int) -> str:
    """The Label Studio labeling config: an image and one keypoint label per landmark."""
    labels = "\n".join(f'    <Label value={quoteattr(f"{LABEL_PREFIX}{i}")}/>'
                       for i in range(num_landmarks))
    return (f'<View>\n  <Image name="{TO_NAME}" value="$image" zoom="true"/>\n'
            f'  <KeyPointLabels name="{FROM_NAME}" toName="{TO_NAME}" strokeWidth="1">\n'
            f"{labels}\n  </KeyPointLabels>\n</View>\n")


def keypoint_results(landmarks: np.ndarray, width: int, height: int) -> list[dict[str, Any]]:
    """One keypointlabels result per landmark (0-based pixel centres -> percent)."""
    point_size = 100.0 * 2.0 / max(width, height)
    return [{
        "from_name": FROM_NAME, "to_name": TO_NAME, "type": "keypointlabels",
        "original_width": int(width), "original_height": int(height), "image_rotation": 0,
        "value": {"x": 100.0 * (float(x) + 0.5) / width, "y": 100.0 * (float(y) + 0.5) / height,
                  "width": point_size, "keypointlabels": [f"{LABEL_PREFIX}{i}"]},
    } for i, (x, y) in enumerate(np.asarray(landmarks, dtype=np.float64))]


def label_studio_tasks(images: Sequence[str], landmarks: Sequence[np.ndarray | None],
                       sizes: Sequence[tuple[int, int]], scores: Sequence[float],
                       model_version: str) -> list[dict[str, Any]]:
    """Tasks for `images` (relative paths), with predictions where landmarks are known."""
    tasks = []
    for rel, lms, (w, h), score in zip(images, landmarks, sizes, scores, strict=True):
        # The path is a URL query value: percent-encoded (spaces, '#', '&', '?', non-ASCII).
        task: dict[str, Any] = {"data": {"image": LOCAL_FILES_URL + quote(rel, safe="/"),
                                         "scaf_image": rel}}
        if lms is not None:
            task["predictions"] = [{"model_version": model_version,
                                    "score": None if not np.isfinite(score) else float(score),
                                    "result": keypoint_results(lms, w, h)}]
        tasks.append(task)
    return tasks


def write_label_studio(out_json: Path, out_xml: Path, tasks: list[dict[str, Any]],
                       num_landmarks: int) -> None:
    """Write the task list and its labeling config."""
    out_json.write_text(json.dumps(tasks, indent=1) + "\n", encoding="utf-8")
    out_xml.write_text(label_config_xml(num_landmarks), encoding="utf-8")


def _task_points(task: dict[str, Any]) -> np.ndarray | str:
    """The (L, 2) 0-based landmarks of a task's last kept annotation, or why there are none."""
    kept = [a for a in task.get("annotations") or [] if not a.get("was_cancelled")]
    if not kept:
        return "no annotation"
    points: dict[int, tuple[float, float]] = {}
    for entry in kept[-1].get("result") or []:
        if entry.get("type") != "keypointlabels":
            continue
        value = entry.get("value") or {}
        labels = value.get("keypointlabels") or []
        label = labels[0] if labels else ""
        if not re.fullmatch(rf"{LABEL_PREFIX}\d+", str(label)):
            return f"keypoint label {label!r} is not one of {LABEL_PREFIX}0, {LABEL_PREFIX}1, ..."
        index = int(str(label)[len(LABEL_PREFIX):])
        if index in points:
            return f"keypoint {label} appears twice"
        try:
            w, h = float(entry["original_width"]), float(entry["original_height"])
            points[index] = (float(value["x"]) * w / 100.0 - 0.5,
                             float(value["y"]) * h / 100.0 - 0.5)
        except (KeyError, TypeError, ValueError) as e:
            return f"keypoint {label} lacks a number ({e})"
    if not points:
        return "no keypoints in the annotation"
    missing = sorted(set(range(max(points) + 1)) - set(points))
    if missing:
        return f"keypoints {', '.join(f'{LABEL_PREFIX}{i}' for i in missing[:8])} are missing"
    return np.array([points[i] for i in range(len(points))], dtype=np.float64)


def _task_image(task: dict[str, Any]) -> str:
    data = task.get("data") or {}
    return str(data.get("scaf_image") or data.get("image") or "")


def match_image(key: str, images: Sequence[str]) -> str | None:
    """The project image a task names: the relative path itself, else the one image with
    that file name (Label Studio's upload prefix stripped)."""
    if key in images:
        return key
    name = Path(unquote(key.split("?d=")[-1])).name
    candidates = {name, _UPLOAD_PREFIX.sub("", name)}
    hits = [rel for rel in images if Path(rel).name in candidates]
    return hits[0] if len(hits) == 1 else None


def read_label_studio_exports(folder: Path, images: Sequence[str]
                              ) -> tuple[dict[str, np.ndarray], list[tuple[str, str]]]:
    """Landmarks from every `*.json` export in `folder`, by relative image path.

    Returns:
        ({image: (L, 2) 0-based landmarks}, [(file, reason)] for unusable files and tasks;
        a task without an annotation is not a problem, it is simply not labeled yet).
    """
    found: dict[str, np.ndarray] = {}
    problems: list[tuple[str, str]] = []
    for path in sorted(Path(folder).glob("*.json")) if Path(folder).is_dir() else []:
        try:
            tasks = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            problems.append((str(path), f"unreadable Label Studio export ({e})"))
            continue
        if not isinstance(tasks, list):
            problems.append((str(path), "not a Label Studio JSON export (expected a task list)"))
            continue
        for k, task in enumerate(tasks):
            where = f"{path} task {k}"
            if not isinstance(task, dict):
                problems.append((where, "not a task object"))
                continue
            points = _task_points(task)
            if isinstance(points, str):
                if points != "no annotation":
                    problems.append((where, points))
                continue
            rel = match_image(_task_image(task), images)
            if rel is None:
                problems.append((where, f"image {_task_image(task)!r} matches no project image"))
                continue
            found[rel] = points
    return found, problems
