"""The files of one `propose` round: what to annotate, pre-annotations, Label Studio tasks,
the contact sheet and the round's record.

    round-NNN/to_annotate.csv   rank,image,face,score,x_min,y_min,x_max,y_max: one row per
                                proposed face, rank 1 the best; image relative to the image
                                folder, face its index n, score the acquisition's, the box
                                the face's (upright original pixels)
    round-NNN/preannotations/<stem>_<n>.pts  predicted landmarks of face n, original
                                pixels, 1-based iBUG (copy it beside the image, AFW naming)
    round-NNN/label_studio.json tasks, one per image, one face box and keypoint group per
                                proposed face (percent coordinates)
    round-NNN/label_studio_config.xml  the labeling config those tasks need
    round-NNN/contact_sheet.png each proposed face's crop, ranked, predictions drawn
    round-NNN/round.json        what the round saw and chose (face ids `<image>#<n>`),
                                the detector's boxes and scores, and the loop state
"""

from __future__ import annotations

import csv
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from orchestrator.projects.label_studio import label_studio_tasks, write_label_studio
from trainers.datasets.pts import write_pts
from trainers.inference.safe_files import spreadsheet_cell, unspreadsheet_cell

TILE = 200
CAPTION = 30


@dataclass
class Proposal:
    """The K faces one round proposes, best first.

    Attributes:
        images: the relative image path of each face.
        scores: the acquisition's score per face (NaN when it has none, e.g. random).
        landmarks: (L, 2) predicted landmarks per face in original pixels (0-based), or
            None when the round had no trained model (cold start).
        sizes: (width, height) of each face's image.
        faces: the face index n of each face.
        boxes: (4,) face box of each face (original upright pixels).
        crops: each face's M x M crop and its (2, 3) crop-to-original affine (the
            contact sheet's tiles).
    """

    images: list[str]
    scores: list[float]
    landmarks: list[np.ndarray | None]
    sizes: list[tuple[int, int]]
    faces: list[int] = field(default_factory=list)
    boxes: list[np.ndarray] = field(default_factory=list)
    crops: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)


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
        labeled: the labeled faces (ids `<image>#<n>`) the round trained on, in
            acquisition order.
        proposed: the faces proposed, best first.
        pending_excluded: faces proposed earlier, still unannotated, not proposed again.
        skipped: (file, reason) of bad files left out (--skip-bad).
        k: K.
        model: "model.pt", or None when there is no trained model.
        faces: how the faces were found ("boxes", "whole-image", or the detector's name)
            and `min_face`.
        boxes: {face id: [x_min, y_min, x_max, y_max, detector score or None]} of every
            unlabeled face of the pool.
        no_face: images where no face was found.
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
    faces: dict[str, Any] = field(default_factory=dict)
    boxes: dict[str, list[float | None]] = field(default_factory=dict)
    no_face: list[str] = field(default_factory=list)

    @classmethod
    def read(cls, path: Path) -> RoundRecord:
        """Read a `round.json` (a record from before faces had ids names images: face 1).

        Raises:
            ValueError: naming the file when it is not a round record.
        """
        try:
            rec = cls(**json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError) as e:
            raise ValueError(f"{path}: not a propose round record ({e})") from None
        for name in ("labeled", "proposed", "pending_excluded"):
            setattr(rec, name, [v if _FACE_SUFFIX.search(v) else f"{v}#1"
                                for v in getattr(rec, name)])
        return rec


_FACE_SUFFIX = re.compile(r"#\d+$")


TO_ANNOTATE_COLUMNS = ("rank", "image", "face", "score", "x_min", "y_min", "x_max", "y_max")


def write_to_annotate(path: Path, proposal: Proposal) -> None:
    """One row per proposed face, rank 1 first; an empty score where the acquisition has
    none; an image name a spreadsheet would run as a formula starts with an apostrophe."""
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(TO_ANNOTATE_COLUMNS)
        for rank, (rel, score) in enumerate(zip(proposal.images, proposal.scores, strict=True)):
            w.writerow([rank + 1, spreadsheet_cell(rel), proposal.faces[rank],
                        "" if not math.isfinite(score) else repr(float(score)),
                        *(f"{float(v):.1f}" for v in proposal.boxes[rank])])


def write_preannotations(folder: Path, proposal: Proposal) -> list[Path]:
    """`<stem>_<n>.pts` per proposed face with a prediction (none in a cold-start round)."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for rel, n, lms in zip(proposal.images, proposal.faces, proposal.landmarks, strict=True):
        if lms is not None:
            out = folder / f"{Path(rel).stem}_{n}.pts"
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


def _in_crop(landmarks: np.ndarray | None, to_original: np.ndarray) -> np.ndarray | None:
    """Original-pixel landmarks in the crop's frame (the affine's inverse)."""
    if landmarks is None:
        return None
    a, t = to_original[:, :2], to_original[:, 2]
    return (np.asarray(landmarks, dtype=np.float64) - t) @ np.linalg.inv(a).T


def write_contact_sheet(path: Path, root: Path, proposal: Proposal, columns: int = 5) -> Path:
    """Each proposed face's crop in rank order, with its predicted landmarks and score."""
    n = len(proposal.images)
    cols = max(1, min(columns, n))
    rows = math.ceil(n / cols)
    sheet = Image.new("RGB", (cols * TILE, rows * (TILE + CAPTION)), (255, 255, 255))
    for i, (rel, lms, score) in enumerate(zip(proposal.images, proposal.landmarks,
                                              proposal.scores, strict=True)):
        score_text = "" if not math.isfinite(score) else f"  score {score:.4g}"
        crop, to_original = proposal.crops[i]
        cell = _tile(crop, _in_crop(lms, to_original),
                     f"#{i + 1}{score_text}\n{rel} face {proposal.faces[i]}")
        sheet.paste(cell, ((i % cols) * TILE, (i // cols) * (TILE + CAPTION)))
    sheet.save(path, format="PNG", optimize=True)
    return path


def write_round_files(folder: Path, root: Path, proposal: Proposal, record: RoundRecord,
                      num_landmarks: int, model_version: str) -> None:
    """Every file of the round except the model, into `folder` (a work folder)."""
    write_to_annotate(folder / "to_annotate.csv", proposal)
    write_preannotations(folder / "preannotations", proposal)
    tasks = label_studio_tasks(proposal.images, proposal.faces, proposal.boxes,
                               proposal.landmarks, proposal.sizes, proposal.scores, model_version)
    write_label_studio(folder / "label_studio.json", folder / "label_studio_config.xml", tasks,
                       num_landmarks)
    write_contact_sheet(folder / "contact_sheet.png", root, proposal)
    (folder / "round.json").write_text(json.dumps(asdict(record), indent=1) + "\n",
                                       encoding="utf-8")


def read_to_annotate(path: Path) -> list[tuple[int, str, int, float]]:
    """(rank, image, face, score) rows of a `to_annotate.csv` (score NaN when empty)."""
    with path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return [(int(r["rank"]), unspreadsheet_cell(r["image"]), int(r["face"]),
             float(r["score"]) if r["score"] else math.nan) for r in rows]


def proposal_order(records: Sequence[RoundRecord]) -> list[str]:
    """Every face proposed so far, in proposal order (first proposal wins)."""
    return list(dict.fromkeys(rel for rec in records for rel in rec.proposed))
