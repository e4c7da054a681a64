"""Miniature data set downloads on disk: a 300-W tree (images, .pts files, iBUG bounding-box
.mat files) and a WFLW tree (annotation lists and images)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import scipy.io

from tests.helpers.faces import face_points, write_image

W300_EXT = {
    "afw": ".jpg", "helen/trainset": ".jpg", "helen/testset": ".jpg",
    "lfpw/trainset": ".png", "lfpw/testset": ".png", "ibug": ".jpg",
    "300W/01_Indoor": ".png", "300W/02_Outdoor": ".png",
}  # fmt: skip


W300_MAT = {
    "afw": "afw", "helen/trainset": "helen_trainset", "helen/testset": "helen_testset",
    "lfpw/trainset": "lfpw_trainset", "lfpw/testset": "lfpw_testset", "ibug": "ibug",
}  # fmt: skip


def write_mat_boxes(path: Path, entries: list[tuple[str, np.ndarray, np.ndarray]]) -> None:
    """An iBUG-style .mat: `bounding_boxes`, a 1 x N cell array of structs with fields
    imgName, bb_detector, bb_ground_truth (boxes given 0-based, written 1-based)."""
    cells = np.empty((1, len(entries)), dtype=object)
    for k, (name, det, gt) in enumerate(entries):
        cells[0, k] = {
            "imgName": name,
            "bb_detector": np.asarray(det, dtype=np.float64)[None] + 1.0,
            "bb_ground_truth": np.asarray(gt, dtype=np.float64)[None] + 1.0,
        }
    path.parent.mkdir(parents=True, exist_ok=True)
    scipy.io.savemat(str(path), {"bounding_boxes": cells})


def build_300w(root: Path, counts: dict[str, int] | None = None, with_mat: bool = True,
               seed: int = 0) -> dict[str, list[dict]]:
    """A miniature 300-W download. Returns, per folder, the faces written (sorted names):
    {"name", "image", "landmarks" (0-based), "det" (0-based), "pixels"}."""
    from trainers.datasets.pts import write_pts

    rng = np.random.default_rng(seed)
    counts = counts or {f: 2 for f in W300_EXT}
    written: dict[str, list[dict]] = {}
    for folder, n in counts.items():
        ext = W300_EXT[folder]
        stem = folder.replace("/", "_")
        faces = []
        for k in range(n):
            name = f"{stem}_{k:03d}"
            img = root / folder / f"{name}{ext}"
            pixels = write_image(img, rng, mode="L" if k == 1 else "RGB")
            lms = face_points(rng, 68)
            # Both header spacings occur in the real files.
            write_pts(img.with_suffix(".pts"), lms, header_spaces=2 if k % 2 == 0 else 1)
            det = np.array([lms[:, 0].min() - 3, lms[:, 1].min() - 5,
                            lms[:, 0].max() + 2, lms[:, 1].max() + 1])
            faces.append({"name": img.name, "image": img, "landmarks": lms, "det": det,
                          "pixels": pixels})
        written[folder] = faces
        if with_mat and folder in W300_MAT:
            entries = [
                (f["name"], f["det"],
                 np.concatenate([f["landmarks"].min(0), f["landmarks"].max(0)]))
                for f in faces
            ]
            write_mat_boxes(root / "Bounding Boxes" / f"bounding_boxes_{W300_MAT[folder]}.mat",
                            entries)
    return written


def mini_300w_expected(counts: dict[str, int]):
    """SUBSETS with the official counts replaced by a miniature tree's counts."""
    from trainers.datasets.builtin import w300

    return {f: w300.Subset(s.folder, counts.get(f, s.expected), s.mat_name)
            for f, s in w300.SUBSETS.items()}


def wflw_line(lms: np.ndarray, box, flags, rel: str) -> str:
    coords = " ".join(f"{v:.6f}" for v in lms.ravel())
    return " ".join([coords, *(str(int(v)) for v in box), *(str(int(f)) for f in flags), rel])


def build_wflw(root: Path, n_train: int = 3, n_test: int = 4, seed: int = 0) -> dict:
    """A miniature WFLW: train/test rect_attr lists (207 fields) and the images.
    Test face k has flag k % 6 set; the last test face shares the first one's image."""
    rng = np.random.default_rng(seed)
    ann_dir = root / "WFLW_annotations" / "list_98pt_rect_attr_train_test"
    ann_dir.mkdir(parents=True, exist_ok=True)
    out: dict = {}
    for part, n in (("train", n_train), ("test", n_test)):
        lines, faces = [], []
        for k in range(n):
            rel = f"{k % 3}--Event/{part}_{k}.jpg"
            if part == "test" and k == n - 1 and n > 1:
                rel = faces[0]["rel"]
            else:
                write_image(root / "WFLW_images" / rel, rng)
            lms = face_points(rng, 98)
            box = [int(lms[:, 0].min()), int(lms[:, 1].min()),
                   int(lms[:, 0].max()) + 1, int(lms[:, 1].max()) + 1]
            flags = np.zeros(6, dtype=int)
            flags[k % 6] = 1
            lines.append(wflw_line(lms, box, flags, rel))
            faces.append({"rel": rel, "landmarks": lms, "box": np.array(box, float),
                          "flags": flags})
        (ann_dir / f"list_98pt_rect_attr_{part}.txt").write_text("\n".join(lines) + "\n")
        out[part] = faces
    return out
