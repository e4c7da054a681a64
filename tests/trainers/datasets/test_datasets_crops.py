"""3FabRec crop geometry, the crop <-> original mapping, resampling and flips."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tests.helpers.faces import FLIP_19, symmetric_face
from trainers.datasets.crops import (
    crop_image,
    extend_box,
    face_roi,
    landmark_roi,
    points_to_crop,
    roi_to_original,
    square_roi,
)
from trainers.datasets.cropset import CropSet, margin_size
from trainers.datasets.layouts import FLIP_68, FLIP_98, check_flip_perm


def test_margin_sizes():
    assert margin_size(256) == 363 == math.ceil(256 * math.sqrt(2))
    assert margin_size(32) == 46


def test_extend_box_300w_and_wflw_by_hand():
    # h = 120: top 50 - 24 = 26, bottom 170 + 14.4 = 184.4 -> 184 (int truncation).
    np.testing.assert_array_equal(extend_box([100, 50, 200, 170], 0.2, 0.12), [100, 26, 200, 184])
    # WFLW: bottom only, 0.1 h = 12.5 -> 242.5 -> 242; the others truncated too.
    np.testing.assert_array_equal(extend_box([10.7, 105.0, 90.2, 230.0], 0.0, 0.1),
                                  [10, 105, 90, 242])


def test_square_roi_by_hand():
    # Box [100, 26, 200, 184]: side max(100, 158) = 158 about (150, 105), times 363/256:
    # half = 79 * 1.41796875 = 112.0195 -> [37.98, -7.02, 262.02, 217.02] -> truncated.
    np.testing.assert_array_equal(square_roi([100, 26, 200, 184], 256), [37, -7, 262, 217])
    roi = face_roi(np.array([100.0, 50, 200, 170]), np.zeros((68, 2)), "bb_ground_truth", 256,
                   (0.2, 0.12))
    np.testing.assert_array_equal(roi, [37, -7, 262, 217])


def test_landmark_roi_by_hand():
    lms = np.full((68, 2), [60.0, 80.0])
    lms[[36, 39]] = [[40, 50], [50, 50]]
    lms[[42, 45]] = [[70, 50], [80, 50]]
    lms[8] = [60, 120]  # chin: max y
    lms[19] = [60, 40]  # brow: min y
    # h = 80 -> rows trunc(40 - 20) = 20 .. trunc(120 + 12) = 132, s = 56; centre x from
    # the eyes (60, 50) and chin: 60. Square [4, 20, 116, 132] times sqrt 2 about (60, 76).
    q = 56 * math.sqrt(2)
    expect = np.trunc([60 - q, 76 - q, 60 + q, 76 + q])
    np.testing.assert_array_equal(landmark_roi(lms), expect)
    assert list(expect) == [-19, -3, 139, 155]
    with pytest.raises(ValueError, match="needs 68 or 98 landmarks"):
        landmark_roi(np.zeros((19, 2)))
    with pytest.raises(ValueError, match="crop_source must be one of"):
        face_roi(None, lms, "bb_tight", 256, (0, 0))


@pytest.mark.parametrize("roi", [[37, -7, 262, 217], [-30, 5, 15, 50], [3, 4, 403, 404]])
def test_points_round_trip(roi):
    rng = np.random.default_rng(0)
    pts = rng.uniform(-50, 300, (5, 7, 2))
    m = 363
    roi = np.array(roi)
    crop_pts = points_to_crop(pts, roi, m)
    aff = np.repeat(roi_to_original(roi, m)[None], 5, axis=0)
    cs = CropSet(images=np.zeros((5, m, m, 3), np.uint8), landmarks=crop_pts.astype(np.float32),
                 input_size=256, flip_perm=np.arange(7), eye_idx=(0, 1), to_original=aff,
                 names=[str(i) for i in range(5)])
    np.testing.assert_allclose(cs.landmarks_to_original(crop_pts), pts, atol=1e-9)
    # The ROI's top-left pixel edge maps to the crop's (-0.5, -0.5) edge, and so on.
    edges = np.array([[roi[0] - 0.5, roi[1] - 0.5], [roi[2] - 0.5, roi[3] - 0.5]])
    np.testing.assert_allclose(points_to_crop(edges, roi, m), [[-0.5, -0.5], [m - 0.5, m - 0.5]])


def test_crop_is_identity_for_same_size_roi():
    img = np.random.default_rng(0).integers(0, 256, (50, 60, 3), dtype=np.uint8)
    np.testing.assert_array_equal(crop_image(img, np.array([5, 3, 45, 43]), 40), img[3:43, 5:45])


def test_crop_pads_black_outside_the_image():
    img = np.full((60, 60, 3), 255, dtype=np.uint8)
    crop = crop_image(img, np.array([-20, -20, 80, 80]), 46)
    assert crop.shape == (46, 46, 3) and crop.dtype == np.uint8
    assert crop[0, 0].max() == 0 and crop[-1, -1].max() == 0  # all taps in the padding
    assert crop[23, 23].min() == 255  # all taps inside the image


@pytest.mark.parametrize("roi", [[10, 20, 50, 60], [-20, 0, 110, 130]])  # up- and down-scaling
def test_image_and_points_map_alike(roi):
    # A smooth blob centred at a sub-pixel point must land where points_to_crop says.
    h, w, m = 110, 100, 46
    centre = np.array([31.3, 41.7])
    yy, xx = np.mgrid[0:h, 0:w]
    sigma = 4.0 * (roi[2] - roi[0]) / 40
    blob = 250 * np.exp(-((xx - centre[0]) ** 2 + (yy - centre[1]) ** 2) / (2 * sigma**2))
    img = np.repeat(blob.astype(np.uint8)[..., None], 3, axis=2)
    crop = crop_image(img, np.array(roi), m)[..., 0].astype(np.float64)
    cy, cx = np.mgrid[0:m, 0:m]
    got = np.array([(crop * cx).sum(), (crop * cy).sum()]) / crop.sum()
    np.testing.assert_allclose(got, points_to_crop(centre, np.array(roi), m), atol=0.15)


@pytest.mark.parametrize("perm", [FLIP_68, FLIP_98, FLIP_19])
def test_flip_tables_are_self_inverse(perm):
    check_flip_perm(perm, len(perm))
    np.testing.assert_array_equal(perm[perm], np.arange(len(perm)))


def _flip(images: np.ndarray, lms: np.ndarray, perm: np.ndarray):
    m = images.shape[-2]
    out = lms.copy()
    out[..., 0] = (m - 1) - out[..., 0]
    return images[..., ::-1, :], out[..., perm, :]


def test_flip_twice_is_identity():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (2, 46, 46, 3), dtype=np.uint8)
    lms = rng.uniform(0, 45, (2, 68, 2))
    img2, lms2 = _flip(*_flip(images, lms, FLIP_68), FLIP_68)
    np.testing.assert_array_equal(img2, images)
    np.testing.assert_allclose(lms2, lms)


@pytest.mark.parametrize("num", [68, 98])
def test_flipping_the_crop_of_a_symmetric_face_changes_nothing(num):
    rng = np.random.default_rng(3)
    w = h = 96
    # Mirror-symmetric image and points about the vertical axis through the image centre
    # (pixel centres 0..95: axis x = 47.5).
    half = rng.integers(0, 256, (h, w // 2, 3), dtype=np.uint8)
    img = np.concatenate([half, half[:, ::-1]], axis=1)
    lms = symmetric_face(rng, num, centre=(47.5, 50.0), half=(20.0, 20.0))
    perm = FLIP_68 if num == 68 else FLIP_98
    roi = np.array([10, 12, 86, 88])  # symmetric: l + r = W
    m = 46
    crop = crop_image(img, roi, m)
    crop_lms = points_to_crop(lms, roi, m)
    f_img, f_lms = _flip(crop, crop_lms, perm)
    assert np.abs(f_img.astype(int) - crop.astype(int)).max() <= 1
    np.testing.assert_allclose(f_lms, crop_lms, atol=1e-9)
    # A flipped face is still a face: the left outer eye corner stays on the left.
    eyes = (36, 45) if num == 68 else (60, 72)
    assert f_lms[eyes[0], 0] < f_lms[eyes[1], 0]
