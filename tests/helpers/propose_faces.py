"""Builders for the `propose` tests: folders of synthetic face images with held-back ground
truth, box files, a tiny spec and a tiny auto-encoder file."""

from __future__ import annotations

import csv
import hashlib
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import tomli_w
from PIL import Image

# The synthetic faces are rendered on a 91 x 91 canvas (margin crop of a 64 input) with the
# face square in its central 64 x 64 window.
CANVAS = 91
FACE_BOX = (13.0, 13.0, 76.0, 76.0)


def write_faces(images: Path, truth: Path, n: int, *, start: int = 0, prefix: str = "face"
                ) -> dict[str, np.ndarray]:
    """`n` synthetic face PNGs into `images`; their `.pts` files into `truth` (held back).

    Landmarks are rounded to 3 decimals, so the `.pts` text holds them exactly.

    Returns:
        {image file name: (68, 2) 0-based landmarks}.
    """
    from trainers.datasets.builtin.synthetic import SyntheticConfig, render_face
    from trainers.datasets.pts import write_pts

    images.mkdir(parents=True, exist_ok=True)
    truth.mkdir(parents=True, exist_ok=True)
    cfg = SyntheticConfig(input_size=64)
    out = {}
    for i in range(start, start + n):
        img, lms, _ = render_face(cfg, "pool", i)
        name = f"{prefix}{i:03d}.png"
        Image.fromarray(img).save(images / name)
        gt = np.round(lms.astype(np.float64), 3)
        write_pts(truth / f"{prefix}{i:03d}.pts", gt)
        out[name] = gt
    return out


def annotate(images: Path, truth: Path, names: list[str]) -> None:
    """The simulated annotator: copy the held-back `.pts` of `names` (images, or face ids
    `<image>#1` of these one-face images) beside the images."""
    for name in (re.sub(r"#1$", "", n) for n in names):
        stem = Path(name).stem
        shutil.copyfile(truth / f"{stem}.pts", images / Path(name).parent / f"{stem}.pts")


def write_boxes(path: Path, names: list[str], box: tuple[float, ...] = FACE_BOX) -> Path:
    """A box CSV giving every image the same face box."""
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["image", "x_min", "y_min", "x_max", "y_max"])
        for name in names:
            w.writerow([name, *box])
    return path


def tiny_spec(path: Path, cache_dir: Path, **over: Any) -> Path:
    """A propose spec: 64 px, width 0.25, 3 training steps, a 4-step auto-encoder."""
    doc: dict[str, Any] = {
        "experiment": {"name": "faces", "seeds": [3], "cache_dir": str(cache_dir)},
        "model": {"input_size": 64, "width": 0.25, "pretrain": {"steps": 4, "batch_size": 8}},
        "trainer": {"steps": 3, "batch_size": 4, "augment_level": 0},
        "acquisitions": [{"name": "nnm", "window": 7, "discard_top": 0.1}],
        "resources": {"device": "cpu"},
    }
    for table, values in over.items():
        doc[table] = {**doc.get(table, {}), **values} if isinstance(values, dict) else values
    path.write_text(tomli_w.dumps(doc))
    return path


def unlabeled_project(tmp_path: Path, autoencoder: Path, n: int) -> dict[str, Any]:
    """n unlabeled synthetic faces, their held-back truth and a tiny spec (L0 = 4) using
    `autoencoder`; the project folder to come (`project`)."""
    images, truth = tmp_path / "images", tmp_path / "truth"
    names = write_faces(images, truth, n)
    spec = tiny_spec(tmp_path / "spec.toml", tmp_path / "cache",
                     model={"pretrained": str(autoencoder)}, budgets=[{"sizes": [4]}])
    return {"images": images, "truth": truth, "names": sorted(names), "spec": spec,
            "project": tmp_path / "project"}


def tiny_autoencoder(path: Path) -> Path:
    """A 64 px, width 0.25 auto-encoder trained 2 steps on 8 synthetic crops."""
    from trainers.datasets.builtin.synthetic import SyntheticFaces
    from trainers.training.pretrain import PretrainConfig, pretrain_autoencoder

    crops = SyntheticFaces(None, "pool", input_size=64, n_pool=8, n_test=1).to_cropset()
    config = PretrainConfig(input_size=64, width=0.25, steps=2, batch_size=4, device="cpu")
    return pretrain_autoencoder(crops, config, path, resume=False)


def folder_digest(folder: Path) -> dict[str, str]:
    """{relative path: sha256} of every file under `folder` (to prove it was not touched)."""
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}
