"""The built-in synthetic face generator: determinism, layout, outliers, cache."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from trainers.datasets.builtin.synthetic import SyntheticConfig, SyntheticFaces, render_face
from trainers.datasets.cropset import margin_size
from trainers.datasets.layouts import FLIP_68


def test_same_seed_same_faces_whatever_the_set_size() -> None:
    a = SyntheticFaces(None, "pool", input_size=64, n_pool=12, seed=3)
    b = SyntheticFaces(None, "pool", input_size=64, n_pool=5, seed=3)
    np.testing.assert_array_equal(a.images[:5], b.images)
    np.testing.assert_array_equal(a.landmarks[:5], b.landmarks)
    c = SyntheticFaces(None, "pool", input_size=64, n_pool=5, seed=4)
    assert not np.array_equal(a.images[:5], c.images)


def test_shapes_and_iBUG_layout() -> None:
    ds = SyntheticFaces(None, "test", input_size=64, n_test=8)
    m = margin_size(64)
    assert ds.images.shape == (8, m, m, 3) and ds.images.dtype == np.uint8
    assert ds.landmarks.shape == (8, 68, 2)
    lm = ds.landmarks
    # Outer eye corners 36 / 45 sit left / right of the inner ones for a frontal-ish face.
    assert np.mean(lm[:, 36, 0] < lm[:, 39, 0]) > 0.8
    assert np.mean(lm[:, 45, 0] > lm[:, 42, 0]) > 0.8
    # Chin (8) below the nose tip (30), brows above the eyes.
    assert np.all(lm[:, 8, 1] > lm[:, 30, 1])
    assert np.mean(lm[:, 19, 1] < lm[:, 37, 1]) > 0.8
    cs = ds.to_cropset()
    np.testing.assert_array_equal(cs.flip_perm, FLIP_68)
    assert cs.eye_idx == (36, 45)


def test_flip_permutation_maps_the_mirrored_template_onto_itself() -> None:
    from trainers.datasets.builtin.synthetic import TEMPLATE_68

    mirrored = TEMPLATE_68[FLIP_68] * np.array([-1, 1, 1])
    np.testing.assert_allclose(mirrored, TEMPLATE_68, atol=1e-9)


def test_outlier_fraction_and_kinds() -> None:
    cfg = SyntheticConfig(input_size=64, outlier_fraction=1.0)
    kinds = {render_face(cfg, "pool", i)[2] for i in range(40)}
    assert kinds == {"occlusion", "blur", "colour", "nonface"}
    none = SyntheticConfig(input_size=64, outlier_fraction=0.0)
    assert {render_face(none, "pool", i)[2] for i in range(20)} == {"normal"}


def test_cached_on_disk_once(tmp_path: Path) -> None:
    a = SyntheticFaces(tmp_path, "pool", input_size=64, n_pool=6)
    files = list(tmp_path.rglob("*.npz"))
    assert len(files) == 1
    b = SyntheticFaces(tmp_path, "pool", input_size=64, n_pool=6)
    np.testing.assert_array_equal(a.images, b.images)
    assert b.kinds == a.kinds


def test_bad_settings_name_the_field() -> None:
    with pytest.raises(ValueError, match="outlier_fraction"):
        SyntheticFaces(None, "pool", outlier_fraction=2.0)
    with pytest.raises(ValueError, match="split"):
        SyntheticFaces(None, "validation")
