"""An annotation project's labels: which faces of which photos have landmarks.

`.pts` files follow the AFW rule of `trainers.datasets.pts.pts_faces`, the one the
`folder` data set reads faces by. Imported annotations (Label Studio) give
{image: {face: landmarks}}; a `.pts` file wins over an import of the same face.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from trainers.datasets.base import DatasetError
from trainers.datasets.pts import pts_faces, read_pts

# {image: {face n: (landmarks (L, 2) 0-based, where they came from)}}
Labels = dict[Path, dict[int, tuple[np.ndarray, str]]]


def read_labels(root: Path, images: list[Path],
                imported: Mapping[str, Mapping[int, np.ndarray]], bad: dict[str, str]
                ) -> Labels:
    """The landmarks of every labeled face; corrupt or ambiguous files go to `bad`."""
    labels: Labels = {}
    for p, files, repeated in pts_faces(images):
        faces: dict[int, tuple[np.ndarray, str]] = {}
        bad.update((str(pts), why) for pts, why in repeated)
        for n, pts in sorted(files.items()):
            try:
                faces[n] = (read_pts(pts), str(pts))
            except DatasetError as e:
                bad[str(pts)] = str(e).removeprefix(f"{pts}: ")
        rel = p.relative_to(root).as_posix()
        for n, lms in (imported.get(rel) or {}).items():
            faces.setdefault(n, (np.asarray(lms, dtype=np.float64), f"import of {rel} face {n}"))
        if faces:
            labels[p] = faces
    return labels


def check_counts(labels: Labels, bad: dict[str, str]) -> int | None:
    """The landmark count most faces have (ties: the first face's); others go to `bad`."""
    every = [(p, n, lms, src) for p, faces in labels.items() for n, (lms, src) in faces.items()]
    if not every:
        return None
    counts = Counter(len(e[2]) for e in every)
    first = len(every[0][2])
    top = max(counts.values())
    count = first if counts[first] == top else max(counts, key=lambda c: counts[c])
    for p, n, lms, source in every:
        if len(lms) != count:
            bad[source] = f"{len(lms)} landmarks, the other annotations have {count}"
            del labels[p][n]
            if not labels[p]:
                del labels[p]
    return count
