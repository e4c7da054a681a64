"""Heatmap targets / decoding and the batched augmentation keep landmarks and pixels aligned."""

from __future__ import annotations

import numpy as np
import torch

from trainers.training.batches import augment, crops_to_tensor, network_input
from trainers.training.heatmaps import blur_kernel, decode, gaussian_targets
from trainers.training.supervised import from_heatmap_coords, to_heatmap_coords


def test_gaussian_target_peaks_at_the_rounded_point() -> None:
    pts = torch.tensor([[[10.2, 5.7], [0.0, 31.0]]])
    hm = gaussian_targets(pts, 32, 1.75)
    assert hm.shape == (1, 2, 32, 32)
    assert hm[0, 0, 6, 10] == 1.0 and hm[0, 1, 31, 0] == 1.0
    assert float(hm.max()) == 1.0 and float(hm.min()) == 0.0


def test_decode_finds_the_peak_and_blur_sizes() -> None:
    hm = torch.zeros(1, 1, 32, 32)
    hm[0, 0, 20, 7] = 1.0
    hm[0, 0, 5, 25] = 0.8  # lone spike; the blurred argmax prefers the wider blob below
    hm[0, 0, 19:22, 6:9] += 0.5
    assert decode(hm, kernel=1).tolist() == [[[7.0, 20.0]]]
    assert decode(hm).tolist() == [[[7.0, 20.0]]]
    assert blur_kernel(128) == 9 and blur_kernel(32) % 2 == 1


def test_heatmap_coordinate_round_trip() -> None:
    p = torch.tensor([[[0.0, 63.0], [12.3, 40.0]]])
    back = from_heatmap_coords(to_heatmap_coords(p, 64, 32), 64, 32)
    torch.testing.assert_close(back, p)


def test_augmentation_moves_pixels_with_landmarks() -> None:
    m = 91
    x = torch.zeros(6, 3, m, m)
    pts = torch.tensor([[30.0, 40.0], [60.0, 52.0]]).repeat(6, 1, 1)
    for b in range(6):
        for px, py in pts[b].long():
            x[b, :, py - 1 : py + 2, px - 1 : px + 2] = 1.0
    gen = torch.Generator().manual_seed(1)
    xa, la = augment(x, pts, 4, torch.tensor([1, 0]), gen)
    for b in range(6):
        for px, py in la[b]:
            assert xa[b, 0, int(round(float(py))), int(round(float(px)))] > 0.5
    # Reproducible from the generator.
    xb, lb = augment(x, pts, 4, torch.tensor([1, 0]), torch.Generator().manual_seed(1))
    torch.testing.assert_close(xa, xb)
    torch.testing.assert_close(la, lb)


def test_network_input_is_the_centre_window_minus_mean() -> None:
    imgs = np.full((2, 91, 91, 3), 255, np.uint8)
    x = crops_to_tensor(imgs)
    xi, lm = network_input(x, torch.full((2, 1, 2), 13.0), 64)
    assert xi.shape == (2, 3, 64, 64)
    torch.testing.assert_close(xi[0, :, 0, 0], torch.tensor([1 - 0.518, 1 - 0.418, 1 - 0.361]))
    assert float(lm[0, 0, 0]) == 0.0  # offset (91 - 64) // 2 = 13
