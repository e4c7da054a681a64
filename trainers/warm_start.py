"""Protocol settings of a cell beyond the paper's: warm-started rounds and a k-center L0.

- `trainer.init = "warm"`: round r > 0 starts from round r-1's trained weights instead of the
  auto-encoder with a fresh head. Weights are kept per (cell, round) under the cache dir, so
  a resumed trial warm-starts from the same weights an uninterrupted one would.
- `l0 = "kcenter"`: L0 picked by k-center-greedy on the auto-encoder's latent code of the
  pool (diverse faces, no labels needed), the first centre drawn from the cell's seed.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

import acquisition
from trainers.datasets.cropset import CropSet
from trainers.supervised import predict


class WarmStarts:
    """The trained weights of each round of one cell, for the next round to start from."""

    def __init__(self, cache_dir: Path, cell_id: str) -> None:
        self.folder = Path(cache_dir) / "warm"
        self.cell_id = cell_id

    def path(self, r: int) -> Path:
        return self.folder / f"{self.cell_id}-r{r:03d}.pt"

    def save(self, r: int, model: torch.nn.Module) -> None:
        """Keep round r's weights (atomically: a reader never sees half a file)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = self.path(r).with_suffix(f".tmp{os.getpid()}")
        torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, tmp)
        os.replace(tmp, self.path(r))

    def load_into(self, r: int, model: torch.nn.Module) -> None:
        """Round r's weights into `model`.

        Raises:
            FileNotFoundError: round r was not kept (names the file).
        """
        path = self.path(r)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: the weights of round {r}, which a warm-started "
                                    f"round {r + 1} starts from, are missing")
        model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))


def latent_features(model: torch.nn.Module, pool: CropSet, device: torch.device,
                    batch_size: int) -> torch.Tensor:
    """(n, d) latent codes of every pool image (the encoder only; no landmarks needed)."""
    rows = np.arange(len(pool))
    out: torch.Tensor | None = None
    for chunk in predict(model, pool, rows, batch_size=batch_size, device=device, amp=False):
        z = chunk["features"].cpu()
        if out is None:
            out = torch.empty((len(pool), z.shape[1]), dtype=z.dtype)
        out[torch.as_tensor(chunk["indices"])] = z
    assert out is not None
    return out


def kcenter_l0(features: torch.Tensor, n0: int, rng: np.random.Generator) -> list[int]:
    """`n0` pool indices by k-center-greedy from no centre (the first drawn from `rng`)."""
    acq = acquisition.get("kcenter_greedy")
    picked = acq.select(n0, labeled=np.zeros(len(features), dtype=bool), features=features,
                        rng=rng)
    return [int(i) for i in picked]
