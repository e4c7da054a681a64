"""Faces in memory and single images: face-like landmark sets (optionally mirror-symmetric),
random images written to disk, and a CropSet of blocky crops."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

IMG_W, IMG_H = 64, 48
# A 19-point mirror table for data with an unusual count (each index's partner after
# flipping x; its own inverse).
FLIP_19 = np.array([5, 4, 3, 2, 1, 0, 11, 10, 9, 8, 7, 6, 14, 13, 12, 17, 16, 15, 18])


def face_points(rng: np.random.Generator, num: int, centre=(32.0, 24.0), half=(12.0, 14.0),
                flip_perm: np.ndarray | None = None) -> np.ndarray:
    """(num, 2) 0-based points inside a face-like box. With `flip_perm`, the set is
    mirror-symmetric about x = centre[0]: p[perm[i]] = mirror(p[i])."""
    cx, cy = centre
    pts = np.column_stack([
        rng.uniform(cx - half[0], cx + half[0], num),
        rng.uniform(cy - half[1], cy + half[1], num),
    ])
    if flip_perm is not None:
        for i, j in enumerate(flip_perm):
            if i == j:
                pts[i, 0] = cx
            elif i < j:
                pts[j] = [2 * cx - pts[i, 0], pts[i, 1]]
    # Keep the normalising corners apart and on their sides, like real faces.
    if num == 68:
        pts[36] = [cx - 8.0, cy - 4.0]
        pts[45] = [cx + 8.0, cy - 4.0]
    if num == 98:
        pts[60] = [cx - 8.0, cy - 4.0]
        pts[72] = [cx + 8.0, cy - 4.0]
    return pts


def symmetric_face(rng: np.random.Generator, num: int = 68, **kw) -> np.ndarray:
    from trainers.datasets.layouts import FLIP_68, FLIP_98

    perm = {68: FLIP_68, 98: FLIP_98}[num]
    return face_points(rng, num, flip_perm=perm, **kw)


def write_image(path: Path, rng: np.random.Generator, mode: str = "RGB",
                size: tuple[int, int] = (IMG_W, IMG_H)) -> np.ndarray:
    """A random image in `mode`; returns its pixels as RGB uint8 (what loaders must give)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rgb = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    im = Image.fromarray(rgb)
    if mode != "RGB":
        im = im.convert(mode)
    if path.suffix.lower() in (".jpg", ".jpeg"):
        im.save(path, quality=95)
    else:
        im.save(path)
    with Image.open(path) as back:
        return np.asarray(back.convert("RGB"))


def blocky_crops(n: int = 6, seed: int = 0, size: int = 64) -> Any:
    """A CropSet of `n` random blocky crops (8-pixel blocks) for a `size` px network, with
    two landmarks inside the network window (flip pair 0 <-> 1, identity original frame)."""
    from trainers.datasets.cropset import CropSet, margin_size

    m = margin_size(size)
    rng = np.random.default_rng(seed)
    blocks = rng.integers(0, 256, (n, m // 8 + 1, m // 8 + 1, 3), dtype=np.uint8)
    images = np.repeat(np.repeat(blocks, 8, axis=1), 8, axis=2)[:, :m, :m]
    landmarks = rng.uniform(25, 65, (n, 2, 2)).astype(np.float32)
    return CropSet(images=np.ascontiguousarray(images), landmarks=landmarks, input_size=size,
                   flip_perm=np.array([1, 0]), eye_idx=(0, 1),
                   to_original=np.tile(np.eye(2, 3), (n, 1, 1)),
                   names=[f"img{i}" for i in range(n)])


def bomb_png(path: Path, side: int = 30_000) -> Path:
    """A valid 1 x 1 PNG whose header claims side x side pixels (a few dozen bytes), over
    Pillow's decompression-bomb limit for the default side."""
    import struct
    import zlib

    Image.new("RGB", (1, 1)).save(path)
    data = bytearray(path.read_bytes())
    ihdr = 8 + 8  # the signature, then the IHDR chunk's length and type
    data[ihdr:ihdr + 8] = struct.pack(">II", side, side)
    data[ihdr + 13:ihdr + 17] = struct.pack(">I", zlib.crc32(bytes(data[12:ihdr + 13])))
    path.write_bytes(bytes(data))
    return path
