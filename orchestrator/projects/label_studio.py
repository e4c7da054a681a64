"""Label Studio files of an annotation project: tasks with pre-annotations out, exports in.

Out (`round-NNN/label_studio.json` and `label_studio_config.xml`): a JSON list of tasks,
one per image holding proposed faces (in the order of its best face), each

    {"data": {"image": "/data/local-files/?d=<path relative to the image folder,
                         percent-encoded>",
              "scaf_image": "<the same relative path>", "scaf_faces": [n, ...]},
     "predictions": [{"model_version": "...", "score": <best acquisition score>,
                      "result": [per face: a "face" rectangle with id "face<n>", then
                                 its keypoints (when predicted), "parentID": "face<n>"]}]}

and the labeling config: the image, a `RectangleLabels` "face" tag and one keypoint
`<Label value="p<i>"/>` per landmark index i, so that an export maps back to landmark order.
Coordinates are **percent of the image size** (Label Studio's unit), in the upright frame a
browser shows: our 0-based pixel centre (x0, y0) is the continuous point (x0 + 0.5, y0 + 0.5),
so x = 100 (x0 + 0.5) / W and y = 100 (y0 + 0.5) / H.

In (JSON exports dropped into `PROJECT/annotations/`): the full JSON export (a list of
tasks whose `annotations`, the last one not cancelled, hold the results) or the JSON-MIN
export (a list of flat tasks `{"image": ..., "kp": [{"x", "y", "keypointlabels",
"original_width", "original_height"}, ...]}`). Keypoints are grouped into faces by their
`parentID`: a parent rectangle with id `face<n>` (as the tasks name them) is face n; a face
the annotator drew (another parent) takes the next free index. Keypoints without a parent
are one face (face 1), unless a label repeats. Each face needs `p0` ...
`p<L-1>` exactly once. The image is found by `data.scaf_image`, else by the file name of
`data.image` (Label Studio's upload prefix `1a2b3c4d-` stripped) matching one image.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote
from xml.sax.saxutils import quoteattr

import numpy as np

FROM_NAME = "kp"
TO_NAME = "img"
BOX_NAME = "face_box"
BOX_LABEL = "face"
LABEL_PREFIX = "p"
LOCAL_FILES_URL = "/data/local-files/?d="
_UPLOAD_PREFIX = re.compile(r"^[0-9a-f]{8}-")


def label_config_xml(num_landmarks: int) -> str:
    """The Label Studio labeling config: an image, a face box and one keypoint label per
    landmark."""
    labels = "\n".join(f'    <Label value={quoteattr(f"{LABEL_PREFIX}{i}")}/>'
                       for i in range(num_landmarks))
    return (f'<View>\n  <Image name="{TO_NAME}" value="$image" zoom="true"/>\n'
            f'  <RectangleLabels name="{BOX_NAME}" toName="{TO_NAME}">\n'
            f'    <Label value="{BOX_LABEL}"/>\n  </RectangleLabels>\n'
            f'  <KeyPointLabels name="{FROM_NAME}" toName="{TO_NAME}" strokeWidth="1">\n'
            f"{labels}\n  </KeyPointLabels>\n</View>\n")


def keypoint_results(landmarks: np.ndarray, width: int, height: int,
                     parent: str | None = None) -> list[dict[str, Any]]:
    """One keypointlabels result per landmark (0-based pixel centres -> percent)."""
    point_size = 100.0 * 2.0 / max(width, height)
    out = []
    for i, (x, y) in enumerate(np.asarray(landmarks, dtype=np.float64)):
        entry: dict[str, Any] = {
            "from_name": FROM_NAME, "to_name": TO_NAME, "type": "keypointlabels",
            "original_width": int(width), "original_height": int(height),
            "image_rotation": 0,
            "value": {"x": 100.0 * (float(x) + 0.5) / width,
                      "y": 100.0 * (float(y) + 0.5) / height,
                      "width": point_size, "keypointlabels": [f"{LABEL_PREFIX}{i}"]}}
        if parent is not None:
            entry["parentID"] = parent
        out.append(entry)
    return out


def box_result(face: int, box: np.ndarray, width: int, height: int) -> dict[str, Any]:
    """The face's box as a rectanglelabels region with id `face<n>`."""
    x0, y0, x1, y1 = (float(v) for v in box)
    return {"id": f"{BOX_LABEL}{face}", "from_name": BOX_NAME, "to_name": TO_NAME,
            "type": "rectanglelabels", "original_width": int(width),
            "original_height": int(height), "image_rotation": 0,
            "value": {"x": 100.0 * x0 / width, "y": 100.0 * y0 / height,
                      "width": 100.0 * (x1 - x0) / width, "height": 100.0 * (y1 - y0) / height,
                      "rotation": 0, "rectanglelabels": [BOX_LABEL]}}


