"""Landmark heatmaps: Gaussian training targets and argmax decoding.

Scales follow 3FabRec at 256 px: heatmaps are S/2 x S/2 (128 for 256), targets are
Gaussians of peak 1 and sigma 7 on the 128 grid, centred on the rounded landmark and cut to
a square window of about 5 sigma; decoding blurs each channel with a 9 x 9 box (zero border)
and takes the integer argmax. For smaller inputs sigma and the blur scale with the grid, so
a 64 px model sees the same picture at a quarter of the resolution.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

REFERENCE_GRID = 128  # heatmap side of the 256 px model, where sigma and blur are defined


def grid_sigma(sigma: float, grid: int) -> float:
    """Sigma in pixels of a `grid`-sided heatmap, for `sigma` given on the 128 grid."""
    return sigma * grid / REFERENCE_GRID


def blur_kernel(grid: int, kernel_at_128: int = 9) -> int:
    """Odd box-blur size for a `grid`-sided heatmap (9 at 128)."""
    k = max(1, round(kernel_at_128 * grid / REFERENCE_GRID))
    return k if k % 2 == 1 else k + 1


def gaussian_targets(points: torch.Tensor, grid: int, sigma: float) -> torch.Tensor:
    """Target heatmaps for landmark positions.

    Args:
        points: (B, L, 2) (x, y) positions in heatmap pixels (0-based pixel centres).
        grid: heatmap side H.
        sigma: Gaussian sigma in heatmap pixels.

    Returns:
        (B, L, H, H) float32 heatmaps with peak 1 at the rounded, clipped position and zero
        outside a square window of half-width 2.5 sigma.
    """
    centre = points.round().clamp(0, grid - 1)  # (B, L, 2)
    u = torch.arange(grid, device=points.device, dtype=torch.float32)
    d = u.view(1, 1, 1, grid) - centre.unsqueeze(-1).float()  # (B, L, 2, H)
    g = torch.exp(-(d**2) / (2.0 * sigma**2))
    g = g * (d.abs() <= 2.5 * sigma)
    gx, gy = g[:, :, 0], g[:, :, 1]  # (B, L, H)
    return gy.unsqueeze(-1) * gx.unsqueeze(-2)  # (B, L, H(y), H(x))


def decode(
    heatmaps: torch.Tensor, kernel: int | None = None, subpixel: bool = False
) -> torch.Tensor:
    """Landmark positions from heatmaps, in heatmap pixels.

    Args:
        heatmaps: (B, L, H, W) raw network output.
        kernel: box-blur size (odd); None picks `blur_kernel(H)`; 1 disables blurring.
        subpixel: shift each argmax a quarter pixel towards its larger neighbour (off by
            default, as in 3FabRec).

    Returns:
        (B, L, 2) float32 (x, y): x is the column, y the row of the maximum.
    """
    b, n_lm, h, w = heatmaps.shape
    k = blur_kernel(h) if kernel is None else kernel
    hm = heatmaps.float()
    if k > 1:
        hm = F.avg_pool2d(
            hm.reshape(b * n_lm, 1, h, w), k, stride=1, padding=k // 2, count_include_pad=True
        ).reshape(b, n_lm, h, w)
    flat = hm.reshape(b, n_lm, h * w).argmax(-1)
    y = torch.div(flat, w, rounding_mode="floor")
    x = flat - y * w
    xy = torch.stack([x, y], -1).float()
    if subpixel:
        flat_hm = hm.reshape(b, n_lm, h * w)

        def at(yy: torch.Tensor, xx: torch.Tensor) -> torch.Tensor:
            idx = (yy.clamp(0, h - 1) * w + xx.clamp(0, w - 1)).unsqueeze(-1)
            return flat_hm.gather(-1, idx).squeeze(-1)

        dx = torch.sign(at(y, x + 1) - at(y, x - 1))
        dy = torch.sign(at(y + 1, x) - at(y - 1, x))
        xy = xy + 0.25 * torch.stack([dx, dy], -1)
    return xy
