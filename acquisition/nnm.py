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

    A flat ``argmax`` costs several plain reads on CPU; a column-wise ``amax`` costs about
    one. The first column holding the peak, then the first row within it, is the row-major
    first maximum unless another column also holds the peak; those (rare) maps are resolved
    with the exact flat argmax.

    Args:
        maps: (M, H, W) float tensor.

    Returns:
        (rows, cols), each (M,) int64 on the maps' device.
    """
    n_maps, _, width = maps.shape
    col_max = maps.amax(dim=1)  # (M, W): the one full read of the data
    peak = col_max.amax(dim=1, keepdim=True)  # (M, 1)
    cols = col_max.argmax(dim=1)  # first column holding the peak
    maps_idx = torch.arange(n_maps, device=maps.device)
    rows = maps[maps_idx, :, cols].argmax(dim=1)  # (M,): first row in that column
    tied = (col_max == peak).sum(dim=1) > 1  # peak in several columns: row order decides
    if bool(tied.any()):
        flat = maps[tied].flatten(1).argmax(dim=1)
        rows[tied] = flat // width
        cols[tied] = flat % width
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
    maps_idx = torch.arange(n_maps, device=maps.device)[:, None, None]
    values = maps[maps_idx, r.clamp(0, height - 1)[:, :, None], c.clamp(0, width - 1)[:, None, :]]
    dtype = torch.float32 if maps.device.type == "mps" else torch.float64  # mps lacks float64
    values = torch.where(inside, values.to(dtype), torch.zeros((), dtype=dtype, device=maps.device))
    return values.sum(dim=(1, 2))


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
