"""`scaf-al gallery DIR`: the pool images a cell picked in a round, in selection order, with
their ground-truth landmarks, like Fig. 4 of the SCAF paper.

For a cell whose acquisition discards the top-scored fraction (`discard_top`), the gallery
puts the picks of the same acquisition without the discard (same seed, same settings) in a
row above when the experiment holds that cell: the row shows what the discard throws away.
Both cells share round 0's model (it depends only on the seed), so at round 0 the upper row
is exactly the top of the ranking the lower row skips.

Each pick shows its ground truth (green), the landmarks the round's model predicted for it
when it was scored (blue; stored with the selection, absent for random sampling, which never
runs the model), and its rank, score and pool index.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only; must precede pyplot so no GUI backend is tried

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pyarrow.compute as pc  # noqa: E402

from orchestrator.results.experiment_folder import ExperimentFolder  # noqa: E402
from orchestrator.results.readers import read_selections  # noqa: E402
from trainers.config.cell import CellConfig  # noqa: E402
from trainers.datasets.cropset import CropSet, centre_offset  # noqa: E402

TILE_INCHES = 1.8  # one image
LABEL_INCHES = 0.5  # row titles on the left
TITLE_INCHES = 0.45  # figure title
CAPTION_INCHES = 0.45  # two caption lines under each image


@dataclass
class Pick:
    pool_index: int
    rank: int
    score: float | None
    prediction: list[float] | None = None  # M-crop frame, x0 y0 x1 y1 ... (None: random)


@dataclass
class GalleryRow:
    """One row of the figure: a cell's picks of one round, best rank first."""

    cell_id: str
    label: str
    picks: list[Pick]


def _discard(cfg: dict[str, Any]) -> float:
    return float(cfg["acquisition"].get("params", {}).get("discard_top", 0) or 0)


def _without_discard(cfg: dict[str, Any]) -> dict[str, Any]:
    c = json.loads(json.dumps(cfg))
    c["acquisition"].setdefault("params", {}).pop("discard_top", None)
    return c


def load_cells(experiment_dir: Path) -> dict[str, dict[str, Any]]:
    """{cell_id: config dict}, in the experiment's order."""
    return ExperimentFolder.open(experiment_dir).info.configs()


def resolve_cell(cells: dict[str, dict[str, Any]], cell: str | None,
                 with_selections: set[str]) -> str:
    """The cell id asked for (a unique prefix is enough), or by default the first cell with
    a score-based acquisition that has selections in the round."""
    if cell:
        hits = [c for c in cells if c.startswith(cell)]
        if len(hits) != 1:
            raise ValueError(
                f"--cell {cell!r} matches {len(hits)} cells of this experiment; cells: "
                + ", ".join(f"{c[:8]} ({_label(cfg)})" for c, cfg in cells.items()))
        return hits[0]
    for cid, cfg in cells.items():
        if cfg["acquisition"]["name"] != "random" and cid in with_selections:
            return cid
    if with_selections:
        return next(c for c in cells if c in with_selections)
    raise ValueError("no cell has selections in this round yet (the last round selects "
                     "nothing; try an earlier --round)")


def _label(cfg: dict[str, Any]) -> str:
    return f"{CellConfig.from_dict(cfg).acquisition.label()} s{cfg['seed']}"


def sibling(cells: dict[str, dict[str, Any]], cell_id: str) -> str | None:
    """The cell equal to `cell_id` except for `discard_top` (set on one, absent on the other)."""
    cfg = cells[cell_id]
    key = json.dumps(_without_discard(cfg), sort_keys=True)
    for cid, other in cells.items():
        if cid == cell_id or (_discard(other) > 0) == (_discard(cfg) > 0):
            continue
        if json.dumps(_without_discard(other), sort_keys=True) == key:
            return cid
    return None


