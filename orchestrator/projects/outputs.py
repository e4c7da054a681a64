"""The files of one `propose` round: what to annotate, pre-annotations, Label Studio tasks,
the contact sheet and the round's record.

    round-NNN/to_annotate.csv            rank,image,score (image relative to the image
                                         folder; rank 1 is the best; K rows)
    round-NNN/preannotations/<stem>.pts  predicted landmarks, original pixels, 1-based iBUG
    round-NNN/label_studio.json          tasks with the predictions (percent coordinates)
    round-NNN/label_studio_config.xml    the labeling config those tasks need
    round-NNN/contact_sheet.png          the K images ranked, predictions drawn
    round-NNN/round.json                 what the round saw and chose, and the loop state
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from orchestrator.projects.label_studio import label_studio_tasks, write_label_studio
from trainers.datasets.base import decode_rgb
from trainers.datasets.pts import write_pts
from trainers.inference.safe_files import spreadsheet_cell, unspreadsheet_cell

TILE = 200
CAPTION = 30


@dataclass
class Proposal:
    """The K images one round proposes, best first.

    Attributes:
        images: relative image paths.
        scores: the acquisition's score per image (NaN when it has none, e.g. random).
        landmarks: (L, 2) predicted landmarks per image in original pixels (0-based), or
            None when the round had no trained model (cold start).
        sizes: (width, height) per image.
    """

    images: list[str]
    scores: list[float]
    landmarks: list[np.ndarray | None]
    sizes: list[tuple[int, int]]


@dataclass
class RoundRecord:
    """`round.json`: the round's facts and the loop state the next call continues from.

    Attributes:
        round: the round number (NNN).
        kind: "trained", or "cold-start-kcenter" / "cold-start-random" (no trained head).
        loop_round: the training round of the loop this round's model was (None: cold
            start); the next trained round uses loop_round + 1.
        next_loop_round: the loop round the next trained round runs.
        rng_state: the acquisition generator's state after this round's picks.
        labeled: the labeled images the round trained on, in acquisition order.
        proposed: the images proposed, best first.
        pending_excluded: images proposed earlier, still unannotated, not proposed again.
        skipped: (file, reason) of bad files left out (--skip-bad).
        k: K.
        model: "model.pt", or None when there is no trained model.
    """

    round: int
    kind: str
    loop_round: int | None
    next_loop_round: int
    rng_state: Mapping[str, Any]
    labeled: list[str]
    proposed: list[str]
    pending_excluded: list[str] = field(default_factory=list)
    skipped: list[list[str]] = field(default_factory=list)
    k: int = 0
    model: str | None = None

    @classmethod
    def read(cls, path: Path) -> RoundRecord:
        """Read a `round.json`.

        Raises:
            ValueError: naming the file when it is not a round record.
        """
        try:
            return cls(**json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError) as e:
            raise ValueError(f"{path}: not a propose round record ({e})") from None


def write_to_annotate(path: Path, proposal: Proposal) -> None:
    """`rank,image,score`, rank 1 first; an empty score where the acquisition has none; an
    image name a spreadsheet would run as a formula starts with an apostrophe."""
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["rank", "image", "score"])
        for rank, (rel, score) in enumerate(zip(proposal.images, proposal.scores, strict=True)):
            w.writerow([rank + 1, spreadsheet_cell(rel),
                        "" if not math.isfinite(score) else repr(float(score))])


def write_preannotations(folder: Path, proposal: Proposal) -> list[Path]:
    """`<stem>.pts` per proposed image with a prediction (none in a cold-start round)."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for rel, lms in zip(proposal.images, proposal.landmarks, strict=True):
        if lms is not None:
            out = folder / f"{Path(rel).stem}.pts"
            write_pts(out, lms)
            written.append(out)
    return written


def _tile(image: np.ndarray, landmarks: np.ndarray | None, caption: str) -> Image.Image:
    """One contact-sheet cell: the image fitted into TILE x TILE, dots, a caption below."""
    h, w = image.shape[:2]
    scale = TILE / max(w, h)
    small = Image.fromarray(image).resize((max(1, round(w * scale)), max(1, round(h * scale))),
                                          Image.Resampling.BILINEAR)
    cell = Image.new("RGB", (TILE, TILE + CAPTION), (255, 255, 255))
    ox, oy = (TILE - small.width) // 2, (TILE - small.height) // 2
    cell.paste(small, (ox, oy))
    draw = ImageDraw.Draw(cell)
    if landmarks is not None:
        # Pixel centre (x, y) lies at (x + 0.5) * scale in the resized image.
        for x, y in np.asarray(landmarks, dtype=np.float64):
            cx, cy = ox + (x + 0.5) * scale, oy + (y + 0.5) * scale
            draw.ellipse([cx - 1.8, cy - 1.8, cx + 1.8, cy + 1.8], fill=(64, 255, 64),
                         outline=(0, 0, 0))
    for line_no, text in enumerate(caption.split("\n")[:2]):
        draw.text((4, TILE + 2 + 13 * line_no), text[:34], fill=(0, 0, 0))
    return cell


def write_contact_sheet(path: Path, root: Path, proposal: Proposal, columns: int = 5) -> Path:
    """The proposed images in rank order, each with its predicted landmarks and score."""
    n = len(proposal.images)
    cols = max(1, min(columns, n))
    rows = math.ceil(n / cols)
    sheet = Image.new("RGB", (cols * TILE, rows * (TILE + CAPTION)), (255, 255, 255))
    for i, (rel, lms, score) in enumerate(zip(proposal.images, proposal.landmarks,
                                              proposal.scores, strict=True)):
        score_text = "" if not math.isfinite(score) else f"  score {score:.4g}"
        cell = _tile(decode_rgb(root / rel), lms, f"#{i + 1}{score_text}\n{rel}")
        sheet.paste(cell, ((i % cols) * TILE, (i // cols) * (TILE + CAPTION)))
    sheet.save(path, format="PNG", optimize=True)
    return path


def write_round_files(folder: Path, root: Path, proposal: Proposal, record: RoundRecord,
                      num_landmarks: int, model_version: str) -> None:
    """Every file of the round except the model, into `folder` (a work folder)."""
    write_to_annotate(folder / "to_annotate.csv", proposal)
    write_preannotations(folder / "preannotations", proposal)
    tasks = label_studio_tasks(proposal.images, proposal.landmarks, proposal.sizes,
                               proposal.scores, model_version)
    write_label_studio(folder / "label_studio.json", folder / "label_studio_config.xml", tasks,
                       num_landmarks)
    write_contact_sheet(folder / "contact_sheet.png", root, proposal)
    (folder / "round.json").write_text(json.dumps(asdict(record), indent=1) + "\n",
                                       encoding="utf-8")


def read_to_annotate(path: Path) -> list[tuple[int, str, float]]:
    """(rank, image, score) rows of a `to_annotate.csv` (score NaN when empty)."""
    with path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return [(int(r["rank"]), unspreadsheet_cell(r["image"]),
             float(r["score"]) if r["score"] else math.nan) for r in rows]


def proposal_order(records: Sequence[RoundRecord]) -> list[str]:
    """Every image proposed so far, in proposal order (first proposal wins)."""
    return list(dict.fromkeys(rel for rec in records for rel in rec.proposed))
