"""Spatial entropy of landmark heatmaps: a diffuse heatmap means an unsure landmark.

Each heatmap becomes a distribution over its pixels by clipping negatives and dividing by the
sum (not a softmax, which squashes regression heatmaps to near-uniform), and the image score is
the mean entropy over landmarks.
"""

from __future__ import annotations

import math

import torch

from acquisition.base import ScoreAcquisition
from acquisition.registry import register

__all__ = ["Entropy", "entropy_scores", "map_entropies"]

# Pixels per block on CPU (8 maps of 128 x 128): the two work buffers stay in the L2 cache, so
# only the first of the element-wise passes reads main memory. On GPUs a chunk is one block.
_CPU_BLOCK_PIXELS = 8 * 128 * 128


def entropy_scores(heatmaps: torch.Tensor) -> torch.Tensor:
    """Mean over landmarks of the spatial entropy of each heatmap.

    For a heatmap h, p = max(h, 0) / sum(max(h, 0)) and H(p) = -sum p ln p (natural log); a
    heatmap without any positive value counts as uniform, H = ln(H * W).

    Args:
        heatmaps: (n, L, H, W) float tensor, any device.

    Returns:
        (n,) scores (float64; float32 on devices without float64), higher = more diffuse.
    """
    n, n_landmarks, height, width = heatmaps.shape
    maps = heatmaps.reshape(n * n_landmarks, height, width)  # (M, H, W)
    return map_entropies(maps).view(n, n_landmarks).mean(dim=1)


def map_entropies(maps: torch.Tensor) -> torch.Tensor:
    """Spatial entropy of each (H, W) map of an (M, H, W) tensor.

    Uses H(p) = ln S - (1/S) sum h ln h with S = sum h, so there is no division pass over the
    pixels. On CPU the maps go through in small blocks whose work buffers stay in cache.
    """
    n_maps, height, width = maps.shape
    dtype = torch.float32 if maps.device.type == "mps" else torch.float64  # mps lacks float64
    block = n_maps if maps.device.type != "cpu" else max(1, _CPU_BLOCK_PIXELS // (height * width))
    clipped = torch.empty((min(block, n_maps), height, width), dtype=maps.dtype, device=maps.device)
    weighted = torch.empty_like(clipped)
    mass = torch.empty(n_maps, dtype=maps.dtype, device=maps.device)  # S per map
    h_ln_h = torch.empty_like(mass)  # sum h ln h per map
    for start in range(0, n_maps, block):
        stop = min(start + block, n_maps)
        _mass_and_h_ln_h(maps[start:stop], clipped, weighted, mass[start:stop], h_ln_h[start:stop])
    total, weighted_log = mass.to(dtype), h_ln_h.to(dtype)
    entropy = torch.log(total) - weighted_log / total
    # The clipping floor adds at most H*W*tiny to S: only maps with almost no positive mass
    # can notice, and those are recomputed from the definition.
    suspect = total * 2.0**-40 < height * width * torch.finfo(maps.dtype).tiny
    if bool(suspect.any()):
        entropy[suspect] = _exact_entropies(maps[suspect]).to(dtype)
    return entropy


def _mass_and_h_ln_h(
    maps: torch.Tensor,
    clipped: torch.Tensor,
    weighted: torch.Tensor,
    mass: torch.Tensor,
    h_ln_h: torch.Tensor,
) -> None:
    # Clipping at the smallest normal float instead of 0 keeps ln finite without a mask.
    count = maps.shape[0]
    h = torch.clamp_min(maps, torch.finfo(maps.dtype).tiny, out=clipped[:count])  # (B, H, W)
    # Two-stage sums reduce each row serially, so a map's sums do not depend on the block or
    # chunk it is in: chunked scoring equals whole-pool scoring bit for bit.
    torch.sum(h.sum(dim=2), dim=1, out=mass)
    products = torch.log(h, out=weighted[:count]).mul_(h)
    torch.sum(products.sum(dim=2), dim=1, out=h_ln_h)


def _exact_entropies(maps: torch.Tensor) -> torch.Tensor:
    """Slow, direct definition in float64, for maps with (almost) no positive mass."""
    h = maps.to(torch.float64).clamp_min(0).flatten(1)  # (B, H*W)
    mass = h.sum(dim=1, keepdim=True)
    p = h / torch.where(mass > 0, mass, torch.ones_like(mass))
    entropy = -torch.special.xlogy(p, p).sum(dim=1)
    uniform = math.log(maps.shape[1] * maps.shape[2])
    return torch.where(mass[:, 0] > 0, entropy, torch.full_like(entropy, uniform))


@register("entropy")
class Entropy(ScoreAcquisition):
    """Mean spatial entropy of the landmark heatmaps (negatives clipped, divided by the sum).

    Args:
        discard_top: Fraction of top-ranked unlabeled items skipped (0.10 = the paper's
            Entropy10%).
    """

    def __init__(self, *, discard_top: float = 0.0) -> None:
        super().__init__(discard_top=discard_top)

    def compute_score(self, heatmaps: torch.Tensor) -> torch.Tensor:
        """Entropy score of each image; see :func:`entropy_scores`."""
        return entropy_scores(heatmaps)