def gallery_rows(experiment_dir: Path, cell: str | None = None, round_: int = 0,
                 top: int = 5) -> tuple[CellConfig, list[GalleryRow]]:
    """The chosen cell's config and the rows to draw (the no-discard row first).

    Raises:
        ValueError: unknown cell, or no selections for it in that round (lists the rounds
            that have some).
    """
    if top < 1:
        raise ValueError(f"--top must be >= 1, got {top}")
    cells = load_cells(experiment_dir)
    sel = read_selections(str(experiment_dir))
    in_round = sel.filter(pc.equal(sel["round"], round_))
    cid = resolve_cell(cells, cell, set(in_round.column("cell_id").to_pylist()))
    ids = [cid]
    sib = sibling(cells, cid)
    if sib is not None:
        ids = [sib, cid] if _discard(cells[cid]) > 0 else [cid, sib]
    rows = []
    for i in ids:
        t = in_round.filter(pc.equal(in_round["cell_id"], i)).sort_by("rank")
        if t.num_rows == 0:
            if i != cid:
                continue  # the sibling has not reached this round: show the cell alone
            mine = sel.filter(pc.equal(sel["cell_id"], i))
            rounds = sorted(set(mine.column("round").to_pylist()))
            raise ValueError(f"cell {i[:8]} ({_label(cells[i])}) has no selections in round "
                             f"{round_}; rounds with selections: "
                             f"{', '.join(map(str, rounds)) or 'none yet'}")
        picks = [Pick(int(r["pool_index"]), int(r["rank"]), r["score"],
                      r.get("pred_landmarks"))
                 for r in t.slice(0, top).to_pylist()]
        d = _discard(cells[i])
        what = (f"discard top {d:.0%}: picks" if d > 0
                else "picks" if sib is None else "no discard: top picks")
        rows.append(GalleryRow(i, f"{_label(cells[i])}\n{what}", picks))
    return CellConfig.from_dict(cells[cid]), rows