def label_studio_tasks(images: Sequence[str], faces: Sequence[int],
                       boxes: Sequence[np.ndarray], landmarks: Sequence[np.ndarray | None],
                       sizes: Sequence[tuple[int, int]], scores: Sequence[float],
                       model_version: str) -> list[dict[str, Any]]:
    """One task per image (in the order of its best face), one face group per face."""
    by_image: dict[str, list[int]] = {}
    for k, rel in enumerate(images):
        by_image.setdefault(rel, []).append(k)
    tasks = []
    for rel, ks in by_image.items():
        w, h = sizes[ks[0]]
        result: list[dict[str, Any]] = []
        for k in ks:
            result.append(box_result(faces[k], boxes[k], w, h))
            lms = landmarks[k]
            if lms is not None:
                result += keypoint_results(lms, w, h, parent=f"{BOX_LABEL}{faces[k]}")
        best = scores[ks[0]]
        # The path is a URL query value: percent-encoded (spaces, '#', '&', '?', non-ASCII).
        tasks.append({"data": {"image": LOCAL_FILES_URL + quote(rel, safe="/"),
                               "scaf_image": rel,
                               "scaf_faces": [int(faces[k]) for k in ks]},
                      "predictions": [{"model_version": model_version,
                                       "score": None if not np.isfinite(best) else float(best),
                                       "result": result}]})
    return tasks


def write_label_studio(out_json: Path, out_xml: Path, tasks: list[dict[str, Any]],
                       num_landmarks: int) -> None:
    """Write the task list and its labeling config."""
    out_json.write_text(json.dumps(tasks, indent=1) + "\n", encoding="utf-8")
    out_xml.write_text(label_config_xml(num_landmarks), encoding="utf-8")


def _number(entry: dict[str, Any], value: dict[str, Any], key: str, label: str) -> float:
    """A finite number from a result entry, or ValueError naming the field."""
    try:
        v = float(value[key])
    except KeyError:
        raise ValueError(f"keypoint {label} has no {key!r}") from None
    except (TypeError, ValueError):
        raise ValueError(f"keypoint {label} field {key!r} is {value[key]!r}, not a number"
                         ) from None
    if not math.isfinite(v):
        raise ValueError(f"keypoint {label} field {key!r} is {value[key]!r}, not a finite "
                         "number")
    return v


def _keypoint(entry: dict[str, Any]) -> tuple[int, float, float, str | None]:
    """(landmark index, x, y in pixels, parent id) of one keypoint entry (full or MIN
    export), or ValueError naming the field."""
    value = entry.get("value", entry)
    if not isinstance(value, dict):
        raise ValueError(f"field 'value' is {value!r}, not an object")
    labels = value.get("keypointlabels")
    if not isinstance(labels, list) or len(labels) != 1:
        raise ValueError(f"field 'keypointlabels' is {labels!r}, not a list of one label")
    label = str(labels[0])
    if not re.fullmatch(rf"{LABEL_PREFIX}\d+", label):
        raise ValueError(f"keypoint label {label!r} is not one of {LABEL_PREFIX}0, "
                         f"{LABEL_PREFIX}1, ...")
    w = _number(entry, entry, "original_width", label)
    h = _number(entry, entry, "original_height", label)
    x, y = _number(entry, value, "x", label), _number(entry, value, "y", label)
    parent = entry.get("parentID")
    return (int(label[len(LABEL_PREFIX):]), x * w / 100.0 - 0.5, y * h / 100.0 - 0.5,
            None if parent is None else str(parent))


