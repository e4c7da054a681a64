"""3FabRec's face crop geometry: original image + box -> M x M crop, and back.

For a network input of S (256) the stored crop has side M = ceil(S * sqrt 2) (363), so the
central S x S window shows exactly the face square (data-and-eval.md section 1.6):

1. Box modes ("bb_ground_truth", "bb_detector"): move the box's top up by `top * h` and
   its bottom down by `bottom * h` and truncate all four sides to int (3FabRec's
   `extend_bbox`; 300-W (0.2, 0.12), WFLW (0.0, 0.1)); make a square of side max(w, h)
   about the box centre; enlarge it by M / S about its centre; truncate the corners to
   int. That region of interest (ROI) [l, r) x [t, b) is cut from the image padded with
   black and resized bicubically to M x M.
2. Landmark mode ("lm_ground_truth"): rows from min-y - 0.25 H to max-y + 0.15 H of the
   landmarks, a square of that height around a face centre from the eyes and chin,
   enlarged by sqrt 2, truncated to int (3FabRec's `FaceCrop` landmark mode).

Differences from 3FabRec, all sub-pixel or deliberate: the geometry is applied to 0-based
coordinates (3FabRec uses the 1-based 300-W values as array indices, which moves its crops
by 1 px), and points map with the same pixel-centre convention as the image resampling,
x_crop = (x - l + 0.5) * M / w - 0.5, so that crop -> original is exact for predictions.
The resampler reproduces OpenCV's INTER_CUBIC (a = -0.75, edge replicate, no
anti-aliasing), which 3FabRec uses.
"""

from __future__ import annotations

import math

import numpy as np

from trainers.datasets.cropset import margin_size

CROP_SOURCES = ("bb_ground_truth", "bb_detector", "lm_ground_truth")

# Eye corners (left eye, right eye) and chin for the landmark crop mode, as 3FabRec uses.
_LM_CROP_POINTS = {
    68: ((36, 39), (42, 45), 8),
    98: ((60, 64), (68, 72), 16),
}


def check_crop_source(crop_source: str) -> str:
    if crop_source not in CROP_SOURCES:
        raise ValueError(f"crop_source must be one of {CROP_SOURCES}, got {crop_source!r}")
    return crop_source


def extend_box(box: np.ndarray, top: float, bottom: float) -> np.ndarray:
    """Move the top up by `top * h`, the bottom down by `bottom * h`; truncate to int.

    Args:
        box: x_min, y_min, x_max, y_max.

    Returns:
        (4,) float64 integer-valued box.
    """
    left, t, right, b = (float(v) for v in box)
    if t > b:
        t, b = b, t
    if left > right:
        left, right = right, left
    h = b - t
    return np.trunc(np.array([left, t - top * h, right, b + bottom * h]))


def _scale_about_centre(box: np.ndarray, factor: float) -> np.ndarray:
    # In float32 like 3FabRec's scaleBB, so the truncated corners agree with it.
    box = np.asarray(box, dtype=np.float32)
    half = (box[2:] - box[:2]) * np.float32(0.5)
    centre = box[:2] + half
    half = half * np.float32(factor)
    return np.concatenate([centre - half, centre + half])


def square_roi(box: np.ndarray, input_size: int) -> np.ndarray:
    """The integer ROI [l, t, r, b] cut for an (already extended) box.

    A square of side max(w, h) about the box centre, enlarged by M / S, corners truncated.
    """
    left, t, right, b = (float(v) for v in box)
    size = max(right - left, b - t)
    cx, cy = (left + right) / 2, (t + b) / 2
    square = np.array([cx - size / 2, cy - size / 2, cx + size / 2, cy + size / 2])
    roi = _scale_about_centre(square, margin_size(input_size) / input_size)
    return np.trunc(roi).astype(np.int64)


def landmark_roi(landmarks: np.ndarray) -> np.ndarray:
    """The integer ROI of 3FabRec's landmark crop mode (68 or 98 points).

    Raises:
        ValueError: for other landmark counts (the mode needs the eyes and the chin).
    """
    lms = np.asarray(landmarks, dtype=np.float64)
    if lms.shape[0] not in _LM_CROP_POINTS:
        raise ValueError(
            f"crop_source 'lm_ground_truth' needs 68 or 98 landmarks (eyes and chin), "
            f"got {lms.shape[0]}; use a box crop source"
        )
    (l0, l1), (r0, r1), chin_i = _LM_CROP_POINTS[lms.shape[0]]
    eye_l, eye_r = lms[[l0, l1]].mean(axis=0), lms[[r0, r1]].mean(axis=0)
    if eye_r[0] < eye_l[0]:
        eye_l, eye_r = eye_r, eye_l
    eye_c = (eye_l + eye_r) / 2
    centre = eye_c - 0.25 * (eye_c - lms[chin_i])
    t, b = lms[:, 1].min(), lms[:, 1].max()
    h = b - t
    min_row, max_row = math.trunc(t - 0.25 * h), math.trunc(b + 0.15 * h)
    s = (max_row - min_row) / 2
    square = np.array([centre[0] - s, min_row, centre[0] + s, max_row])
    return np.trunc(_scale_about_centre(square, math.sqrt(2.0))).astype(np.int64)


