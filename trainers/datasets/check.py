"""`scaf-al datasets check NAME ROOT`: what a download holds, split by split.

`check_dataset` opens every split with bad files skipped (so that one run lists all the
problems) and returns one row per split; `render_check` prints the rows as a rich table.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np

from trainers.datasets.base import DatasetError, landmark_boxes


def _expected(name: str, split: str) -> int | None:
    if name == "300w":
        from trainers.datasets.w300 import SPLIT_SIZES

        return SPLIT_SIZES.get(split)
    if name == "wflw":
        from trainers.datasets.wflw import SPLIT_SIZES, SUBSET_SIZES

        return {**SPLIT_SIZES, **SUBSET_SIZES}.get(split)
    return None


def _box_note(ds: Any) -> tuple[str, float | None]:
    """Where the boxes come from and, for .mat boxes, how far they are from the points."""
    if "bb_detector" not in ds.box_sets or ds.name != "300w":
        return ("annotation" if ds.name in ("wflw",) else "landmarks"), None
    has_det = np.isfinite(ds.box_sets["bb_detector"]).all(axis=1)
    if len(ds) == 0 or not has_det.any():
        return "landmarks", None
    # bb_ground_truth should be the tight box around the points (1-based in both files):
    # a systematic offset here would reveal a coordinate-convention error.
    diff = np.abs(ds.boxes[has_det] - landmark_boxes(ds.landmarks[has_det]))
    source = ".mat" if has_det.all() else f".mat ({int(has_det.sum())}/{len(ds)})"
    return source, float(np.median(diff))


def check_dataset(name: str, root: str | Path, **options: Any) -> list[dict[str, Any]]:
    """Open every split of a data set and summarise what was found.

    Args:
        name: "300w", "wflw" or "folder".
        root: the data set root, as for `open_dataset`.
        **options: loader options (on_bad_file is forced to "skip", strict to False).

    Returns:
        One dict per split: split, faces (usable), expected (official count or None),
        skipped (bad files), problems (messages: count mismatches, bad files, errors),
        boxes (where boxes come from), box_vs_landmarks_px (median |bb_ground_truth -
        landmark extent| for 300-W .mat boxes, else None), status ("ok", "warning" or
        "error").
    """
    from trainers.datasets import dataset_splits, open_dataset

    key = name.lower()
    if key == "synthetic":
        raise ValueError("the synthetic data set is generated, there is nothing to check")
    options = {**options, "on_bad_file": "skip"}
    options.pop("strict", None)
    rows: list[dict[str, Any]] = []
    for split in dataset_splits(key):
        row: dict[str, Any] = {
            "split": split,
            "faces": 0,
            "expected": _expected(key, split),
            "skipped": 0,
            "problems": [],
            "boxes": "",
            "box_vs_landmarks_px": None,
            "status": "ok",
        }
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ds = open_dataset(key, root, split, strict=False, **options)
        except (DatasetError, ValueError) as e:
            row["status"] = "error"
            row["problems"] = [str(e)]
            rows.append(row)
            continue
        row["faces"] = len(ds)
        row["skipped"] = len(ds.skipped)
        row["problems"] = list(ds.count_problems) + [f"{p}: {r}" for p, r in ds.skipped]
        row["boxes"], row["box_vs_landmarks_px"] = _box_note(ds)
        if row["problems"]:
            row["status"] = "warning"
        rows.append(row)
    return rows


def check_table(rows: list[dict[str, Any]], title: str = "") -> Any:
    """The rows of `check_dataset` as a rich Table."""
    from rich.table import Table

    table = Table(title=title or None)
    for col, justify in (
        ("split", "left"), ("faces", "right"), ("expected", "right"), ("skipped", "right"),
        ("boxes", "left"), ("box Δ px", "right"), ("status", "left"), ("problems", "left"),
    ):
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    colours = {"ok": "green", "warning": "yellow", "error": "red"}
    for r in rows:
        problems = r["problems"]
        shown = "\n".join(problems[:5]) + (
            f"\n... {len(problems) - 5} more" if len(problems) > 5 else ""
        )
        delta = r["box_vs_landmarks_px"]
        table.add_row(
            r["split"],
            str(r["faces"]),
            "" if r["expected"] is None else str(r["expected"]),
            str(r["skipped"]),
            r["boxes"],
            "" if delta is None else f"{delta:.2f}",
            f"[{colours[r['status']]}]{r['status']}[/]",
            shown,
        )
    return table


def render_check(
    rows: list[dict[str, Any]], title: str = "", console: Any | None = None
) -> None:
    """Print the rows of `check_dataset` as a table (to `console`, default stdout)."""
    from rich.console import Console

    (console or Console()).print(check_table(rows, title))
