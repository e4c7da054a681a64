"""Negative Neighborhood Magnitude (NNM), the SCAF paper's heatmap acquisition (eq. 1).

A confident landmark heatmap has a tall peak, so the mass in a small window around its argmax
is large; NNM negates that mass summed over landmarks, so less confident images score higher.
"""

from __future__ import annotations

import torch

from acquisition.base import ScoreAcquisition
from acquisition.registry import register

__all__ = ["NNM", "first_argmax_2d", "nnm_scores", "window_sums"]


def nnm_scores(heatmaps: torch.Tensor, *, window: int = 7) -> torch.Tensor:
    """NNM per image: minus the sum over landmarks of the heatmap mass around the argmax.

    For each landmark heatmap, take the argmax (first maximum in row-major order), sum the
    values in the ``window`` x ``window`` square centred on it (clipped at the borders), sum
    over landmarks and negate.

    Args:
        heatmaps: (n, L, H, W) float tensor, any device.
        window: Odd side s of the square window, in heatmap pixels.

    Returns:
        (n,) scores (float64; float32 on devices without float64), higher = less confident.

    References:
        SCAF paper, eq. 1: NNM(H) = -sum_i sum_{(u,v) in W_i} H_i(u, v).
    """
    n, n_landmarks, height, width = heatmaps.shape
    maps = heatmaps.reshape(n * n_landmarks, height, width)  # (M, H, W), M = n * L
    rows, cols = first_argmax_2d(maps)
    per_map = window_sums(maps, rows, cols, window)  # (M,)
    return -per_map.view(n, n_landmarks).sum(dim=1)


def first_argmax_2d(maps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Row and column of each map's first maximum in row-major order.

    The first row holding the map's peak, then the first maximum within that row, is exactly
    the row-major first maximum. Row maxima reduce along contiguous memory and cost about one
    plain read of the maps; a flat ``argmax`` costs several on CPU.

    Args:
        maps: (M, H, W) float tensor.

    Returns:
        (rows, cols), each (M,) int64 on the maps' device.
    """
    row_max = maps.amax(dim=2)  # (M, H): the one full read of the data
    rows = row_max.argmax(dim=1)  # first row holding the peak
    maps_idx = torch.arange(maps.shape[0], device=maps.device)
    cols = maps[maps_idx, rows].argmax(dim=1)  # (M,): first maximum within that row
    return rows, cols


def window_sums(
    maps: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor, window: int
) -> torch.Tensor:
    """Sum of each map over the ``window`` x ``window`` square centred on (row, col).

    Pixels of the square outside the map are left out (the window is clipped at the borders).

    Args:
        maps: (M, H, W) float tensor.
        rows, cols: (M,) int64 centres.
        window: Odd side of the square.

    Returns:
        (M,) sums, accumulated in float64 where the device supports it.
    """
    n_maps, height, width = maps.shape
    half = window // 2
    offsets = torch.arange(-half, half + 1, device=maps.device)
    r = rows[:, None] + offsets  # (M, s)
    c = cols[:, None] + offsets  # (M, s)
    inside = ((r >= 0) & (r < height))[:, :, None] & ((c >= 0) & (c < width))[:, None, :]
    # Flat indices of the (clamped) window pixels: one gather from the contiguous maps.
    first_pixel = torch.arange(n_maps, device=maps.device)[:, None] * height
    row_starts = (first_pixel + r.clamp(0, height - 1)) * width  # (M, s)
    flat = row_starts[:, :, None] + c.clamp(0, width - 1)[:, None, :]  # (M, s, s)
    dtype = torch.float32 if maps.device.type == "mps" else torch.float64  # mps lacks float64
    values = maps.reshape(-1).take(flat).to(dtype)
    return values.masked_fill_(~inside, 0.0).sum(dim=(1, 2))


@register("nnm")
class NNM(ScoreAcquisition):
    """Negative Neighborhood Magnitude (SCAF paper, eq. 1): low mass near each argmax ranks high.

    Args:
        window: Odd side s of the square window around each argmax, in heatmap pixels.
        discard_top: Fraction of top-ranked unlabeled items skipped (0.10 = the paper's NNM10%).
    """

    def __init__(self, *, window: int = 7, discard_top: float = 0.0) -> None:
        super().__init__(discard_top=discard_top)
        if isinstance(window, bool) or not isinstance(window, int):
            raise TypeError(f"nnm: window must be an odd integer >= 1; got {window!r}")
        if window < 1 or window % 2 == 0:
            raise ValueError(
                f"nnm: window must be an odd integer >= 1 (a square centred on the argmax); "
                f"got {window}"
            )
        self.window = window

    def compute_score(self, heatmaps: torch.Tensor) -> torch.Tensor:
        """NNM of each image; see :func:`nnm_scores`."""
        return nnm_scores(heatmaps, window=self.window)