def _group_faces(entries: list[dict[str, Any]]) -> dict[str | None, dict[int, tuple]]:
    """{parent id: {landmark index: (x, y)}} of the keypoint entries."""
    groups: dict[str | None, dict[int, tuple[float, float]]] = {}
    for entry in entries:
        if not isinstance(entry, dict):
            raise ValueError(f"result entry {entry!r} is not an object")
        if entry.get("type", "keypointlabels") != "keypointlabels":  # MIN: no type
            continue
        index, x, y, parent = _keypoint(entry)
        points = groups.setdefault(parent, {})
        if index in points:
            raise ValueError(f"keypoint {LABEL_PREFIX}{index} appears twice in one face "
                             "(group each face's points under its face rectangle)")
        points[index] = (x, y)
    return groups


def _complete(points: dict[int, tuple[float, float]]) -> np.ndarray:
    missing = sorted(set(range(max(points) + 1)) - set(points))
    if missing:
        raise ValueError(f"keypoints {', '.join(f'{LABEL_PREFIX}{i}' for i in missing[:8])} "
                         "are missing")
    return np.array([points[i] for i in range(len(points))], dtype=np.float64)


def task_faces(entries: list[dict[str, Any]]) -> dict[int, np.ndarray]:
    """{face n: (L, 2) 0-based landmarks} of one annotation's results (rules in the module
    docstring), or ValueError naming the field."""
    groups = _group_faces(entries)
    faces: dict[int, np.ndarray] = {}
    others = []
    for parent, points in groups.items():
        match = re.fullmatch(rf"{BOX_LABEL}(\d+)", parent or "")
        if parent is None and len(groups) == 1:
            faces[1] = _complete(points)
        elif match:
            faces[int(match[1])] = _complete(points)
        else:
            others.append(_complete(points))
    for lms in others:  # user-drawn faces: the next free indices
        faces[max(faces, default=0) + 1] = lms
    return faces


def _task_points(task: dict[str, Any]) -> dict[int, np.ndarray] | str:
    """The faces of a task's last kept annotation (full or MIN export), or why none."""
    if "annotations" not in task and isinstance(task.get("kp"), list):
        entries = task["kp"]  # JSON-MIN
    else:
        kept = [a for a in task.get("annotations") or []
                if isinstance(a, dict) and not a.get("was_cancelled")]
        if not kept:
            return "no annotation"
        entries = kept[-1].get("result") or []
    if not isinstance(entries, list):
        return f"field 'result' is {entries!r}, not a list"
    try:
        faces = task_faces(entries)
    except ValueError as e:
        return str(e)
    return faces or "no keypoints in the annotation"


def _task_image(task: dict[str, Any]) -> str:
    data = task.get("data")
    if not isinstance(data, dict):
        data = task  # JSON-MIN: flat
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
                              ) -> tuple[dict[str, dict[int, np.ndarray]],
                                         list[tuple[str, str]]]:
    """Landmarks from every `*.json` export in `folder`, by relative image and face.

    Returns:
        ({image: {face n: (L, 2) 0-based landmarks}}, [(file, reason)] for unusable files
        and tasks; a task without an annotation is not a problem, it is simply not labeled
        yet).
    """
    found: dict[str, dict[int, np.ndarray]] = {}
    problems: list[tuple[str, str]] = []
    for path in sorted(Path(folder).glob("*.json")) if Path(folder).is_dir() else []:
        try:
            tasks = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            problems.append((str(path), f"unreadable Label Studio export ({e})"))
            continue
        if not isinstance(tasks, list):
            problems.append((str(path), "not a Label Studio JSON or JSON-MIN export (expected "
                                        "a task list)"))
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