def roi_to_original(roi: np.ndarray, m: int) -> np.ndarray:
    """(2, 3) affine mapping M-crop coordinates to original-image coordinates."""
    left, t, right, b = (float(v) for v in roi)
    sx, sy = (right - left) / m, (b - t) / m
    return np.array(
        [[sx, 0.0, left + 0.5 * sx - 0.5], [0.0, sy, t + 0.5 * sy - 0.5]], dtype=np.float64
    )


def points_to_crop(points: np.ndarray, roi: np.ndarray, m: int) -> np.ndarray:
    """Map (..., 2) original-image points into the M-crop frame of `roi`."""
    left, t, right, b = (float(v) for v in roi)
    p = np.asarray(points, dtype=np.float64)
    out = np.empty_like(p)
    out[..., 0] = (p[..., 0] - left + 0.5) * m / (right - left) - 0.5
    out[..., 1] = (p[..., 1] - t + 0.5) * m / (b - t) - 0.5
    return out


def _cubic_taps(out_size: int, in_size: int) -> tuple[np.ndarray, np.ndarray]:
    """OpenCV INTER_CUBIC source indices (out, 4), clamped to the input, and weights."""
    a = -0.75
    f = (np.arange(out_size) + 0.5) * (in_size / out_size) - 0.5
    s = np.floor(f)
    x = f - s
    w0 = ((a * (x + 1) - 5 * a) * (x + 1) + 8 * a) * (x + 1) - 4 * a
    w1 = ((a + 2) * x - (a + 3)) * x * x + 1
    w2 = ((a + 2) * (1 - x) - (a + 3)) * (1 - x) * (1 - x) + 1
    w3 = 1.0 - w0 - w1 - w2
    idx = np.clip(s[:, None].astype(np.int64) + np.arange(-1, 3), 0, in_size - 1)
    return idx, np.stack([w0, w1, w2, w3], axis=1).astype(np.float32)


def crop_image(image: np.ndarray, roi: np.ndarray, m: int) -> np.ndarray:
    """Cut ROI [l, r) x [t, b) from `image` padded with black and resize it to m x m.

    Args:
        image: HxWx3 uint8.
        roi: integer l, t, r, b (may extend past the image).
        m: output side.

    Returns:
        (m, m, 3) uint8.
    """
    left, t, right, b = (int(v) for v in roi)
    if right - left < 1 or b - t < 1:
        raise ValueError(f"empty crop region {roi.tolist()}")
    h_img, w_img = image.shape[:2]
    iy, wy = _cubic_taps(m, b - t)
    ix, wx = _cubic_taps(m, right - left)
    # Region indices -> image indices; taps outside the image read the black padding,
    # so they get weight 0 and any in-image index.
    ry, rx = iy + t, ix + left
    wy = wy * ((ry >= 0) & (ry < h_img))
    wx = wx * ((rx >= 0) & (rx < w_img))
    # Only the columns the taps touch, so wide images cost no more than the ROI.
    c0 = int(np.clip(rx.min(), 0, w_img - 1))
    c1 = int(np.clip(rx.max(), 0, w_img - 1)) + 1
    rows = image[np.clip(ry, 0, h_img - 1), c0:c1].astype(np.float32)  # (m, 4, span, 3)
    tmp = np.einsum("ak,akwc->awc", wy, rows)  # vertical pass
    cols = tmp[:, np.clip(rx, c0, c1 - 1) - c0]  # (m, m, 4, 3)
    out = np.einsum("bl,ablc->abc", wx, cols)  # horizontal pass
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def face_roi(
    box: np.ndarray | None,
    landmarks: np.ndarray | None,
    crop_source: str,
    input_size: int,
    box_adjust: tuple[float, float],
) -> np.ndarray:
    """The integer ROI for one face under a crop source (`landmarks` are used, and needed,
    only by "lm_ground_truth"; `box` by the others)."""
    check_crop_source(crop_source)
    if crop_source == "lm_ground_truth":
        if landmarks is None:
            raise ValueError(f"crop_source {crop_source!r} needs landmarks")
        return landmark_roi(landmarks)
    if box is None:
        raise ValueError(f"crop_source {crop_source!r} needs a box")
    return square_roi(extend_box(box, *box_adjust), input_size)
