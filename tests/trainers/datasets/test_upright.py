"""Images are read as a photo viewer shows them: the EXIF orientation is applied."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from trainers.datasets.base import decode_reduced, decode_rgb
from trainers.datasets.collect import probe_image


def _marked(w: int = 64, h: int = 40) -> np.ndarray:
    """A grey image with a white 6 x 6 square whose top-left corner is at (40, 8)."""
    img = np.full((h, w, 3), 90, np.uint8)
    img[8:14, 40:46] = 255
    return img


@pytest.mark.parametrize(("turn", "value"), [(Image.Transpose.ROTATE_90, 6),
                                             (Image.Transpose.ROTATE_270, 8),
                                             (Image.Transpose.ROTATE_180, 3),
                                             (Image.Transpose.FLIP_LEFT_RIGHT, 2)])
def test_orientation_tag_turns_the_stored_pixels_upright(tmp_path: Path, turn, value) -> None:
    # Stored as the sensor saw it (the upright image turned the other way), plus the tag
    # that tells a viewer how to turn it back.
    stored = Image.fromarray(_marked()).transpose(turn)
    exif = Image.Exif()
    exif[0x0112] = value
    stored.save(tmp_path / "phone.png", exif=exif)  # lossless: exact pixels
    assert probe_image(tmp_path / "phone.png") == (64, 40)
    np.testing.assert_array_equal(decode_rgb(tmp_path / "phone.png"), _marked())


def test_reduced_decode_keeps_the_short_side_and_reports_the_factor(tmp_path: Path) -> None:
    img = np.zeros((1200, 1600, 3), np.uint8)
    img[600:, :] = 200
    Image.fromarray(img).save(tmp_path / "big.jpg", quality=95)
    small, scale = decode_reduced(tmp_path / "big.jpg", 300)
    assert small.shape == (300, 400, 3) and scale == 4.0  # JPEG's 1/4 decode
    assert small[:140].mean() < 10 and small[160:].mean() > 190  # the edge at y = 600 / 4
    full, one = decode_reduced(tmp_path / "big.jpg", 0)
    assert full.shape == (1200, 1600, 3) and one == 1.0
