"""Inputs of `predict`: image files and folders, and the optional face-box CSV.

Box CSV (`--boxes`): a header row with the columns `image,x_min,y_min,x_max,y_max` (in
any order; an optional `face` column; other columns are ignored), then one row per face:
an image with several faces has several rows. Boxes are in the image's upright pixel
coordinates (EXIF orientation applied, as a photo viewer shows it), 0-based, (x_min, y_min)
the top-left and (x_max, y_max) the bottom-right corner, as the `folder` data set's boxes.
A file saved by a spreadsheet with a UTF-8 byte-order mark reads as any other.

Each face keeps a stable id: its image and its face index n (1, 2, ...), the `face` column
when there is one, else the order of the image's rows in the file.

A row's `image` names an input image when
1. the value, taken relative to the CSV file's folder (or as is, when absolute), is that
   image file; or else
2. the value is a bare file name (no folder part) that exactly one input image has.
Every input image needs at least one row; a row that names no input image, an ambiguous
name, a repeated face index, a missing column or a field that is not a number is an error
naming the CSV file and row.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from trainers.datasets.registry import IMAGE_SUFFIXES

BOX_COLUMNS = ("image", "x_min", "y_min", "x_max", "y_max")


class PredictError(ValueError):
    """Bad input to `predict`: a missing or unreadable image, or a bad box file."""


@dataclass(frozen=True)
class BoxRow:
    """One data row of a box CSV: its 1-based line number, image field and box."""

    line: int
    image: str
    box: np.ndarray  # (4,) float64 x_min, y_min, x_max, y_max
    face: int | None = None  # the `face` column, when the file has one


def find_images(inputs: Sequence[str | os.PathLike]) -> list[Path]:
    """Image files from files and folders (folders searched recursively, sorted).

    Files are taken in the order given, whatever their suffix; in folders only names
    ending in IMAGE_SUFFIXES (any case) count. An image named twice is kept once.

    Raises:
        PredictError: a path that does not exist, or no images at all.
    """
    found: list[Path] = []
    for item in inputs:
        p = Path(item)
        if p.is_file():
            found.append(p)
        elif p.is_dir():
            found += sorted((f for f in p.rglob("*")
                             if f.suffix.lower() in IMAGE_SUFFIXES and f.is_file()),
                            key=lambda f: f.relative_to(p).as_posix())
        else:
            raise PredictError(f"{p}: no such image file or folder")
    unique = list(dict.fromkeys(found))
    if not unique:
        raise PredictError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in "
                           f"{', '.join(str(i) for i in inputs) or 'the inputs (none given)'}")
    return unique


def _header(path: Path, rows: list[list[str]]) -> dict[str, int]:
    if not rows:
        raise PredictError(f"{path}: empty box file; the first row must be the header "
                           f"{','.join(BOX_COLUMNS)}")
    col = {h.strip().lstrip("\ufeff"): i for i, h in enumerate(rows[0])}
    missing = [c for c in BOX_COLUMNS if c not in col]
    if missing:
        raise PredictError(f"{path} row 1: header lacks {missing}; it needs "
                           f"{','.join(BOX_COLUMNS)}, got {','.join(rows[0])}")
    return col


def _box(path: Path, line: int, row: list[str], col: dict[str, int]) -> np.ndarray:
    values = []
    for name in BOX_COLUMNS[1:]:
        text = row[col[name]].strip()
        try:
            v = float(text)
        except ValueError:
            v = float("nan")
        if not np.isfinite(v):
            raise PredictError(f"{path} row {line}: {name}={text!r} is not a finite number")
        values.append(v)
    box = np.array(values, dtype=np.float64)
    if box[2] <= box[0] or box[3] <= box[1]:
        raise PredictError(f"{path} row {line}: empty box {box.tolist()}; need x_max > x_min "
                           "and y_max > y_min")
    return box


def read_boxes(path: str | os.PathLike) -> list[BoxRow]:
    """Parse a box CSV (see the module docstring); blank lines are skipped.

    Raises:
        PredictError: unreadable file, bad header, wrong column count, empty image field
            or a bad number (naming the file and row).
    """
    path = Path(path)
    try:
        # utf-8-sig: a spreadsheet's byte-order mark is not part of the first header.
        with path.open(newline="", encoding="utf-8-sig") as f:
            rows = list(csv.reader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise PredictError(f"{path}: unreadable box file ({e})") from e
    col = _header(path, rows)
    out = []
    for line, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(rows[0]):
            raise PredictError(f"{path} row {line}: {len(row)} columns, the header has "
                               f"{len(rows[0])}")
        image = row[col["image"]].strip()
        if not image:
            raise PredictError(f"{path} row {line}: empty image field")
        out.append(BoxRow(line, image, _box(path, line, row, col),
                          _face(path, line, row, col)))
    return out


def _face(path: Path, line: int, row: list[str], col: dict[str, int]) -> int | None:
    if "face" not in col:
        return None
    text = row[col["face"]].strip()
    if not text.isdigit() or int(text) < 1:
        raise PredictError(f"{path} row {line}: face={text!r} is not a face index 1, 2, ...")
    return int(text)


def _resolve(p: Path) -> Path:
    return Path(os.path.realpath(p))


def _match_row(row: BoxRow, csv_path: Path, by_file: dict[Path, int],
               by_name: dict[str, list[int]]) -> int:
    candidate = Path(row.image)
    if not candidate.is_absolute():
        candidate = csv_path.parent / candidate
    index = by_file.get(_resolve(candidate))
    if index is not None:
        return index
    if Path(row.image).name == row.image and row.image in by_name:
        hits = by_name[row.image]
        if len(hits) > 1:
            raise PredictError(f"{csv_path} row {row.line}: image {row.image!r} is ambiguous, "
                               f"{len(hits)} input images have that name; give its path "
                               "relative to the box file's folder")
        return hits[0]
    raise PredictError(f"{csv_path} row {row.line}: image {row.image!r} is not one of the input "
                       f"images (looked for {candidate} and for a file of that name)")


def match_boxes(rows: Sequence[BoxRow], images: Sequence[Path], csv_path: str | os.PathLike
                ) -> list[dict[int, np.ndarray]]:
    """The faces of each image, {face index: box}, in the order of `images` (rules in the
    module docstring).

    Raises:
        PredictError: a row naming no input image, an ambiguous name, a face index given
            twice for one image, or an image without a row.
    """
    csv_path = Path(csv_path)
    by_file = {_resolve(p): i for i, p in enumerate(images)}
    by_name: dict[str, list[int]] = {}
    for i, p in enumerate(images):
        by_name.setdefault(p.name, []).append(i)
    faces: list[dict[int, np.ndarray]] = [{} for _ in images]
    first_line: dict[tuple[int, int], int] = {}
    for row in rows:
        i = _match_row(row, csv_path, by_file, by_name)
        n = row.face if row.face is not None else len(faces[i]) + 1
        if (i, n) in first_line:
            raise PredictError(f"{csv_path} row {row.line}: face {n} of {images[i]} is given "
                               f"twice (first in row {first_line[(i, n)]})")
        first_line[(i, n)] = row.line
        faces[i][n] = row.box
    missing = [str(images[i]) for i, f in enumerate(faces) if not f]
    if missing:
        more = f" (+{len(missing) - 3} more)" if len(missing) > 3 else ""
        raise PredictError(f"{csv_path}: no box row for {', '.join(missing[:3])}{more}; "
                           "give at least one row per input image")
    return faces
