"""The pool pass's extra inputs: flip and TTA predictions mapped back to the crop frame.

Known answers come from a hand-built model that is exactly mirror-equivariant (its heatmap
channel l is colour channel l of the image, max-pooled to the heatmap grid) and from images with
coloured blobs placed by hand, so where each landmark must land is computed here, not by the
code under test. S = 64: M = 91, the network window starts at crop column o = 13, and
mirroring the window maps crop column x to 2c - x with 2c = S - 1 + 2 * o = 89.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import acquisition
from trainers.datasets.cropset import CropSet, margin_size
from trainers.loop.pool_inputs import (
    PassSettings,
    augmented_copies,
    flip_outputs,
    inverse_permutation,
    labeled_inputs,
    stream_pool,
    tta_generator,
    unaugment_landmarks,
    unflip_heatmaps,
)
from trainers.training.batches import crops_to_tensor

S = 64
M = margin_size(S)  # 91
CPU = torch.device("cpu")


class ColourChannels(nn.Module):
    """Heatmap channel l = colour channel l of the input, 2 x 2 max-pooled (L <= 3).

    Max-pooling (order-free, unlike a sum) and channel selection commute with a left-right
    mirror exactly, bit for bit (S is even), so its predictions mirror exactly with the image.
    """

    def __init__(self, num_landmarks: int) -> None:
        super().__init__()
        self.num_landmarks = num_landmarks

    def heatmaps_and_features(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        maps = F.max_pool2d(x[:, : self.num_landmarks], 2)
        return maps, x.mean(dim=(2, 3))


def blob_image(blobs: list[tuple[float, float, int]], sigma: float = 2.0) -> np.ndarray:
    """(M, M, 3) uint8 black crop with a Gaussian blob of peak 255 per (x, y, channel)."""
    grid = np.arange(M, dtype=np.float64)
    image = np.zeros((M, M, 3))
    for x, y, channel in blobs:
        image[..., channel] += np.exp(-((grid[None, :] - x) ** 2 + (grid[:, None] - y) ** 2)
                                      / (2 * sigma**2))
    return np.clip(np.rint(image * 255), 0, 255).astype(np.uint8)


def crop_set(images: list[np.ndarray], flip_perm: list[int]) -> CropSet:
    n, num_landmarks = len(images), len(flip_perm)
    return CropSet(images=np.stack(images), input_size=S, flip_perm=np.array(flip_perm),
                   landmarks=np.full((n, num_landmarks, 2), 40.0, dtype=np.float32),
                   eye_idx=(0, 1), to_original=np.tile(np.eye(2, 3), (n, 1, 1)),
                   names=[f"img{i}" for i in range(n)])


def settings(needs: set[str], **over: object) -> PassSettings:
    base: dict = {"needs": frozenset(needs), "batch_size": 4, "device": CPU, "amp": False}
    return PassSettings(**{**base, **over})


def test_inverse_permutation_undoes_the_permutation() -> None:
    assert inverse_permutation(np.array([2, 0, 1])).tolist() == [1, 2, 0]
    assert inverse_permutation(np.array([1, 0, 2])).tolist() == [1, 0, 2]  # an involution


def test_unflip_heatmaps_relabels_and_mirrors_a_hand_built_map() -> None:
    maps = torch.zeros(1, 2, 4, 4)
    maps[0, 0, 1, 0] = 1.0  # channel 0, row 1, column 0
    maps[0, 1, 3, 2] = 2.0  # channel 1, row 3, column 2
    back = unflip_heatmaps(maps, np.array([1, 0]))
    expected = torch.zeros(1, 2, 4, 4)
    expected[0, 1, 1, 3] = 1.0  # channel 0 -> landmark 1, column 0 -> 3
    expected[0, 0, 3, 1] = 2.0  # channel 1 -> landmark 0, column 2 -> 1
    assert torch.equal(back, expected)


def test_flip_landmarks_of_mirror_placed_blobs_land_on_the_other_blob() -> None:
    # Red blob (landmark 0) at crop x = 29.5, green (landmark 1) at its mirror 89 - 29.5.
    pool = crop_set([blob_image([(29.5, 39.5, 0), (59.5, 39.5, 1)])], flip_perm=[1, 0])
    model = ColourChannels(2)
    chunk = next(stream_pool(model, pool, np.arange(1),
                             settings({"landmarks", "flip_landmarks", "flip_heatmaps"})))
    assert chunk["landmarks"][0].tolist() == [[29.5, 39.5], [59.5, 39.5]]
    # On the mirror the red channel sees x = 59.5; relabelled, landmark 0 is the green
    # channel's mirrored peak 89 - 59.5 = 29.5 ... of the green blob: the two swap.
    assert chunk["flip_landmarks"][0].tolist() == [[59.5, 39.5], [29.5, 39.5]]
    assert chunk["norm"].tolist() == [30.0]
    score = acquisition.get("flip_consistency").score_chunk(acquisition.PoolChunk(
        norm=chunk["norm"], landmarks=chunk["landmarks"],
        flip_landmarks=chunk["flip_landmarks"]))
    assert score.tolist() == [1.0]  # each landmark moved 30 px, over a 30 px norm


def test_a_mirror_symmetric_prediction_has_flip_consistency_zero() -> None:
    # Blobs on the window's centre column (crop x = 44.5): their heatmap peaks tie between
    # two cells, which the mapped-back heatmaps break exactly as the plain ones do (mapping
    # the decoded points instead would move each by 2 px).
    image = blob_image([(44.5, 30.0, 0), (44.5, 60.0, 1)])
    pool = crop_set([image], flip_perm=[0, 1])
    model = ColourChannels(2)
    run = settings({"landmarks", "flip_landmarks", "flip_heatmaps", "heatmaps"})
    chunk = next(stream_pool(model, pool, np.arange(1), run))
    assert torch.equal(chunk["flip_heatmaps"], chunk["heatmaps"])
    assert torch.equal(chunk["flip_landmarks"], chunk["landmarks"])
    score = acquisition.get("flip_consistency").score_chunk(acquisition.PoolChunk(
        norm=chunk["norm"], landmarks=chunk["landmarks"],
        flip_landmarks=chunk["flip_landmarks"]))
    assert score.tolist() == [0.0]


def test_flip_outputs_compute_only_what_is_asked() -> None:
    pool = crop_set([blob_image([(30.0, 40.0, 0), (50.0, 40.0, 1)])], flip_perm=[1, 0])
    model = ColourChannels(2)
    assert set(flip_outputs(model, pool, np.arange(1), settings({"flip_landmarks"}))) == {
        "flip_landmarks"}
    assert "tta_landmarks" not in next(stream_pool(model, pool, np.arange(1),
                                                   settings({"heatmaps"})))


def test_level_0_copies_are_the_crop_or_its_mirror_with_their_exact_maps() -> None:
    crop = crops_to_tensor(blob_image([(30.0, 40.0, 0)])[None])
    images, linear, shift = augmented_copies(crop, 16, 0, tta_generator(1, 2, 3))
    mirrored = torch.linalg.det(linear) < 0
    assert 0 < int(mirrored.sum()) < 16  # both kinds among 16 draws of this seed
    for t in range(16):
        if mirrored[t]:
            assert torch.equal(images[t], crop[0].flip(-1))
            assert linear[t].tolist() == [[-1.0, 0.0], [0.0, 1.0]]
            assert shift[t].tolist() == [M - 1.0, 0.0]
        else:
            assert torch.equal(images[t], crop[0])
            assert linear[t].tolist() == [[1.0, 0.0], [0.0, 1.0]]
            assert shift[t].tolist() == [0.0, 0.0]


def test_unaugment_known_answers() -> None:
    points = torch.tensor([[[10.0, 10.0], [20.0, 30.0]]])
    identity = torch.eye(2, dtype=torch.float64)[None]
    zero = torch.zeros(1, 2, dtype=torch.float64)
    assert torch.equal(unaugment_landmarks(points, identity, zero, np.array([1, 0])), points)
    shifted = torch.tensor([[3.0, -2.0]], dtype=torch.float64)
    back = unaugment_landmarks(points, identity, shifted, np.array([1, 0]))
    assert back.tolist() == [[[7.0, 12.0], [17.0, 32.0]]]
    # A mirror about the crop centre (q = (M - 1 - x, y)) also relabels the landmarks.
    mirror = torch.tensor([[[-1.0, 0.0], [0.0, 1.0]]], dtype=torch.float64)
    back = unaugment_landmarks(torch.tensor([[[20.0, 5.0], [70.0, 6.0]]]), mirror,
                               torch.tensor([[M - 1.0, 0.0]], dtype=torch.float64),
                               np.array([1, 0]))
    assert back.tolist() == [[[20.0, 6.0], [70.0, 5.0]]]


@pytest.mark.parametrize("level", [3, 7])
def test_a_blob_found_on_augmented_copies_maps_back_to_where_it_was(level: int) -> None:
    """The image warp and the point map are separate paths in `augment`: the blob's centroid
    on each warped copy, mapped back, must be the blob's centre again."""
    crop = crops_to_tensor(blob_image([(40.0, 50.0, 0)], sigma=2.5)[None])
    images, linear, shift = augmented_copies(crop, 6, level, tta_generator(0, 1, 7))
    weights = images[:, 0].double()  # (T, M, M)
    grid = torch.arange(M, dtype=torch.float64)
    total = weights.sum(dim=(1, 2))
    centroid = torch.stack([(weights * grid[None, None, :]).sum(dim=(1, 2)) / total,
                            (weights * grid[None, :, None]).sum(dim=(1, 2)) / total], -1)
    back = unaugment_landmarks(centroid[:, None].float(), linear, shift, np.array([0]))
    assert (linear - torch.eye(2, dtype=torch.float64)).abs().max() > 1e-3  # not identity
    np.testing.assert_allclose(back[:, 0].numpy(), [[40.0, 50.0]] * 6, atol=0.3)


