"""The iBUG `.pts` landmark format (300-W and users' own folders).

```
version: 1
n_points:  68
{
446.000 91.000
...
}
```
The header's spacing varies between releases, so fields are split on any whitespace.
Coordinates are 1-based (MATLAB: the top-left pixel centre is (1, 1)); `read_pts`
returns 0-based pixel centres and `write_pts` writes 1-based values.

A photo with several faces follows AFW: `<stem>_<n>.pts` beside the image holds face n
(n = 1, 2, ...), `<stem>.pts` its only face (face 1). A `<stem>_<n>.pts` whose name is also
the stem of an image in that folder belongs to that image (`pts_faces`).
"""

from __future__ import annotations

import glob
import math
import re
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from trainers.datasets.base import DatasetError


def _parse_float(token: str, path: Path, line_no: int) -> float:
    try:
        return float(token)
    except ValueError as e:
        raise DatasetError(f"{path}: line {line_no}: {token!r} is not a number") from e


def read_pts(path: Path, expected_points: int | None = None) -> np.ndarray:
    """Read a `.pts` file.

    Args:
        path: the file.
        expected_points: the landmark count the data set needs, or None for any.

    Returns:
        (L, 2) float64 0-based (x, y).

    Raises:
        DatasetError: naming the file and the problem: missing, no `n_points`, no braces,
            fewer or more point lines than declared (truncated file), non-numeric or
            non-finite values, or a count other than `expected_points`.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8", errors="strict")
    except FileNotFoundError as e:
        raise DatasetError(f"{path}: .pts file not found") from e
    except (OSError, UnicodeDecodeError) as e:
        raise DatasetError(f"{path}: unreadable .pts file ({e})") from e
    declared, opened, closed, points = _parse_lines(text, path)
    if declared is None:
        raise DatasetError(f"{path}: no 'n_points:' header (empty or not a .pts file)")
    if not opened:
        raise DatasetError(f"{path}: no opening '{{' (truncated file?)")
    if len(points) != declared:
        raise DatasetError(
            f"{path}: {len(points)} points, but the header declares n_points {declared}"
            + ("" if closed else " (truncated file?)")
        )
    if not closed:
        raise DatasetError(f"{path}: no closing '}}' (truncated file?)")
    if expected_points is not None and declared != expected_points:
        raise DatasetError(f"{path}: {declared} points, expected {expected_points}")
    return np.asarray(points, dtype=np.float64).reshape(-1, 2) - 1.0


def _parse_lines(
    text: str, path: Path
) -> tuple[int | None, bool, bool, list[tuple[float, float]]]:
    """(declared n_points, saw '{', saw '}', the 1-based points) of a .pts file's text."""
    declared: int | None = None
    opened = closed = False
    points: list[tuple[float, float]] = []
    for line_no, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        if closed:
            raise DatasetError(f"{path}: line {line_no}: text after the closing '}}'")
        if not opened:
            opened = line == "{"
            if not opened:
                declared = _header_line(line, path, line_no, declared)
        elif line == "}":
            closed = True
        else:
            points.append(_point_line(line, path, line_no))
    return declared, opened, closed, points


def _header_line(line: str, path: Path, line_no: int, declared: int | None) -> int | None:
    """The n_points a header line declares (else `declared`); other keys than version fail."""
    key, _, value = line.partition(":")
    key = key.strip().lower()
    if key == "n_points":
        try:
            return int(value.split()[0])
        except (ValueError, IndexError) as e:
            raise DatasetError(
                f"{path}: line {line_no}: bad n_points value {value.strip()!r}"
            ) from e
    if key != "version":
        raise DatasetError(f"{path}: line {line_no}: unexpected header line {line!r}")
    return declared


def _point_line(line: str, path: Path, line_no: int) -> tuple[float, float]:
    fields = line.split()
    if len(fields) != 2:
        raise DatasetError(
            f"{path}: line {line_no}: expected 'x y', got {len(fields)} field(s): {line!r}"
        )
    x = _parse_float(fields[0], path, line_no)
    y = _parse_float(fields[1], path, line_no)
    if not (math.isfinite(x) and math.isfinite(y)):
        raise DatasetError(f"{path}: line {line_no}: non-finite coordinate {line!r}")
    return x, y


def write_pts(path: Path, landmarks: np.ndarray, header_spaces: int = 2) -> None:
    """Write 0-based (L, 2) landmarks as a 1-based `.pts` file.

    Args:
        header_spaces: spaces after `n_points:` (2 in the iBUG files, 1 in some 300W ones).
    """
    lms = np.asarray(landmarks, dtype=np.float64) + 1.0
    lines = ["version: 1", f"n_points:{' ' * header_spaces}{len(lms)}", "{"]
    lines += [f"{x:.3f} {y:.3f}" for x, y in lms]
    lines.append("}")
    Path(path).write_text("\n".join(lines) + "\n", encoding="utf-8")


def pts_faces(images: Sequence[Path]
              ) -> Iterator[tuple[Path, dict[int, Path], list[tuple[Path, str]]]]:
    """Per image, in order: (image, {face n: its .pts file}, [(a file that repeats a face,
    why)]), by the AFW rule in the module docstring. The `folder` data set, an annotation
    project's labels and its status read faces through this one rule."""
    stems: dict[Path, set[str]] = {}
    for image in images:
        stems.setdefault(image.parent, set()).add(image.stem)
    for image in images:
        files, repeated = _face_pts_files(image, stems[image.parent])
        yield image, files, [(pts, f"face 1 of {image.name} is in {image.stem}.pts already")
                             for pts in repeated]


def _face_pts_files(image: Path, stems: set[str]) -> tuple[dict[int, Path], list[Path]]:
    """({face n: its .pts file} beside `image`, files that repeat a face); `stems`: every
    image stem in the image's folder."""
    found: dict[int, Path] = {}
    repeated: list[Path] = []
    single = image.with_suffix(".pts")
    if single.is_file():
        found[1] = single
    pattern = re.compile(rf"{re.escape(image.stem)}_(\d+)\.pts")
    for pts in sorted(image.parent.glob(f"{glob.escape(image.stem)}_*.pts")):
        match = pattern.fullmatch(pts.name)
        if match and int(match[1]) >= 1 and pts.stem not in stems:
            if int(match[1]) in found:
                repeated.append(pts)
            else:
                found[int(match[1])] = pts
    return dict(sorted(found.items())), repeated
