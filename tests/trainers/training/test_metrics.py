"""Metrics against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from trainers.training.metrics import (
    as_percent,
    auc,
    auc_3fabrec,
    ced,
    default_eyes,
    failure_rate,
    nme,
    nme_3fabrec,
    summarize,
    summarize_subsets,
)

# Three points; the normalising pair (0, 1) is 10 px apart.
GT = np.array([[[0.0, 0.0], [10.0, 0.0], [5.0, 5.0]]])


def test_nme_uniform_shift():
    # Every point off by (3, 4): each error 5 px, normalised by 10 -> 0.5.
    pred = GT + np.array([3.0, 4.0])
    np.testing.assert_allclose(nme(pred, GT, eyes=(0, 1)), [0.5])


def test_nme_one_point_off_and_batch():
    pred1 = GT.copy()
    pred1[0, 2] += [0.0, 6.0]  # one of three points 6 px off -> mean 2 px -> 0.2
    gt2 = GT * 2.0  # eye distance 20; perfect prediction -> 0
    pred = np.concatenate([pred1, gt2])
    gt = np.concatenate([GT, gt2])
    np.testing.assert_allclose(nme(pred, gt, eyes=(0, 1)), [0.2, 0.0])


def test_nme_normalises_by_ground_truth_eyes_not_prediction():
    pred = GT.copy()
    pred[0, 1] = [20.0, 0.0]  # predicted eye moved 10 px: error 10/3 px, still / 10
    np.testing.assert_allclose(nme(pred, GT, eyes=(0, 1)), [1.0 / 3.0])


def test_nme_default_eyes_68():
    gt = np.zeros((1, 68, 2))
    gt[0, :, 0] = np.arange(68)
    pred = gt + [0.0, 0.9]
    # Corners 36 and 45 are 9 px apart -> 0.9 / 9 = 0.1.
    np.testing.assert_allclose(nme(pred, gt), [0.1])
    assert default_eyes(68) == (36, 45)
    assert default_eyes(98) == (60, 72)
    with pytest.raises(ValueError, match="19 landmarks"):
        default_eyes(19)


def test_nme_refuses_68_point_eyes_on_98_points():
    gt = np.zeros((1, 98, 2))
    gt[0, :, 0] = np.arange(98)
    with pytest.raises(ValueError, match=r"eyes=\(60, 72\)"):
        nme(gt, gt, eyes=(36, 45))
    # Corners 60 and 72 are 12 px apart -> 1.2 / 12 = 0.1, given or by default.
    np.testing.assert_allclose(nme(gt + [0.0, 1.2], gt, eyes=(60, 72)), [0.1])
    np.testing.assert_allclose(nme(gt + [0.0, 1.2], gt), [0.1])


def test_nme_non_finite_prediction_is_failure():
    pred = GT.copy()
    pred[0, 0, 0] = np.nan
    errors = nme(pred, GT, eyes=(0, 1))
    assert np.isinf(errors[0])
    assert failure_rate(errors) == 1.0


@pytest.mark.parametrize(
    ("pred", "gt", "eyes", "match"),
    [
        (GT[:, :2], GT, (0, 1), "differs"),
        (GT, GT, (0, 3), "eyes"),
        (GT, GT, (1, 1), "eyes"),
        (GT, GT[0], (0, 1), r"\(n, L, 2\)"),
        (GT, np.array([[[0.0, 0.0], [0.0, 0.0], [1.0, 1.0]]]), (0, 1), "zero distance"),
        (GT, np.array([[[0.0, 0.0], [10.0, np.nan], [1.0, 1.0]]]), (0, 1), "non-finite"),
    ],
)
def test_nme_rejects_bad_input(pred, gt, eyes, match):
    with pytest.raises(ValueError, match=match):
        nme(pred, gt, eyes=eyes)


def test_nme_3fabrec_clips_negative_ground_truth():
    # M = 363, offset 53 for S = 256. GT point 2 at x = 40 in the M frame -> -13 -> 0.
    gt = np.array([[[53.0, 60.0], [63.0, 60.0], [40.0, 70.0]]])
    pred = gt.copy()
    pred[0, 2, 0] = 53.0  # 0 in the 256 frame: matches the clipped gt exactly
    np.testing.assert_allclose(nme_3fabrec(pred, gt, 256, eyes=(0, 1)), [0.0])
    # Without clipping the same prediction is 13 px off on one point of three.
    np.testing.assert_allclose(nme(pred, gt, eyes=(0, 1)), [13.0 / 3.0 / 10.0])


def test_failure_rate_is_strict():
    errors = np.array([0.05, 0.10, 0.1000001, 0.2])
    assert failure_rate(errors) == 0.5
    assert failure_rate(errors, threshold=0.08) == 0.75


def test_ced():
    np.testing.assert_allclose(ced([0.02, 0.06], [0.0, 0.02, 0.05, 0.06, 1.0]),
                               [0.0, 0.5, 0.5, 1.0, 1.0])


def test_auc_simpson_hand_values():
    assert auc(np.zeros(5)) == pytest.approx(1.0, abs=1e-12)
    assert auc(np.array([0.2, 0.5])) == 0.0
    # CED: 0 on [0, .02), 0.5 on [.02, .06), 1 on [.06, .1] -> area .02 + .04 = .06 -> 0.6.
    assert auc(np.array([0.02, 0.06])) == pytest.approx(0.6, abs=2e-3)
    # Errors uniform on [0, 0.1]: CED(x) = x / 0.1 -> area 0.05 -> AUC 0.5.
    assert auc(np.linspace(0, 0.1, 10001)) == pytest.approx(0.5, abs=1e-3)


def test_auc_3fabrec_hand_values():
    # x_k = k * 0.1 / 49: 40 points >= 0.02, 20 points >= 0.06 -> (40 + 20) * 0.5 / 50.
    assert auc_3fabrec(np.array([0.02, 0.06])) == pytest.approx(0.6)
    # x = 0 already counts the zero error; only the last point (0.1) counts 0.1.
    assert auc_3fabrec(np.array([0.0, 0.1])) == pytest.approx((49 * 0.5 + 1.0) / 50)


def test_summarize_and_percent():
    errors = np.array([0.02, 0.06, 0.2, 0.04])
    s = summarize(errors)
    assert s["nme"] == pytest.approx(0.08)
    assert s["fr"] == 0.25
    assert s["n"] == 4
    assert 0.0 < s["auc"] < 1.0
    p = as_percent(s)
    assert p["nme"] == pytest.approx(8.0)
    assert p["fr"] == pytest.approx(25.0)
    assert p["n"] == 4
    with pytest.raises(ValueError, match="no errors"):
        summarize(np.array([]))
    with pytest.raises(ValueError, match="NaN"):
        summarize(np.array([np.nan]))


def test_summarize_subsets():
    errors = np.array([0.02, 0.06, 0.2, 0.04])
    out = summarize_subsets(errors, {"pose": [0, 0, 1, 1], "blur": [1, 1, 0, 0], "none": [0] * 4})
    assert out["pose"]["nme"] == pytest.approx(0.12) and out["pose"]["fr"] == 0.5
    assert out["blur"]["nme"] == pytest.approx(0.04) and out["blur"]["n"] == 2
    assert out["none"] == {"n": 0}
    with pytest.raises(ValueError, match="3 entries for 4 errors"):
        summarize_subsets(errors, {"x": [1, 0, 1]})
