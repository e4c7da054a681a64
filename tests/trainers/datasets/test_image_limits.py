"""An image over Pillow's decompression-bomb limit is one line naming the file, whether it
is only probed (its header) or decoded, and `predict` stops on it before any work."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.faces import bomb_png
from trainers.datasets.base import DatasetError, decode_rgb
from trainers.datasets.collect import probe_image
from trainers.inference.predict import PredictError, predict_images

REASON = ("image too large (900,000,000 pixels, over Pillow's decompression-bomb limit of "
          "178,956,970); not read")  # 2 x Image.MAX_IMAGE_PIXELS, Pillow's default


def test_decode_and_probe_name_the_file_and_the_size(tmp_path: Path) -> None:
    bomb = bomb_png(tmp_path / "huge.png")
    assert bomb.stat().st_size < 100
    with pytest.raises(DatasetError) as decoded:
        decode_rgb(bomb)
    assert str(decoded.value) == f"{bomb}: {REASON}"
    with pytest.raises(DatasetError) as probed:
        probe_image(bomb)
    assert str(probed.value) == REASON


def test_predict_names_the_bomb_before_loading_a_model(tmp_path: Path) -> None:
    bomb = bomb_png(tmp_path / "huge.png")
    with pytest.raises(PredictError) as caught:
        predict_images(tmp_path / "never-read.pt", [bomb], tmp_path / "p.csv", device="cpu")
    assert str(caught.value) == f"{bomb}: {REASON}"
    assert not (tmp_path / "p.csv").exists()
