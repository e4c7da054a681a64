"""Face-alignment metrics: per-image NME, failure rate and AUC of the CED curve.

All values are fractions (multiply by 100 for the percent that reports show). The default
protocol follows data-and-eval.md section 4: errors in original-image coordinates,
normalised by the ground-truth outer-eye-corner distance (36/45 for 68 points, 60/72 for
98), FR@0.10 counting errors strictly above the threshold, and AUC@0.10 as Simpson's rule
over a 1e-4 grid divided by the threshold. `auc_3fabrec` and `nme_3fabrec` reproduce
3FabRec's own numbers for comparison with its tables.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from scipy.integrate import simpson

from trainers.datasets.cropset import centre_offset
from trainers.datasets.layouts import LAYOUTS, standard_layout


def default_eyes(num_landmarks: int) -> tuple[int, int]:
    """The outer-eye-corner pair of the standard layout with `num_landmarks` points (the
    layouts in `trainers.datasets.layouts`: 68 or 98).

    Raises:
        ValueError: for other landmark counts, whose normalisation pair must be given.
    """
    layout = standard_layout(num_landmarks)
    if layout is None:
        known = sorted(lay.num_landmarks for lay in LAYOUTS.values())
        raise ValueError(
            f"no default normalisation pair for {num_landmarks} landmarks "
            f"(known: {known}); pass eyes=(a, b) explicitly"
        )
    return layout.eye_idx


def _check_points(pred: np.ndarray, gt: np.ndarray,
                  eyes: tuple[int, int] | None) -> tuple[int, int]:
    """The normalising pair (`eyes`, or the standard layout's), once shapes and values
    are checked."""
    if gt.ndim != 3 or gt.shape[2] != 2:
        raise ValueError(f"gt must have shape (n, L, 2), got {gt.shape}")
    if pred.shape != gt.shape:
        raise ValueError(f"pred shape {pred.shape} differs from gt shape {gt.shape}")
    num_landmarks = gt.shape[1]
    a, b = eyes = default_eyes(num_landmarks) if eyes is None else eyes
    if not (0 <= a < num_landmarks and 0 <= b < num_landmarks) or a == b:
        raise ValueError(
            f"eyes={eyes} must be two different indices in 0..{num_landmarks - 1}"
        )
    if num_landmarks == 98 and (a, b) == (36, 45):
        # The 68-point default would silently normalise WFLW by two eyebrow points.
        raise ValueError("98-point landmarks need eyes=(60, 72) (outer eye corners), not (36, 45)")
    if not np.all(np.isfinite(gt)):
        bad = np.unique(np.argwhere(~np.isfinite(gt))[:, 0])
        raise ValueError(f"gt has non-finite coordinates in images {bad.tolist()[:10]}")
    return eyes


def nme(
    pred: np.ndarray, gt: np.ndarray, eyes: tuple[int, int] | None = None
) -> np.ndarray:
    """Per-image normalised mean error.

    e_i = mean_l ||pred[i, l] - gt[i, l]|| / ||gt[i, a] - gt[i, b]|| with (a, b) = eyes.

    Args:
        pred: (n, L, 2) predicted (x, y), in the same frame as `gt`.
        gt: (n, L, 2) ground-truth (x, y).
        eyes: indices of the normalising pair; by default the outer eye corners of the
            standard layout with gt's landmark count (`default_eyes`).

    Returns:
        (n,) float64 errors as fractions. An image whose prediction has a non-finite
        coordinate gets +inf, so it counts as a failure and shows in the mean rather than
        being dropped.

    Raises:
        ValueError: on mismatched shapes, bad `eyes`, non-finite ground truth, or a
            zero normalising distance (the offending image indices are named).
    """
    pred = np.asarray(pred, dtype=np.float64)
    gt = np.asarray(gt, dtype=np.float64)
    a, b = _check_points(pred, gt, eyes)
    norm = np.linalg.norm(gt[:, a] - gt[:, b], axis=-1)
    if np.any(norm <= 0):
        raise ValueError(
            f"zero distance between landmarks {a} and {b} in images "
            f"{np.flatnonzero(norm <= 0).tolist()[:10]}; cannot normalise"
        )
    per_point = np.linalg.norm(pred - gt, axis=-1)
    errors = per_point.mean(axis=1) / norm
    errors[~np.all(np.isfinite(pred), axis=(1, 2))] = np.inf
    return errors


def nme_3fabrec(
    pred_crop: np.ndarray,
    gt_crop: np.ndarray,
    input_size: int = 256,
    eyes: tuple[int, int] | None = None,
) -> np.ndarray:
    """Per-image NME as 3FabRec computes it, in the network's S x S input frame.

    Takes points in the M-crop frame of a CropSet, moves them to the central S x S
    window and, like 3FabRec, clips negative ground-truth coordinates to 0 before
    scoring (the only way its numbers differ from original-image NME, apart from the
    quantisation of its predictions).

    Args:
        pred_crop: (n, L, 2) predictions in the M-crop frame.
        gt_crop: (n, L, 2) ground truth in the M-crop frame.
        input_size: network input side S (its crop offset is (M - S) // 2).
        eyes: normalising pair, as in `nme`.

    Returns:
        (n,) errors as fractions.
    """
    off = centre_offset(input_size)
    pred = np.asarray(pred_crop, dtype=np.float64) - off
    gt = np.maximum(np.asarray(gt_crop, dtype=np.float64) - off, 0.0)
    return nme(pred, gt, eyes)


def _errors_1d(errors: np.ndarray) -> np.ndarray:
    errors = np.asarray(errors, dtype=np.float64).ravel()
    if errors.size == 0:
        raise ValueError("no errors given: need at least one image")
    if np.any(np.isnan(errors)):
        raise ValueError("errors contain NaN; nme() returns +inf for bad predictions")
    return errors


def failure_rate(errors: np.ndarray, threshold: float = 0.10) -> float:
    """Fraction of images whose error is strictly above `threshold`."""
    errors = _errors_1d(errors)
    return float(np.count_nonzero(errors > threshold) / errors.size)


def ced(errors: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """Cumulative error distribution: for each x, the fraction of errors <= x."""
    errors = np.sort(_errors_1d(errors))
    return np.searchsorted(errors, np.asarray(xs, dtype=np.float64), side="right") / errors.size


def auc(errors: np.ndarray, threshold: float = 0.10, step: float = 1e-4) -> float:
    """Area under the CED curve up to `threshold`, divided by `threshold` (in [0, 1]).

    Simpson's rule over x = arange(0, threshold + step, step), the scheme most
    face-alignment code uses (data-and-eval.md section 4).
    """
    xs = np.arange(0.0, threshold + step, step)
    return float(simpson(ced(errors, xs), x=xs) / threshold)


def auc_3fabrec(errors: np.ndarray, threshold: float = 0.10, num: int = 50) -> float:
    """3FabRec's AUC: the mean of the CED at linspace(0, threshold, num), ends included."""
    xs = np.linspace(0.0, threshold, num)
    return float(ced(errors, xs).mean())


def summarize(errors: np.ndarray, threshold: float = 0.10) -> dict[str, float]:
    """Mean NME, FR@threshold and AUC@threshold, all as fractions.

    Returns:
        {"nme": mean error, "fr": failure rate, "auc": Simpson AUC,
         "auc_3fabrec": 3FabRec-style AUC, "n": number of images}.
    """
    errors = _errors_1d(errors)
    return {
        "nme": float(errors.mean()),
        "fr": failure_rate(errors, threshold),
        "auc": auc(errors, threshold),
        "auc_3fabrec": auc_3fabrec(errors, threshold),
        "n": int(errors.size),
    }


def summarize_subsets(
    errors: np.ndarray, masks: Mapping[str, np.ndarray], threshold: float = 0.10
) -> dict[str, dict[str, float]]:
    """`summarize` per named subset of the same images (subsets may overlap).

    For WFLW, score the full test set once and pass its attribute flags, e.g.
    `cs.meta["attributes"]` ({"pose": [0, 1, ...], ...}), to get the six subsets.

    Args:
        errors: (n,) per-image errors.
        masks: name -> (n,) boolean (or 0/1) membership.

    Returns:
        name -> summary; an empty subset gives {"n": 0}.
    """
    errors = _errors_1d(errors)
    out: dict[str, dict[str, float]] = {}
    for name, mask in masks.items():
        mask = np.asarray(mask).astype(bool).ravel()
        if mask.shape != errors.shape:
            raise ValueError(
                f"subset {name!r}: mask has {mask.size} entries for {errors.size} errors"
            )
        out[name] = summarize(errors[mask], threshold) if mask.any() else {"n": 0}
    return out


def as_percent(summary: dict[str, float]) -> dict[str, float]:
    """The same summary with nme, fr and the AUCs in percent (for reports); n unchanged."""
    return {k: (v if k == "n" else 100.0 * v) for k, v in summary.items()}
