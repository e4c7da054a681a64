"""Helpers shared by the test modules (builders of known inputs, readers of results).

Test modules and conftest.py files import them from here (`from tests.helpers import ...`);
conftest.py files only define fixtures. Project packages are imported inside the helpers
that need them, so that a room's tests import only that room (acquisition tests never load
torch or Ray through this module).
"""

from __future__ import annotations

import contextlib
import copy
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.io
from PIL import Image

if TYPE_CHECKING:
    import acquisition
    from trainers.config.cell import CellConfig, DataConfig
    from trainers.loop.cell_loop import LoopState, RoundResult

_TESTS_DIR = Path(__file__).resolve().parent
_REPO_ROOT = _TESTS_DIR.parent


# --- acquisition ------------------------------------------------------------------

def gaussian_maps(centres: np.ndarray, sigmas: np.ndarray, size: int) -> np.ndarray:
    """(n, L, size, size) Gaussian heatmaps with peak 1 at the given (row, col) centres."""
    grid = np.arange(size, dtype=np.float64)
    rows = grid[None, None, :, None] - centres[..., 0, None, None]
    cols = grid[None, None, None, :] - centres[..., 1, None, None]
    return np.exp(-(rows**2 + cols**2) / (2.0 * sigmas[..., None, None] ** 2))


def tta_for(pool: dict[str, np.ndarray], samples: int) -> np.ndarray:
    """(n, T, L, 2) landmarks scattered around the pool's landmarks, seeded by T."""
    rng = np.random.default_rng(samples)
    landmarks = pool["landmarks"]
    scatter = rng.uniform(0.2, 3.0, size=(landmarks.shape[0], 1, 1, 1))
    noise = rng.normal(size=(landmarks.shape[0], samples, *landmarks.shape[1:]))
    return (landmarks[:, None] + scatter * noise).astype(np.float32)


def chunk_for(
    acq: acquisition.Acquisition, pool: dict[str, np.ndarray], rows: slice = slice(None)
) -> acquisition.PoolChunk:
    """The PoolChunk the loop would build for ``rows``: the acquisition's needs and norm."""
    import acquisition

    inputs = {}
    for name in acq.needs:
        if name == "tta_landmarks":
            inputs[name] = tta_for(pool, acq.tta_samples)[rows]
        elif name == "labeled_features":
            inputs[name] = pool["features"][pool["labeled"]]
        elif name == "labeled_landmarks":
            inputs[name] = pool[name]
        else:
            inputs[name] = pool[name][rows]
    return acquisition.PoolChunk(norm=pool["norm"][rows], **inputs)


def inputs_for(acq: acquisition.Acquisition, pool: dict[str, np.ndarray]) -> dict:
    """The keyword arguments select() needs for this acquisition on the pool fixture."""
    kwargs: dict = {"labeled": pool["labeled"]}
    if acq.is_score_based:
        kwargs["scores"] = acq.score_chunk(chunk_for(acq, pool))
    if "features" in acq.needs:
        kwargs["features"] = pool["features"]
    return kwargs


# The example plugin package (tests/acquisition/plugin_pkg); install it with
# `install_example_plugin(target)` and run the code under test in a subprocess with
# `plugin_env(target)`: pip installs it into `target` only, never into the project's
# environment, so only a process with that directory on its path sees it.
PLUGIN_SOURCE = _TESTS_DIR / "acquisition" / "plugin_pkg"
PLUGIN_NAME = "example_low_peak"


def install_example_plugin(target: Path) -> str:
    """pip-install the example plugin package into ``target``; return its acquisition name.

    Args:
        target: Directory to install into (created if missing); put it on ``PYTHONPATH``.

    Returns:
        The name the plugin registers, ``"example_low_peak"``.

    Raises:
        RuntimeError: if pip fails (the message carries pip's output).
    """
    target = Path(target)
    target.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        # Build from a copy so setuptools' build/ and *.egg-info never land in the source tree.
        source = Path(scratch) / "plugin_pkg"
        skip = shutil.ignore_patterns("build", "*.egg-info", "__pycache__")
        shutil.copytree(PLUGIN_SOURCE, source, ignore=skip)
        command = [
            sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation",
            "--no-index", "--no-cache-dir", "--disable-pip-version-check", "--quiet",
            "--target", str(target), str(source),
        ]  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        raise RuntimeError(
            f"installing the example plugin into {target} failed ({done.returncode}):\n"
            f"{done.stdout}\n{done.stderr}"
        )
    return PLUGIN_NAME


