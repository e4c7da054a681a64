"""Built-in synthetic faces: procedurally rendered, 68 iBUG landmarks, no download.

A 3-D template of the 68 iBUG points (jaw, brows, nose, eyes, mouth, in the 300-W index
order, so the outer eye corners are 36/45 and the 300-W flip permutation applies) is posed
(yaw / pitch through 3-D rotation, then roll, scale, translation), given an expression
(mouth opening, smile, brow raise, eye opening), projected, and drawn with Pillow: skin
tone, lighting gradient, eyes with irises, brows, nostrils, lips, background clutter, then
blur and sensor noise. A configurable fraction of pool images are hard outliers (heavy
occlusion, extreme blur, colour-shifted, or no face at all) so that "discard the top p %"
has something real to discard; each image's kind is kept in `kinds`.

Every image is drawn from its own RNG seeded by (seed, split, index), so a set is identical
whatever its size, and a generated set is cached on disk under `root`, keyed by a hash of
its settings.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from trainers.datasets.cropset import CropSet, centre_offset, margin_size
from trainers.datasets.layouts import IBUG_68
from trainers.datasets.registry import register_dataset

SPLITS = ("pool", "test")
OUTLIER_KINDS = ("occlusion", "blur", "colour", "nonface")
GENERATOR_VERSION = 1


def _template_68() -> np.ndarray:
    """Neutral 3-D face, (68, 3): x right, y down, z towards the camera; jaw width ~1.8."""
    pts = np.zeros((68, 3))
    # Jaw 0..16 from the image-left temple under the chin to the image-right temple.
    phi = np.linspace(np.pi, 2 * np.pi, 17)
    pts[0:17, 0] = 0.9 * np.cos(phi)
    pts[0:17, 1] = 0.12 - 0.88 * np.sin(phi)
    pts[0:17, 2] = -0.55 * np.cos(phi) ** 2
    # Brows 17..21 (outer -> inner) and 22..26 (inner -> outer).
    bx = np.linspace(-0.78, -0.16, 5)
    pts[17:22, 0] = bx
    pts[17:22, 1] = -0.42 - 0.10 * np.sin(np.linspace(0.2, np.pi - 0.4, 5))
    pts[22:27, 0] = -bx[::-1]
    pts[22:27, 1] = pts[17:22, 1][::-1]
    pts[17:27, 2] = 0.25
    # Nose bridge 27..30 and base 31..35.
    pts[27:31, 1] = np.linspace(-0.25, 0.18, 4)
    pts[27:31, 2] = np.linspace(0.35, 0.7, 4)
    pts[31:36, 0] = np.linspace(-0.2, 0.2, 5)
    pts[31:36, 1] = [0.28, 0.31, 0.33, 0.31, 0.28]
    pts[31:36, 2] = [0.35, 0.42, 0.5, 0.42, 0.35]
    # Eyes: 36 outer, 37/38 upper, 39 inner, 40/41 lower (and mirrored 42..47).
    ex = np.array([-0.62, -0.50, -0.30, -0.18, -0.30, -0.50])
    ey = np.array([-0.17, -0.25, -0.25, -0.17, -0.11, -0.11])
    pts[36:42, 0], pts[36:42, 1] = ex, ey
    pts[42:48, 0] = -ex[[3, 2, 1, 0, 5, 4]]
    pts[42:48, 1] = ey[[3, 2, 1, 0, 5, 4]]
    pts[36:48, 2] = 0.2
    # Mouth outer 48..59 (48 left corner, upper lip to 54, lower lip back), inner 60..67.
    pts[48:60, 0] = [-0.36, -0.22, -0.09, 0.0, 0.09, 0.22, 0.36, 0.23, 0.10, 0.0, -0.10, -0.23]
    pts[48:60, 1] = [0.58, 0.52, 0.49, 0.51, 0.49, 0.52, 0.58, 0.66, 0.70, 0.71, 0.70, 0.66]
    pts[60:68, 0] = [-0.28, -0.10, 0.0, 0.10, 0.28, 0.10, 0.0, -0.10]
    pts[60:68, 1] = [0.58, 0.565, 0.57, 0.565, 0.58, 0.595, 0.60, 0.595]
    pts[48:68, 2] = 0.3
    return pts


TEMPLATE_68 = _template_68()


@dataclass(frozen=True)
class SyntheticConfig:
    """Settings of a synthetic face set (all of them enter the cache key)."""

    input_size: int = 64
    n_pool: int = 600
    n_test: int = 200
    outlier_fraction: float = 0.08
    test_outlier_fraction: float = 0.0
    max_yaw: float = 40.0
    max_roll: float = 20.0
    seed: int = 0

    def __post_init__(self) -> None:
        if self.input_size < 16:
            raise ValueError(f"synthetic.input_size must be >= 16, got {self.input_size}")
        for name in ("n_pool", "n_test"):
            if getattr(self, name) < 1:
                raise ValueError(f"synthetic.{name} must be >= 1, got {getattr(self, name)}")
        for name in ("outlier_fraction", "test_outlier_fraction"):
            v = getattr(self, name)
            if not 0.0 <= v <= 1.0:
                raise ValueError(f"synthetic.{name} must be in [0, 1], got {v}")

    def key(self) -> str:
        blob = json.dumps({**asdict(self), "version": GENERATOR_VERSION}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _rotation(yaw: float, pitch: float) -> np.ndarray:
    cy, sy = np.cos(yaw), np.sin(yaw)
    cp, sp = np.cos(pitch), np.sin(pitch)
    ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rx = np.array([[1, 0, 0], [0, cp, -sp], [0, sp, cp]])
    return rx @ ry


def _pose_face(rng: np.random.Generator, cfg: SyntheticConfig, m: int) -> tuple[np.ndarray, dict]:
    """Sample expression + pose; return (68, 2) points in the M x M frame and style facts."""
    p = TEMPLATE_68.copy()
    mouth_open = rng.uniform(0.0, 0.22) if rng.random() < 0.5 else 0.0
    smile = rng.uniform(-0.05, 0.08)
    brow = rng.uniform(-0.05, 0.08)
    eye_open = rng.uniform(0.4, 1.2)
    p[[48, 54, 60, 64], 1] -= smile
    p[55:60, 1] += mouth_open
    p[65:68, 1] += mouth_open
    p[6:11, 1] += mouth_open * np.array([0.3, 0.6, 0.8, 0.6, 0.3])
    p[17:27, 1] -= brow
    for eye in (range(36, 42), range(42, 48)):
        idx = list(eye)
        cy = p[idx, 1].mean()
        p[idx, 1] = cy + (p[idx, 1] - cy) * eye_open
    # Identity: face width / height, jaw shape.
    p[:, 0] *= rng.uniform(0.9, 1.1)
    p[:, 1] *= rng.uniform(0.92, 1.08)
    yaw = np.deg2rad(rng.uniform(-cfg.max_yaw, cfg.max_yaw))
    pitch = np.deg2rad(rng.uniform(-12, 12))
    roll = np.deg2rad(rng.uniform(-cfg.max_roll, cfg.max_roll))
    q = p @ _rotation(yaw, pitch).T
    cr, sr = np.cos(roll), np.sin(roll)
    xy = q[:, :2] @ np.array([[cr, sr], [-sr, cr]])
    s = cfg.input_size
    unit = 0.40 * s * rng.uniform(0.85, 1.12)
    centre = (m - 1) / 2.0 + rng.uniform(-0.06, 0.06, size=2) * s
    pts = centre + unit * (xy - np.array([0.0, 0.25]))
    return pts, {"yaw": yaw, "roll": roll, "unit": unit, "mouth_open": mouth_open, "q": q}


def _draw_clutter(draw: ImageDraw.ImageDraw, rng: np.random.Generator, w: int, n: int) -> None:
    for _ in range(n):
        col = tuple(int(c) for c in rng.integers(0, 256, 3))
        x0, y0 = rng.uniform(-0.2, 1.0, 2) * w
        x1, y1 = x0 + rng.uniform(0.05, 0.5) * w, y0 + rng.uniform(0.05, 0.5) * w
        if rng.random() < 0.5:
            draw.rectangle([x0, y0, x1, y1], fill=col)
        else:
            draw.ellipse([x0, y0, x1, y1], fill=col)


def _render(
    rng: np.random.Generator, pts: np.ndarray, style: dict, m: int, kind: str
) -> np.ndarray:
    """Draw one M x M face at 2x resolution, downsample, blur and add noise."""
    ss = 2
    w = m * ss
    bg_a = rng.integers(0, 256, 3)
    bg_b = rng.integers(0, 256, 3)
    grad = np.linspace(0, 1, w)[:, None, None]
    bg = (bg_a * (1 - grad) + bg_b * grad).astype(np.uint8) * np.ones((1, w, 1), np.uint8)
    img = Image.fromarray(bg)
    draw = ImageDraw.Draw(img)
    _draw_clutter(draw, rng, w, int(rng.integers(2, 7)))
    if kind != "nonface":
        _draw_face(draw, rng, pts * ss + ss / 2.0 - 0.5, style, ss)  # pixel centres at 2x
    arr = np.asarray(img.resize((m, m), Image.Resampling.BILINEAR)).astype(np.float32)
    return _degrade(rng, arr, pts, m, kind)


def _draw_face(
    draw: ImageDraw.ImageDraw, rng: np.random.Generator, P: np.ndarray, style: dict, ss: int
) -> None:
    """Skin, head outline, hair line, brows, eyes, nose and mouth at the 2x points P."""
    skin = np.array([rng.uniform(90, 250), 0, 0])
    skin[1] = skin[0] * rng.uniform(0.68, 0.85)
    skin[2] = skin[0] * rng.uniform(0.5, 0.75)
    skin_c = tuple(int(c) for c in skin)
    # Head outline: jaw points closed by a forehead arc above the brows.
    jaw = [tuple(p) for p in P[0:17]]
    top_c = (P[19] + P[24]) / 2.0
    up = top_c - (P[8] + top_c) / 2.0
    arc = []
    for t in np.linspace(0, 1, 9):
        a = P[16] * (1 - t) + P[0] * t
        bulge = np.sin(np.pi * t)
        arc.append(tuple(a + up * (0.35 + 0.75 * bulge)))
    draw.polygon(jaw + arc, fill=skin_c)
    hair = tuple(int(c) for c in rng.integers(0, 90, 3))
    draw.line(arc, fill=hair, width=max(1, int(0.06 * style["unit"] * ss)))
    lw = max(1, int(0.05 * style["unit"] * ss))
    brow_c = tuple(int(c) for c in (skin * rng.uniform(0.15, 0.4)))
    draw.line([tuple(p) for p in P[17:22]], fill=brow_c, width=lw)
    draw.line([tuple(p) for p in P[22:27]], fill=brow_c, width=lw)
    iris = tuple(int(c) for c in rng.integers(20, 140, 3))
    for eye in (slice(36, 42), slice(42, 48)):
        e = P[eye]
        draw.polygon([tuple(p) for p in e], fill=(235, 235, 230), outline=brow_c)
        c = e.mean(0)
        r = 0.35 * np.linalg.norm(e[3] - e[0]) / 2 + 0.5
        draw.ellipse([c[0] - r, c[1] - r, c[0] + r, c[1] + r], fill=iris)
    shade = tuple(int(c) for c in (skin * 0.6))
    draw.line([tuple(p) for p in P[27:31]], fill=shade, width=max(1, lw // 2))
    draw.line([tuple(p) for p in P[31:36]], fill=shade, width=lw)
    lip = (int(skin[0] * 0.8 + 40), int(skin[1] * 0.45), int(skin[2] * 0.5))
    draw.polygon([tuple(p) for p in P[48:60]], fill=lip)
    inner = [tuple(p) for p in P[60:68]]
    if style["mouth_open"] > 0.03:
        draw.polygon(inner, fill=(40, 10, 15))
    else:
        draw.line(inner[:5], fill=(90, 30, 30), width=max(1, lw // 2))


def _degrade(
    rng: np.random.Generator, arr: np.ndarray, pts: np.ndarray, m: int, kind: str
) -> np.ndarray:
    """Lighting, the outlier's damage (occlusion, colour, blur), blur and sensor noise."""
    # Directional lighting across the whole crop.
    ang = rng.uniform(0, 2 * np.pi)
    yy, xx = np.mgrid[0:m, 0:m] / max(m - 1, 1) - 0.5
    light = 1.0 + rng.uniform(0.0, 0.5) * (np.cos(ang) * xx + np.sin(ang) * yy)
    arr *= light[..., None] * rng.uniform(0.75, 1.2)

    if kind == "occlusion":
        c = pts[rng.integers(27, 68)]
        half = rng.uniform(0.3, 0.5) * m
        col = rng.integers(0, 256, 3)
        y0, y1 = int(max(c[1] - half, 0)), int(min(c[1] + half, m))
        x0, x1 = int(max(c[0] - half * rng.uniform(0.6, 1.4), 0)), int(min(c[0] + half, m))
        arr[y0:y1, x0:x1] = col
    if kind == "colour":
        arr = arr[..., rng.permutation(3)] * rng.uniform(0.3, 1.6, 3) + rng.uniform(-60, 60, 3)

    blur = rng.uniform(0.0, 0.012) * m
    if kind == "blur":
        blur = rng.uniform(0.06, 0.1) * m
    out = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))
    if blur > 0.3:
        out = out.filter(ImageFilter.GaussianBlur(blur))
    arr = np.asarray(out).astype(np.float32)
    arr += rng.normal(0.0, rng.uniform(1.0, 8.0), arr.shape)
    return np.clip(arr, 0, 255).astype(np.uint8)


