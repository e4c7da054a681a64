"""Round-0 models shared by cells that differ only by acquisition.

Round 0 trains on L0, which depends on the seed alone, so every acquisition of a seed gets
the same round-0 model. It is trained once, stored under `<cache>/round0/<key>/` (weights
in our checkpoint format plus the training statistics) and loaded by the other cells.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from trainers.caches.filelock import locked
from trainers.config.cell import CellConfig, config_hash


class RoundZeroCache:
    """Round-0 models under `<cache_dir>/round0/<key>/`, one per content key (see `key`)."""

    def __init__(self, cache_dir: Path) -> None:
        self.root = Path(cache_dir) / "round0"

    @staticmethod
    def key(cell: CellConfig, ae_path: Path, labeled: np.ndarray,
            precision: str | None = None) -> str:
        """Content key: everything round 0 depends on, and nothing about the acquisition.

        `precision` is how it is trained (`trainers.training.device.precision_tag`); None,
        the exact CPU path, keeps the keys of earlier versions.
        """
        d = cell.to_dict()
        d.pop("acquisition")
        d.pop("budget")
        content = {"cell": d, "ae": str(ae_path), "l0": [int(i) for i in labeled]}
        if precision is not None:
            content["precision"] = precision
        return config_hash(content)

    def get_or_train(
        self, key: str, model: torch.nn.Module, train: Callable[[], dict]
    ) -> tuple[dict, bool]:
        """Load the round-0 weights for `key` into `model`, or train and store them.

        Returns (training statistics, True when the weights were reused).
        """
        from trainers.models import load_pretrained, save_checkpoint

        folder = self.root / key
        weights, stats_file = folder / "model.pt", folder / "stats.json"
        with locked(self.root / f"{key}.lock"):
            if weights.exists() and stats_file.exists():
                load_pretrained(model, weights, strict_head=True)
                stats = json.loads(stats_file.read_text())
                return {
                    **stats,
                    "train_seconds": 0.0,
                    "saved_seconds": stats["train_seconds"],
                }, True
            stats = train()
            folder.mkdir(parents=True, exist_ok=True)
            save_checkpoint(model, weights)
            tmp = stats_file.with_suffix(".tmp")
            tmp.write_text(json.dumps(stats))
            os.replace(tmp, stats_file)
            return stats, False