def plugin_env(target: Path) -> dict[str, str]:
    """Environment for a subprocess that sees the plugin in ``target`` and this repository."""
    env = dict(os.environ)
    paths = [str(target), str(_REPO_ROOT)]
    if env.get("PYTHONPATH"):
        paths.append(env["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(paths)
    return env


# --- trainers: miniature data set trees -------------------------------------------

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


# --- orchestrator: tiny specs, result stores, Ray processes --------------------------

# The tiny spec of the orchestrator tests (the `spec_doc` / `write_spec` fixtures): as small
# as the models allow, so a whole cell runs in seconds on one CPU core.
BASE_SPEC: dict[str, Any] = {
    "experiment": {"name": "tiny", "seeds": [0], "architectures": ["scaf"]},
    "data": {"name": "synthetic", "options": {"n_pool": 40, "n_test": 12}},
    "model": {"input_size": 64, "width": 0.25, "pretrain": {"steps": 4, "batch_size": 8}},
    "trainer": {"steps": 3, "batch_size": 4},
    "budgets": [{"sizes": [10, 12, 14]}],
    "acquisitions": [{"name": "random"}],
    "resources": {"cpus_per_trial": 1, "num_cpus": 2, "max_failures": 2,
                  "device": "cpu", "object_store_mb": 80},
}


def merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """`base` with `over` merged in, table by table (non-table values replace)."""
    out = copy.deepcopy(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def rounds_key_table(exp_dir: Path) -> list[tuple[str, int, list[int]]]:
    """(cell_id, round, selected indices) of every `rounds` row, sorted by key."""
    from orchestrator.results.readers import read_rounds

    t = read_rounds(str(exp_dir))
    rows = zip(t.column("cell_id").to_pylist(), t.column("round").to_pylist(),
               t.column("selected_indices").to_pylist(), strict=True)
    return sorted((c, r, list(s)) for c, r, s in rows)


def expected_keys(spec: Any) -> list[tuple[str, int]]:
    """Every (cell_id, round) the spec's grid must produce."""
    return sorted((c.cell_id(), r) for c in spec.cells() for r in range(len(c.budget.sizes)))


def reference_rows(spec: Any, cache_dir: Path) -> list[tuple[str, int, list[int]]]:
    """(cell_id, round, selected) of an uninterrupted plain-loop run of every cell, run the
    way a trial runs it (CPU, one thread, deterministic algorithms)."""
    import torch

    from trainers.loop.cell_loop import run_cell

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True, warn_only=True)
    rows: list[tuple[str, int, list[int]]] = []
    try:
        for cell in spec.cells():
            run_cell(cell, cache_dir=cache_dir, device="cpu",
                     report=lambda r, _s, c=cell: rows.append((c.cell_id(), r.round,
                                                                list(r.selected))))
    finally:
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(False)
    return sorted(rows)


def failures_logged(exp_dir: Path) -> dict[str, int]:
    """Failures Tune recorded per trial folder (its error.txt has one block per failure)."""
    out = {}
    for f in (exp_dir / "tune").glob("*/error.txt"):
        out[f.parent.name] = len(re.findall(r"^Failure # \d+", f.read_text(), re.M))
    return out


def descendants(root: int) -> set[int]:
    """Process ids below `root` (from /proc), e.g. the Ray processes a driver started."""
    kids: dict[int, list[int]] = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                ppid = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            kids.setdefault(ppid, []).append(int(d.name))
    out: set[int] = set()
    todo = [root]
    while todo:
        for k in kids.get(todo.pop(), []):
            if k not in out:
                out.add(k)
                todo.append(k)
    return out


def kill_pids(pids: set[int]) -> None:
    """SIGKILL processes this test started (never by name)."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def make_cell(acq: str = "random", seed: int = 0, params: dict | None = None,
              data: DataConfig | None = None, sizes: tuple[int, ...] = (10, 20),
              arch: str = "scaf") -> CellConfig:
    """A cell of `arch` with acquisition `acq`, budget `sizes` and `data` (synthetic by
    default), for result stores written by hand through the real writer."""
    from trainers.config.cell import AcquisitionConfig, BudgetSchedule, CellConfig, DataConfig

    return CellConfig(arch=arch, data=data or DataConfig(), seed=seed,
                      acquisition=AcquisitionConfig(acq, params or {}),
                      budget=BudgetSchedule(sizes))


def write_round(exp: Path, cell: CellConfig, rnd: int, nme: dict[str, float],
                selected: list[int] | None = None, scores: list[float] | None = None) -> None:
    """One round through the real writer: NME per split (fractions), picks with ranks."""
    from orchestrator.results.writer import ResultWriter
    from trainers.loop.cell_loop import RoundResult

    selected = selected or []
    res = RoundResult(
        round=rnd, n_labeled=cell.budget.sizes[rnd], labeled=list(range(cell.budget.sizes[rnd])),
        metrics={s: {"nme": v, "fr": 0.0, "auc": 0.5} for s, v in nme.items()},
        baseline={s: 0.2 for s in nme}, train_seconds=1.0, score_seconds=0.5, final_loss=0.1,
        selected=selected, selected_scores=scores or [float(-i) for i in range(len(selected))],
        selected_ranks=list(range(len(selected))))
    ResultWriter(str(exp), "test-exp").write_round(cell, res, splits=list(nme))


def write_info(exp: Path, cells: list[Any], name: str = "test-exp") -> None:
    """An experiment folder holding `cells` (as `scaf-al run` creates it)."""
    from orchestrator.results.experiment_folder import ExperimentFolder

    ExperimentFolder.create_for_cells(exp, name, cells, {"experiment": {"name": name}})


def store_cell(seed: int = 0) -> Any:
    """A random-acquisition cell with sizes 10, 12, 14 (for result-store tests)."""
    from trainers.config.cell import AcquisitionConfig, BudgetSchedule, CellConfig

    return CellConfig(arch="scaf", acquisition=AcquisitionConfig("random"),
                      budget=BudgetSchedule((10, 12, 14)), seed=seed)


def store_round(round_: int, loss: float = 1.0, splits: tuple[str, ...] = ("test",)) -> Any:
    """The RoundResult of `store_cell`'s round `round_` (two picks, none in the last)."""
    from trainers.loop.cell_loop import RoundResult

    sel = [] if round_ == 2 else [round_ * 2 + 20, round_ * 2 + 21]
    return RoundResult(
        round=round_, n_labeled=10 + 2 * round_, labeled=list(range(10 + 2 * round_)),
        metrics={s: {"nme": 0.1 * loss, "fr": 0.5, "auc": 0.2} for s in splits},
        baseline={s: 0.3 for s in splits}, train_seconds=1.0, score_seconds=0.1,
        final_loss=loss, selected=sel, selected_scores=[float(i) for i in sel],
        selected_ranks=list(range(len(sel))),
    )


def tiny_cell(acq: str = "nnm", **params: object) -> CellConfig:
    """A cell small enough for the loop to run in seconds (64 px, 30 pool images)."""
    from trainers.config.cell import (
        AcquisitionConfig,
        BudgetSchedule,
        CellConfig,
        DataConfig,
        ModelSettings,
    )
    from trainers.training.supervised import TrainerConfig

    return CellConfig(
        arch="scaf",
        data=DataConfig(options={"n_pool": 30, "n_test": 8}),
        model=ModelSettings(input_size=64, width=0.25, pretrain={"steps": 3, "batch_size": 8}),
        trainer=TrainerConfig(steps=2, batch_size=4),
        acquisition=AcquisitionConfig(acq, dict(params)),
        budget=BudgetSchedule((10, 13, 16)),
        seed=5,
    )


def collect(cell: CellConfig, cache: Path, state: LoopState | None = None,
            stop_after: int | None = None) -> tuple[list[RoundResult], list[LoopState]]:
    """Run the loop of `cell` (optionally from `state`, stopping after a round): its
    round results and the states it reported."""
    from trainers.loop.cell_loop import run_cell

    results: list[RoundResult] = []
    states: list[LoopState] = []

    class Stop(Exception):
        pass

    def report(res: RoundResult, st: LoopState) -> None:
        results.append(res)
        states.append(st)
        if stop_after is not None and res.round == stop_after:
            raise Stop

    with contextlib.suppress(Stop):
        run_cell(cell, cache_dir=cache, report=report, state=state, device="cpu")
    return results, states


# The fields every benchmark record has (benchmarks.training.make_record).
BENCH_RECORD_SCHEMA = {"name": str, "value": float, "unit": str, "baseline_name": str,
                       "baseline_value": float, "ratio": float}


def check_schema(rec: dict) -> None:
    """A benchmark record has the documented fields with their types."""
    for key, kind in BENCH_RECORD_SCHEMA.items():
        assert isinstance(rec[key], kind), (key, rec)
    assert "target_ratio" in rec and "meets_target" in rec
    import math

    import pytest

    assert math.isfinite(rec["value"]) and rec["baseline_value"] > 0
    assert rec["ratio"] == pytest.approx(rec["value"] / rec["baseline_value"])
    if rec["target_ratio"] is None:
        assert rec["meets_target"] is None
    else:
        assert isinstance(rec["meets_target"], bool)
        if rec.get("better", "lower") == "higher":
            assert rec["meets_target"] == (rec["ratio"] >= rec["target_ratio"])
        else:
            assert rec["meets_target"] == (rec["ratio"] <= rec["target_ratio"])


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