def render_face(cfg: SyntheticConfig, split: str, index: int) -> tuple[np.ndarray, np.ndarray, str]:
    """One synthetic face: (M, M, 3) uint8 image, (68, 2) landmarks, and its kind."""
    split_id = SPLITS.index(split)
    rng = np.random.default_rng([cfg.seed, split_id, index, GENERATOR_VERSION])
    m = margin_size(cfg.input_size)
    pts, style = _pose_face(rng, cfg, m)
    frac = cfg.outlier_fraction if split == "pool" else cfg.test_outlier_fraction
    kind = "normal"
    if rng.random() < frac:
        kind = OUTLIER_KINDS[int(rng.integers(len(OUTLIER_KINDS)))]
    img = _render(rng, pts, style, m, kind)
    return img, pts.astype(np.float32), kind


def _atomic_save_npz(path: Path, **arrays: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".npz", dir=path.parent)
    os.close(fd)
    try:
        # numpy >= 2.1's stub has allow_pickle: bool before **kwds, so mypy fears **arrays
        # fills it; arrays are named images/landmarks/kinds only.
        np.savez(tmp, **arrays)  # type: ignore[arg-type]
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


class SyntheticFaces:
    """A split of the synthetic face set, with the LandmarkDataset interface.

    Args:
        root: cache folder (created); generated arrays are stored as
            `<root>/synthetic-<key>/<split>.npz`. None keeps everything in memory.
        split: "pool" (the unlabeled training pool; "train" is an alias) or "test".
        **options: fields of SyntheticConfig.
    """

    name = "synthetic"
    layout = IBUG_68

    def __init__(self, root: str | Path | None, split: str, **options: Any) -> None:
        split = "pool" if split == "train" else split
        if split not in SPLITS:
            raise ValueError(f"synthetic split must be one of {SPLITS} (or 'train'), got {split!r}")
        self.config = SyntheticConfig(**options)
        self.split = split
        n = self.config.n_pool if split == "pool" else self.config.n_test
        cache = None
        if root is not None:
            cache = Path(root) / f"synthetic-{self.config.key()}" / f"{split}.npz"
        if cache is not None and cache.exists():
            with np.load(cache) as z:
                self.images, self._landmarks, kinds = z["images"], z["landmarks"], z["kinds"]
        else:
            faces = [render_face(self.config, split, i) for i in range(n)]
            self.images = np.stack([f[0] for f in faces])
            self._landmarks = np.stack([f[1] for f in faces])
            kinds = np.array([f[2] for f in faces])
            if cache is not None:
                _atomic_save_npz(cache, images=self.images, landmarks=self._landmarks, kinds=kinds)
        self.kinds = [str(k) for k in kinds]
        m = margin_size(self.config.input_size)
        o = float(centre_offset(self.config.input_size))
        s = float(self.config.input_size)
        self.boxes = np.tile(np.array([o, o, o + s - 1, o + s - 1]), (len(self.images), 1))
        self.image_paths = [f"synthetic://{self.config.key()}/{split}/{i:06d}" for i in range(n)]
        self._m = m

    def __len__(self) -> int:
        return len(self.images)

    @property
    def landmarks(self) -> np.ndarray:
        return self._landmarks.astype(np.float64)

    def load_image(self, i: int) -> np.ndarray:
        return self.images[i]

    def to_cropset(self, input_size: int | None = None) -> CropSet:
        """The set as a CropSet (the rendered canvas already is the margin crop)."""
        if input_size not in (None, self.config.input_size):
            raise ValueError(
                f"this synthetic set was rendered for input_size {self.config.input_size}, "
                f"not {input_size}; open it with input_size={input_size}"
            )
        ident = np.tile(np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]), (len(self), 1, 1))
        return CropSet(
            images=self.images,
            landmarks=self._landmarks.astype(np.float32),
            input_size=self.config.input_size,
            flip_perm=self.layout.flip_perm,
            eye_idx=self.layout.eye_idx,
            to_original=ident,
            names=list(self.image_paths),
            meta={"dataset": "synthetic", "split": self.split, "kinds": self.kinds,
                  **asdict(self.config)},
        )


@register_dataset(
    "synthetic", title="synthetic faces", splits=(*SPLITS, "train"), train_split="pool",
    test_splits=("test",), pretrain_split="pool",
    size_options={"pool": "n_pool", "train": "n_pool", "test": "n_test"},
    layout=IBUG_68, generated=True, boxes="landmarks", options_from=SyntheticConfig,
)
def open_synthetic(root: str | Path | None, split: str, strict: bool = False,
                   **options: object) -> SyntheticFaces:
    """Render (or read back from `root`) one split of the synthetic faces; `strict` is
    accepted for a uniform API (generated data has no official counts)."""
    del strict
    return SyntheticFaces(root, split, **options)
