"""What an annotation project's last finished round says about continuing it: its K, how
it found faces, and the one line a grid command (`resume`, `run --resume`) answers with
when it is given a project."""

from __future__ import annotations

import json

from orchestrator.results.experiment_folder import ExperimentFolder, NotAnExperimentError


def last_round(folder: ExperimentFolder) -> dict:
    """The last finished round's round.json ({} when there is none or it is unreadable)."""
    rounds = folder.round_dirs()
    try:
        doc = json.loads((rounds[-1] / "round.json").read_text(encoding="utf-8"))
    except (IndexError, OSError, ValueError):
        return {}
    return doc if isinstance(doc, dict) else {}


def last_round_k(folder: ExperimentFolder) -> int | None:
    """K of the project's last finished round, or None."""
    try:
        return int(last_round(folder)["k"])
    except (KeyError, TypeError, ValueError):
        return None


def last_face_finding(folder: ExperimentFolder) -> tuple[str | None, int]:
    """How the last finished round found its faces: ("boxes", "whole-image", "detector" or
    None when no round says, its `--min-face`, 0 for none)."""
    how = last_round(folder).get("faces")
    how = how if isinstance(how, dict) else {}
    return how.get("found_by"), int(how.get("min_face") or 0)


def face_flags(folder: ExperimentFolder) -> str:
    """The `propose` flags that find faces as the last round did ('' for the detector with
    no minimum size)."""
    found_by, min_face = last_face_finding(folder)
    if found_by == "boxes":
        return " --boxes BOXES.csv"
    if found_by == "whole-image":
        return " --whole-image"
    return f" --min-face {min_face}" if min_face else ""


def project_continuation(folder: ExperimentFolder) -> str:
    """One line on how an annotation project continues (it is not a grid to resume)."""
    rounds = folder.round_dirs()
    k = last_round_k(folder)
    try:
        images = str(folder.project_images())
    except NotAnExperimentError:
        images = "IMAGES"
    then = (f"annotate the images in {rounds[-1] / 'to_annotate.csv'} (a .pts beside each "
            f"image, or a Label Studio export in {folder.annotations_dir}), then run"
            if rounds else "run")
    return (f"{folder.path} is an annotation project, not a grid experiment (nothing was "
            f"started): {then} `scaf-al propose {folder.path} --images {images} "
            f"--k {k or 'K'}{face_flags(folder)}` for its next round")
