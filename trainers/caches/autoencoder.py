"""The pretrained auto-encoder of a cell: the user's file, or our unsupervised stage run
once per configuration and cached under `<cache>/autoencoders/<key>/ae.pt`."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from trainers.caches.filelock import locked
from trainers.config.cell import CellConfig, config_hash
from trainers.datasets.cropset import CropSet


def pretrain_settings(cell: CellConfig) -> dict:
    """What the cache key holds of the stage's settings: model size plus the
    `model.pretrain` table as the spec serialises it (the key of existing caches)."""
    return {"input_size": cell.model.input_size, "width": cell.model.width,
            **cell.model.pretrain.to_dict()}


def autoencoder_key(cell: CellConfig, precision: str | None = None) -> str:
    """Hash of what the auto-encoder depends on: pretrain settings, the pool's identity and
    how it was computed (`trainers.training.device.precision_tag`: None, the exact CPU
    path, keeps the keys of earlier versions; a GPU-trained model has another key)."""
    data = cell.data
    pool_identity = {"name": data.name, "root": data.root, "split": data.train_split,
                     "pool_size": data.pool_size, "options": data.options,
                     "crop_source": data.crop_source}
    content: dict = {"pretrain": pretrain_settings(cell), "pool": pool_identity}
    if precision is not None:
        content["precision"] = precision
    return config_hash(content)


def autoencoder_path(cell: CellConfig, cache_dir: Path, precision: str | None = None) -> Path:
    """Where the cache keeps the auto-encoder our unsupervised stage trains for `cell`, at
    `precision` (`trainers.training.device.precision_tag`; None: the exact CPU path)."""
    return Path(cache_dir) / "autoencoders" / autoencoder_key(cell, precision) / "ae.pt"


def ensure_autoencoder(
    cell: CellConfig,
    pool: CropSet,
    cache_dir: Path,
    *,
    device: str = "auto",
    log: Callable[[str], None] | None = None,
    progress: Callable[[dict], None] | None = None,
) -> Path:
    """Path of the auto-encoder checkpoint for `cell`, training it first (on `device`: the
    trials' device, "auto", "cpu" or "cuda[:i]") if needed. The cache key holds the
    device's precision, so a model trained on a GPU (bf16 / TF32) is never reused by a CPU
    run, nor the other way round.

    Raises:
        FileNotFoundError: `model.pretrained` names a file that does not exist.
    """
    if cell.model.pretrained:
        path = Path(cell.model.pretrained).expanduser()
        if not path.is_file():
            raise FileNotFoundError(
                f"model.pretrained = {cell.model.pretrained!r}: no such file "
                "(give the path of the official saae.mdl or of a scaf-al checkpoint)"
            )
        return path
    from trainers.config.pretrain import PretrainConfig
    from trainers.training.device import precision_tag, resolve_device
    from trainers.training.pretrain import pretrain_autoencoder

    dev = resolve_device(device)
    tag = precision_tag(dev, cell.model.pretrain.mixed_precision)
    key = autoencoder_key(cell, tag)
    out = autoencoder_path(cell, cache_dir, tag)
    with locked(out.parent.parent / f"{key}.lock"):
        if out.exists():
            return out
        if log:
            log(f"pre-training the auto-encoder {key} on {len(pool)} pool images")
        # Interned: pickle writes a string once per object, so a "cpu" that is not the
        # interned "cpu" torch also writes would change the file's bytes (not its contents).
        config = PretrainConfig.from_settings(cell.model.pretrain,
                                              input_size=cell.model.input_size,
                                              width=cell.model.width,
                                              device=sys.intern(str(dev)))
        # Train into a working file (resumable), publish only the finished result.
        work = out.with_name("ae.partial.pt")
        pretrain_autoencoder(pool, config, work, progress=progress, resume=True)
        work.replace(out)
    return out
