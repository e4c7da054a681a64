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
from typing import TYPE_CHECKING

import numpy as np
import torch

import acquisition
from trainers.datasets.cropset import CropSet
from trainers.training.batches import crops_to_tensor, network_input
from trainers.training.device import prepare_model, resolve_device

if TYPE_CHECKING:
    from trainers.models.fabrec import FabRec


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


@torch.no_grad()
def latent_features(model: FabRec, pool: CropSet, *, batch_size: int = 64,
                    device: str | torch.device = "cpu") -> np.ndarray:
    """(N, z_dim) latent codes of the pool's crops from the auto-encoder's encoder only (no
    landmark head needed: an annotation project may not know its landmark count yet). The
    network input is the central S x S window, as `supervised.predict` builds it."""
    dev = resolve_device(device)
    prepare_model(model, dev)
    model.eval()
    out = []
    for start in range(0, len(pool), batch_size):
        x = crops_to_tensor(pool.images[start:start + batch_size], dev)
        x, _ = network_input(x, None, pool.input_size)
        out.append(model.encode(x).float().cpu().numpy())
    return np.concatenate(out)


def kcenter_picks(features: np.ndarray, k: int, taken: np.ndarray,
                  rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """`k` pool indices by k-center-greedy around the `taken` items (with none taken, the
    first centre is drawn from `rng`), and each pick's distance when it was picked."""
    acq = acquisition.get("kcenter_greedy")
    picked = acq.select(k, labeled=taken, features=features, rng=rng)
    assert acq.last_selection is not None  # select() has just kept it
    return picked, acq.last_selection["score"]