def render_gallery(pool: CropSet, rows: list[GalleryRow], out: Path, title: str = "",
                   dpi: int = 100) -> Path:
    """Draw the rows (network window of each crop, ground truth in green) into a PNG.

    The image is (LABEL + top * TILE) x (TITLE + rows * (TILE + CAPTION)) inches at `dpi`.
    """
    cols = max(len(r.picks) for r in rows)
    w = LABEL_INCHES + cols * TILE_INCHES
    row_h = TILE_INCHES + CAPTION_INCHES
    h = TITLE_INCHES + len(rows) * row_h
    fig = plt.figure(figsize=(w, h), dpi=dpi)
    s, o = pool.input_size, centre_offset(pool.input_size)
    kinds = pool.meta.get("kinds")
    try:
        for ri, row in enumerate(rows):
            top_y = h - TITLE_INCHES - ri * row_h
            fig.text(0.5 * LABEL_INCHES / w, (top_y - TILE_INCHES / 2) / h, row.label,
                     rotation=90, ha="center", va="center", fontsize=8)
            for ci, p in enumerate(row.picks):
                if p.pool_index >= len(pool):
                    raise ValueError(
                        f"selection pool_index {p.pool_index} is outside the pool "
                        f"({len(pool)} images): the cell's data config no longer matches")
                pad = 0.04 * TILE_INCHES
                ax = fig.add_axes(((LABEL_INCHES + ci * TILE_INCHES + pad) / w,
                                   (top_y - TILE_INCHES + pad) / h,
                                   (TILE_INCHES - 2 * pad) / w, (TILE_INCHES - 2 * pad) / h))
                # What the network sees: the central S x S window of the margin crop.
                img = pool.images[p.pool_index, o:o + s, o:o + s]
                pts = pool.landmarks[p.pool_index] - o
                ax.imshow(img, extent=(-0.5, s - 0.5, s - 0.5, -0.5))
                ax.scatter(pts[:, 0], pts[:, 1], s=max(2.0, 300.0 / len(pts)), c="lime",
                           edgecolors="black", linewidths=0.3)
                if p.prediction:
                    pred = np.asarray(p.prediction, dtype=np.float64).reshape(-1, 2) - o
                    ax.scatter(pred[:, 0], pred[:, 1], s=max(2.0, 300.0 / len(pred)),
                               c="deepskyblue", edgecolors="black", linewidths=0.3)
                ax.set_xlim(-0.5, s - 0.5)
                ax.set_ylim(s - 0.5, -0.5)
                ax.set_xticks([])
                ax.set_yticks([])
                # Random sampling stores NaN scores: show only the rank then.
                has_score = p.score is not None and math.isfinite(p.score)
                score = f"  score {p.score:.3g}" if has_score else ""
                kind = ""
                if kinds is not None and kinds[p.pool_index] != "normal":
                    kind = f" ({kinds[p.pool_index]})"
                ax.set_title(f"#{p.rank + 1}{score}", fontsize=7, pad=2)
                fig.text((LABEL_INCHES + (ci + 0.5) * TILE_INCHES) / w,
                         (top_y - TILE_INCHES - 0.05) / h, f"pool {p.pool_index}{kind}",
                         ha="center", va="top", fontsize=7)
        if title:
            fig.text(0.5, 1 - 0.5 * TITLE_INCHES / h, title, ha="center", va="center",
                     fontsize=9)
        out = Path(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(out, dpi=dpi)  # no tight bbox: the size stays as documented
    finally:
        plt.close(fig)
    return out


def write_gallery(experiment_dir: str | Path, cell: str | None = None, round_: int = 0,
                  top: int = 5, out: str | Path | None = None) -> Path:
    """Load the pool of the chosen cell and write its gallery PNG; returns the file."""
    from trainers.loop.data_loading import load_data

    exp = Path(experiment_dir)
    cfg, rows = gallery_rows(exp, cell, round_, top)
    cache = ExperimentFolder.open(exp).cache_dir()
    pool, _ = load_data(cfg.data, cfg.model.input_size, cache)
    cid = rows[-1].cell_id if _discard(cfg.to_dict()) > 0 else rows[0].cell_id
    out = Path(out) if out else exp / f"gallery-{cid[:8]}-r{round_}.png"
    n_sel = cfg.budget.sizes[round_ + 1] - cfg.budget.sizes[round_] \
        if round_ + 1 < len(cfg.budget.sizes) else 0
    title = (f"{cfg.arch} on {cfg.data.name}, round {round_} ({cfg.budget.sizes[round_]} "
             f"labeled, selects {n_sel}): first {top} picks in selection order; "
             f"green = ground truth, blue = prediction")
    return render_gallery(pool, rows, out, title)


def first_picks_rows(folder: ExperimentFolder, top: int = 4) -> list[GalleryRow]:
    """One row per acquisition: the round-0 picks of its first cell (in the experiment's
    order) that has selections, best rank first."""
    sel = read_selections(folder.store)
    r0 = sel.filter(pc.equal(sel["round"], 0))
    with_picks = set(r0.column("cell_id").to_pylist())
    rows, seen = [], set()
    for cid, cfg in folder.info.configs().items():
        label = CellConfig.from_dict(cfg).acquisition.label()
        if label in seen or cid not in with_picks:
            continue
        seen.add(label)
        t = r0.filter(pc.equal(r0["cell_id"], cid)).sort_by("rank").slice(0, top)
        picks = [Pick(int(r["pool_index"]), int(r["rank"]), r["score"], r.get("pred_landmarks"))
                 for r in t.to_pylist()]
        rows.append(GalleryRow(cid, f"{_label(cfg)}\nround 0", picks))
    return rows


def write_first_picks(folder: ExperimentFolder, out: Path, top: int = 4) -> Path | None:
    """The first picks of every acquisition as one PNG (None: no round has selected yet).

    Raises:
        ValueError / OSError: the pool cannot be loaded on this machine.
    """
    from trainers.loop.data_loading import load_data

    rows = first_picks_rows(folder, top)
    if not rows:
        return None
    cfg = CellConfig.from_dict(folder.info.configs()[rows[0].cell_id])
    pool, _ = load_data(cfg.data, cfg.model.input_size, folder.cache_dir())
    return render_gallery(pool, rows, out, "first picks of each acquisition (round 0); "
                          "green = ground truth, blue = prediction")
