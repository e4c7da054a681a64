"""Example scaf-al acquisition plugin, registered through the ``scaf_al.acquisition`` group."""

from __future__ import annotations

import torch

import acquisition


@acquisition.register("example_low_peak")
class LowPeak(acquisition.ScoreAcquisition):
    """Example plugin: minus the mean heatmap peak, so the least confident images rank first."""

    def compute_score(self, heatmaps: torch.Tensor) -> torch.Tensor:
        """Minus the mean over landmarks of each heatmap's maximum."""
        return -heatmaps.amax(dim=(2, 3)).to(torch.float64).mean(dim=1)
