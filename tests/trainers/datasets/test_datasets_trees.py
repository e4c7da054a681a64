"""The `.pts` parser's tests, and that the synthetic symmetric faces mirror onto themselves
(the miniature data set trees are built by tests/helpers/datasets_on_disk.py)."""

from __future__ import annotations

import numpy as np
import pytest

from tests.helpers.faces import symmetric_face
from trainers.datasets.base import DatasetError
from trainers.datasets.layouts import FLIP_68, FLIP_98
from trainers.datasets.pts import read_pts, write_pts

# --- .pts tests -------------------------------------------------------------------

@pytest.mark.parametrize("spaces", [1, 2])
def test_pts_round_trip_is_one_based_on_disk(tmp_path, spaces):
    lms = np.array([[0.0, 0.0], [445.0, 90.0], [1.5, 2.25]])
    p = tmp_path / "a.pts"
    write_pts(p, lms, header_spaces=spaces)
    text = p.read_text().splitlines()
    assert text[1] == "n_points:" + " " * spaces + "3"
    assert text[4] == "446.000 91.000"  # 1-based on disk
    np.testing.assert_allclose(read_pts(p), lms)
    np.testing.assert_allclose(read_pts(p, expected_points=3), lms)


def test_pts_reads_ibug_text_exactly(tmp_path):
    p = tmp_path / "b.pts"
    p.write_text("version: 1\nn_points:  2\n{\n446.000 91.000\n1 1\n}\n")
    np.testing.assert_allclose(read_pts(p), [[445.0, 90.0], [0.0, 0.0]])


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("", "no 'n_points:'"),
        ("version: 1\nn_points: 2\n{\n1 2\n", r"1 points.*truncated"),
        ("version: 1\nn_points: 2\n{\n1 2\n3 4\n", "no closing"),
        ("version: 1\nn_points: 2\n1 2\n3 4\n}\n", "unexpected header line"),
        ("version: 1\nn_points: 3\n{\n1 2\n3 4\n}\n", "declares n_points 3"),
        ("version: 1\nn_points: 2\n{\n1 2\nnan 4\n}\n", "non-finite"),
        ("version: 1\nn_points: 2\n{\n1 2\n3 x\n}\n", "'x' is not a number"),
        ("version: 1\nn_points: 2\n{\n1 2\n3 4 5\n}\n", "3 field"),
        ("version: 1\nn_points: two\n{\n}\n", "bad n_points"),
    ],
)
def test_pts_errors_name_file_and_problem(tmp_path, text, match):
    p = tmp_path / "bad.pts"
    p.write_text(text)
    with pytest.raises(DatasetError, match=match) as info:
        read_pts(p)
    assert str(p) in str(info.value)


def test_pts_missing_and_wrong_count(tmp_path):
    with pytest.raises(DatasetError, match="not found"):
        read_pts(tmp_path / "nope.pts")
    p = tmp_path / "c.pts"
    write_pts(p, np.zeros((5, 2)))
    with pytest.raises(DatasetError, match="5 points, expected 68"):
        read_pts(p, expected_points=68)


def test_symmetric_face_is_flip_invariant():
    rng = np.random.default_rng(1)
    for num, perm in ((68, FLIP_68), (98, FLIP_98)):
        pts = symmetric_face(rng, num)
        mirrored = pts.copy()
        mirrored[:, 0] = 64.0 - mirrored[:, 0]
        np.testing.assert_allclose(mirrored[perm], pts)
