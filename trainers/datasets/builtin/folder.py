"""Users' own landmark data: a folder of images with `.pts` files, or one JSON/CSV file.

Any number of landmarks works; the flip permutation and the normalisation pair (the two
points whose distance normalises NME) come from the options, and default to the iBUG-68 /
WFLW-98 tables for 68 / 98 points.

Layouts on disk (root = the folder given to `open_dataset("folder", root, split)`):

* `.pts` mode (no `annotations` option): every image under root (searched recursively)
  with a sibling `.pts` file of the same stem (1-based iBUG format), or, for a photo with
  several faces, `<stem>_1.pts`, `<stem>_2.pts`, ... (the AFW convention, beside or
  instead of `<stem>.pts` for face 1; `trainers.datasets.pts.pts_faces`), one face each.
  The split "all" takes the whole folder; any other split reads the sub-folder of that name.
* JSON (`annotations="faces.json"`, relative to root or absolute): a list of records, or
  {"faces": [...]}, each `{"image": "rel/path.jpg", "landmarks": [[x, y], ...]}` with
  optional `"box": [x_min, y_min, x_max, y_max]` and `"split": "train"`.
* CSV (`annotations="faces.csv"`): a header row with `image`, then `x0, y0, x1, y1, ...`
  and optional `box_x_min, box_y_min, box_x_max, box_y_max` and `split` columns.

JSON/CSV coordinates are 0-based pixel centres unless `one_based=True`. Faces without a
box are cropped from the box around their landmarks.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from trainers.datasets.base import DatasetError, LandmarkDataset
from trainers.datasets.collect import DEFAULT_MAX_OUTSIDE, FaceCollector, FaceRecord
from trainers.datasets.layouts import Layout, check_flip_perm, standard_layout
from trainers.datasets.pts import pts_faces, read_pts
from trainers.datasets.registry import IMAGE_SUFFIXES, register_dataset
from trainers.inference.safe_files import unspreadsheet_cell

# 3FabRec's 300-W adjustment suits tight landmark boxes, the default box here.
DEFAULT_BOX_ADJUST = (0.2, 0.12)
BOX_COLUMNS = ("box_x_min", "box_y_min", "box_x_max", "box_y_max")


def make_layout(
    num_landmarks: int,
    flip_perm: Sequence[int] | None,
    eye_idx: Sequence[int] | None,
) -> Layout:
    """A layout for user data: given tables, or the standard ones for 68 / 98 points.

    Raises:
        ValueError: when a table is missing for a non-standard count, or is invalid.
    """
    standard = standard_layout(num_landmarks)
    if flip_perm is None:
        if standard is None:
            raise ValueError(
                f"folder data with {num_landmarks} landmarks needs a flip permutation "
                "(option flip_perm: new[i] = old[flip_perm[i]] after mirroring x)"
            )
        perm = standard.flip_perm
    else:
        perm = check_flip_perm(np.asarray(flip_perm), num_landmarks)
    eyes: tuple[int, ...]
    if eye_idx is None:
        if standard is None:
            raise ValueError(
                f"folder data with {num_landmarks} landmarks needs the normalisation pair "
                "(option eye_idx: the two landmark indices whose distance normalises NME)"
            )
        eyes = standard.eye_idx
    else:
        eyes = tuple(int(v) for v in eye_idx)
        if len(eyes) != 2 or eyes[0] == eyes[1] or not all(0 <= v < num_landmarks for v in eyes):
            raise ValueError(
                f"eye_idx must be two different indices in 0..{num_landmarks - 1}, got {eye_idx}"
            )
    return Layout(f"folder{num_landmarks}", num_landmarks, perm, (eyes[0], eyes[1]))


def _records_from_json(path: Path) -> list[dict[str, Any]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DatasetError(f"{path}: unreadable JSON annotation file ({e})") from e
    if isinstance(data, dict) and "faces" in data:
        data = data["faces"]
    if not isinstance(data, list):
        raise DatasetError(f"{path}: expected a list of face records or {{'faces': [...]}}")
    return data


def _records_from_csv(path: Path) -> list[dict[str, Any]]:
    try:
        with path.open(newline="", encoding="utf-8") as f:
            rows = list(csv.reader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise DatasetError(f"{path}: unreadable CSV annotation file ({e})") from e
    if not rows:
        raise DatasetError(f"{path}: empty CSV file (needs a header row)")
    header = [h.strip() for h in rows[0]]
    if "image" not in header:
        raise DatasetError(f"{path}: the header needs an 'image' column, got {header[:8]}")
    n_points = 0
    while f"x{n_points}" in header and f"y{n_points}" in header:
        n_points += 1
    if n_points == 0:
        raise DatasetError(f"{path}: no landmark columns x0, y0, x1, y1, ... in the header")
    col = {h: i for i, h in enumerate(header)}
    has_box = all(c in col for c in BOX_COLUMNS)
    records = []
    for row_no, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        rec: dict[str, Any] = {"_where": f"{path.name}:{row_no}"}
        if len(row) != len(header):
            rec["_error"] = f"{len(row)} columns, the header has {len(header)}"
            records.append(rec)
            continue
        # `predict` writes a name a spreadsheet would run as a formula with an apostrophe.
        rec["image"] = unspreadsheet_cell(row[col["image"]].strip())
        try:
            rec["landmarks"] = [
                [float(row[col[f"x{k}"]]), float(row[col[f"y{k}"]])] for k in range(n_points)
            ]
            if has_box and all(row[col[c]].strip() for c in BOX_COLUMNS):
                rec["box"] = [float(row[col[c]]) for c in BOX_COLUMNS]
        except ValueError as e:
            rec["_error"] = f"not a number ({e})"
        if "split" in col:
            rec["split"] = row[col["split"]].strip()
        records.append(rec)
    return records


def find_images(base: Path) -> list[Path]:
    """Image files under `base` (recursive, `IMAGE_SUFFIXES`), sorted by their POSIX path
    relative to it: the pool order of a folder data set and of an annotation project."""
    found = (p for p in base.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    return sorted(found, key=lambda p: p.relative_to(base).as_posix())


def _faces_from_pts(root: Path, split: str) -> tuple[list[dict[str, Any]], list[tuple]]:
    base = root if split == "all" else root / split
    if not base.is_dir():
        raise DatasetError(
            f"folder split {split!r}: {base} is not a folder (use split='all' for the whole "
            "folder, or put each split's files in a sub-folder of that name)"
        )
    records: list[dict[str, Any]] = []
    orphans: list[tuple] = []
    images = find_images(base)
    image_stems = {p.with_suffix("") for p in images}
    claimed: set[Path] = set()
    for img, faces, repeated in pts_faces(images):
        for pts in faces.values() or [img.with_suffix(".pts")]:
            records.append({"image": str(img.relative_to(root)), "_pts": pts})
        claimed.update(faces.values(), (pts for pts, _why in repeated))
        orphans += repeated
    for pts in sorted(base.rglob("*.pts")):
        if pts.with_suffix("") not in image_stems and pts not in claimed:
            orphans.append((pts, "no image with this stem"))
    return records, orphans


@register_dataset(
    "folder", title="image folder", splits=("all",), any_split=True, train_split="train",
    test_splits=("test",), pretrain_split="all", layout=None,
    landmarks_option="num_landmarks", boxes="landmarks", suffixes=IMAGE_SUFFIXES,
)
def open_folder(
    root: Path,
    split: str = "all",
    strict: bool = False,
    on_bad_file: str = "error",
    annotations: str | Path | None = None,
    flip_perm: Sequence[int] | None = None,
    eye_idx: Sequence[int] | None = None,
    num_landmarks: int | None = None,
    box_adjust: Sequence[float] = DEFAULT_BOX_ADJUST,
    one_based: bool = False,
    check_images: bool = True,
    max_outside: float = DEFAULT_MAX_OUTSIDE,
    name: str = "folder",
) -> LandmarkDataset:
    """Open a user's landmark data (see the module docstring for the layouts).

    Args:
        root: the data folder; images are found relative to it.
        split: "all", or a split name (sub-folder in .pts mode, `split` field otherwise).
        strict: unused (user data has no official counts); accepted for a uniform API.
        on_bad_file: "error" or "skip" (see LandmarkDataset).
        annotations: a JSON or CSV annotation file, or None for images with .pts files.
        flip_perm: horizontal-flip permutation (default only for 68 / 98 points).
        eye_idx: the normalisation pair (default only for 68 / 98 points).
        num_landmarks: the expected count; default: that of the first readable face.
        box_adjust: (top, bottom) fractions of the box height added by the crop.
        one_based: JSON/CSV coordinates are 1-based (subtract 1); .pts always are.
        check_images: read each image header (existence, readability, size).
        max_outside: how far (fraction of the image side) landmarks may stick out.
        name: the data set name in reports and cache keys.
    """
    del strict
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"folder data set root {root} is not a folder")
    faces = FaceCollector(f"{name} {split} under {root}", on_bad_file,
                          num_landmarks=num_landmarks, check_images=check_images,
                          max_outside=max_outside)
    if annotations is None:
        records = _records_from_pts(root, split, faces)
        annotation_files = []
    else:
        ann = Path(annotations)
        ann = ann if ann.is_absolute() else root / ann
        records = _records_from_file(ann, split)
        annotation_files = [ann]
    for k, rec in enumerate(records):
        face = _parse_record(rec, k, root, annotations, one_based, faces)
        if face is not None:
            faces.add(face)
    return faces.dataset(
        name=name, split=split, root=root,
        layout=lambda count: make_layout(count, flip_perm, eye_idx),
        box_adjust=(float(box_adjust[0]), float(box_adjust[1])),
        annotation_files=annotation_files,
    )


def _records_from_pts(root: Path, split: str, faces: FaceCollector) -> list[dict[str, Any]]:
    """The image + .pts records of a split; .pts files without an image are bad files."""
    records, orphans = _faces_from_pts(root, split)
    for path, reason in orphans:
        faces.bad_file(path, reason)
    if not records:
        hint = [p.name for p in root.iterdir() if p.suffix.lower() in (".json", ".csv")]
        raise DatasetError(
            f"no images with .pts files under {root}"
            + (f"; for {hint} pass annotations=<file>" if hint else "")
        )
    return records


def _records_from_file(ann: Path, split: str) -> list[Any]:
    """The records of a JSON or CSV annotation file that belong to `split`."""
    if not ann.is_file():
        raise DatasetError(f"annotation file not found: {ann}")
    if ann.suffix.lower() == ".json":
        records: list[Any] = _records_from_json(ann)
    elif ann.suffix.lower() == ".csv":
        records = _records_from_csv(ann)
    else:
        raise DatasetError(f"{ann}: annotation files must be .json or .csv")
    if split == "all":
        return records
    if not any(isinstance(r, dict) and "split" in r for r in records):
        raise DatasetError(
            f"{ann}: split {split!r} asked for, but no record has a 'split' field "
            "(use split='all')"
        )
    # Unparseable rows stay in, so they are reported whatever split they meant.
    return [
        r for r in records
        if not isinstance(r, dict) or "_error" in r or r.get("split") == split
    ]


def _parse_record(
    rec: Any, k: int, root: Path, annotations: str | Path | None, one_based: bool,
    faces: FaceCollector,
) -> FaceRecord | None:
    """Record `k` as a FaceRecord, or None after reporting to `faces` why not."""
    if not isinstance(rec, dict):
        faces.bad_file(f"{annotations}[{k}]", "record is not an object")
        return None
    where = rec.get("_where") or (f"{Path(str(annotations)).name}[{k}]" if annotations else "")
    if "_error" in rec:
        faces.bad_file(where, rec["_error"])
        return None
    rel = rec.get("image")
    if not isinstance(rel, str) or not rel:
        faces.bad_file(where, "no 'image' path")
        return None
    image = root / rel
    label = f"{where} ({rel})" if where else str(image)
    if "_pts" in rec:
        try:
            lms = read_pts(rec["_pts"])
        except DatasetError as e:
            faces.bad_file(rec["_pts"], str(e).removeprefix(f"{rec['_pts']}: "))
            return None
        return FaceRecord(image=image, landmarks=lms, name=rel, group=str(Path(rel).parent),
                          where=rec["_pts"])
    parsed = _points_and_box(rec, one_based)
    if isinstance(parsed, str):
        faces.bad_file(label, parsed)
        return None
    return FaceRecord(image=image, landmarks=parsed[0], name=rel, group=str(Path(rel).parent),
                      where=label, box=parsed[1])


def _points_and_box(
    rec: dict[str, Any], one_based: bool
) -> tuple[np.ndarray, np.ndarray | None] | str:
    """A JSON/CSV record's 0-based (L, 2) landmarks and optional box, or why not."""
    try:
        lms = np.asarray(rec.get("landmarks"), dtype=np.float64)
    except (TypeError, ValueError) as e:
        return f"landmarks are not numbers ({e})"
    if lms.ndim != 2 or lms.shape[1] != 2 or lms.shape[0] == 0:
        return f"landmarks must be a list of [x, y] pairs, got shape {lms.shape}"
    box = None
    if rec.get("box") is not None:
        try:
            box = np.asarray(rec["box"], dtype=np.float64).reshape(4)
        except (TypeError, ValueError):
            return f"box must be [x_min, y_min, x_max, y_max], got {rec['box']}"
    shift = 1.0 if one_based else 0.0
    return lms - shift, (None if box is None else box - shift)
