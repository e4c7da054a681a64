"""Round-0 models shared by cells that differ only by acquisition.

Round 0 trains on L0, which depends on the seed alone, so every acquisition of a seed gets
the same round-0 model. It is trained once, stored under `<cache>/round0/<key>/` (weights
in our checkpoint format plus the training statistics) and loaded by the other cells.

A grid's labels are the data set's and never change under a pool index; an annotation
project's do (a corrected `.pts`, a new export), so a project's cache is given its crops
(`RoundZeroCache(dir, crops)`) and its keys hold a digest of the labeled faces themselves:
names, landmarks and crop pixels. A corrected annotation trains anew.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from trainers.caches.filelock import locked
from trainers.config.cell import CellConfig, config_hash
from trainers.datasets.cropset import CropSet


def labels_digest(crops: CropSet, labeled: np.ndarray) -> str:
    """SHA-256 of the rows `labeled` of `crops`: their names, landmarks and crop pixels."""
    h = hashlib.sha256()
    for i in np.asarray(labeled, dtype=np.int64):
        h.update(str(crops.names[i]).encode("utf-8") + b"\0")
        h.update(np.ascontiguousarray(crops.landmarks[i], dtype=np.float32).tobytes())
        h.update(np.ascontiguousarray(crops.images[i]).tobytes())
    return h.hexdigest()


class RoundZeroCache:
    """Round-0 models under `<cache_dir>/round0/<key>/`, one per content key (see `key`)."""

    def __init__(self, cache_dir: Path, crops: CropSet | None = None) -> None:
        self.root = Path(cache_dir) / "round0"
        self.crops = crops

    @staticmethod
    def key(cell: CellConfig, ae_path: Path, labeled: np.ndarray,
            precision: str | None = None, labels: str | None = None) -> str:
        """Content key: everything round 0 depends on, and nothing about the acquisition.

        `precision` is how it is trained (`trainers.training.device.precision_tag`); None,
        the exact CPU path, keeps the keys of earlier versions. `labels` is a digest of the
        labeled faces (`labels_digest`) where they can change under an index (projects).
        """
        d = cell.to_dict()
        d.pop("acquisition")
        d.pop("budget")
        content = {"cell": d, "ae": str(ae_path), "l0": [int(i) for i in labeled]}
        if precision is not None:
            content["precision"] = precision
        if labels is not None:
            content["labels"] = labels
        return config_hash(content)

    def key_for(self, cell: CellConfig, ae_path: Path, labeled: np.ndarray,
                precision: str | None = None) -> str:
        """`key`, with the digest of the labeled faces when this cache was given crops."""
        labels = None if self.crops is None else labels_digest(self.crops, labeled)
        return self.key(cell, ae_path, labeled, precision, labels)

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
