"""Builders of miniature 300-W / WFLW / folder trees in the exact on-disk formats, and
the `.pts` parser's tests. Other test_datasets_* modules import the builders."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.io
from PIL import Image

from trainers.datasets.base import DatasetError
from trainers.datasets.layouts import FLIP_68, FLIP_98
from trainers.datasets.pts import read_pts, write_pts

IMG_W, IMG_H = 64, 48


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


# --- 300-W ------------------------------------------------------------------------

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
    from trainers.datasets import w300

    return {f: w300.Subset(s.folder, counts.get(f, s.expected), s.mat_name)
            for f, s in w300.SUBSETS.items()}


# --- WFLW -------------------------------------------------------------------------

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


# --- .pts tests -------------------------------------------------------------------

@pytest.mark.parametrize("spaces", [1, 2])
def test_pts_round_trip_is_one_based_on_disk(tmp_path, spaces):
    lms = np.array([[0.0, 0.0], [445.0, 90.0], [1.5, 2.25]])
    p = tmp_path / "a.pts"
    write_pts(p, lms, header_spaces=spaces)
    text = p.read_text().splitlines()
    assert text[1] == "n_points:" + " " * spaces + "3"
    assert text[4] == "446.000 91.000"  # 1-based on disk
    np.testing.assert_allclose(read_pts(p), lms)
    np.testing.assert_allclose(read_pts(p, expected_points=3), lms)


def test_pts_reads_ibug_text_exactly(tmp_path):
    p = tmp_path / "b.pts"
    p.write_text("version: 1\nn_points:  2\n{\n446.000 91.000\n1 1\n}\n")
    np.testing.assert_allclose(read_pts(p), [[445.0, 90.0], [0.0, 0.0]])


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("", "no 'n_points:'"),
        ("version: 1\nn_points: 2\n{\n1 2\n", r"1 points.*truncated"),
        ("version: 1\nn_points: 2\n{\n1 2\n3 4\n", "no closing"),
        ("version: 1\nn_points: 2\n1 2\n3 4\n}\n", "unexpected header line"),
        ("version: 1\nn_points: 3\n{\n1 2\n3 4\n}\n", "declares n_points 3"),
        ("version: 1\nn_points: 2\n{\n1 2\nnan 4\n}\n", "non-finite"),
        ("version: 1\nn_points: 2\n{\n1 2\n3 x\n}\n", "'x' is not a number"),
        ("version: 1\nn_points: 2\n{\n1 2\n3 4 5\n}\n", "3 field"),
        ("version: 1\nn_points: two\n{\n}\n", "bad n_points"),
    ],
)
def test_pts_errors_name_file_and_problem(tmp_path, text, match):
    p = tmp_path / "bad.pts"
    p.write_text(text)
    with pytest.raises(DatasetError, match=match) as info:
        read_pts(p)
    assert str(p) in str(info.value)


def test_pts_missing_and_wrong_count(tmp_path):
    with pytest.raises(DatasetError, match="not found"):
        read_pts(tmp_path / "nope.pts")
    p = tmp_path / "c.pts"
    write_pts(p, np.zeros((5, 2)))
    with pytest.raises(DatasetError, match="5 points, expected 68"):
        read_pts(p, expected_points=68)


def test_symmetric_face_is_flip_invariant():
    rng = np.random.default_rng(1)
    for num, perm in ((68, FLIP_68), (98, FLIP_98)):
        pts = symmetric_face(rng, num)
        mirrored = pts.copy()
        mirrored[:, 0] = 64.0 - mirrored[:, 0]
        np.testing.assert_allclose(mirrored[perm], pts)