def test_tta_draws_depend_on_seed_round_and_pool_index_only() -> None:
    crop = crops_to_tensor(blob_image([(30.0, 40.0, 0)])[None])
    first = augmented_copies(crop, 3, 7, tta_generator(5, 1, 9))
    again = augmented_copies(crop, 3, 7, tta_generator(5, 1, 9))
    other = augmented_copies(crop, 3, 7, tta_generator(5, 2, 9))
    assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))
    assert not torch.equal(first[1], other[1])


def test_labeled_inputs_are_annotations_and_features_in_pool_order() -> None:
    # Uniform grey crops of level 10 * i: this model's features are the mean network input,
    # so they differ between items by exactly the difference of their levels / 255.
    images = [np.full((M, M, 3), 10 * i, dtype=np.uint8) for i in range(5)]
    pool = crop_set(images, flip_perm=[1, 0])
    pool.landmarks[:] = np.arange(5, dtype=np.float32)[:, None, None]
    mask = np.array([False, True, False, True, True])
    got = labeled_inputs(ColourChannels(2), pool, mask,
                         settings({"labeled_features", "labeled_landmarks"}, batch_size=2))
    assert got["labeled_landmarks"][:, 0, 0].tolist() == [1.0, 3.0, 4.0]
    assert got["labeled_features"].shape == (3, 3)
    steps = got["labeled_features"] - got["labeled_features"][:1]
    np.testing.assert_allclose(steps, np.array([[0.0], [20.0], [30.0]]).repeat(3, 1) / 255,
                               atol=1e-6)
