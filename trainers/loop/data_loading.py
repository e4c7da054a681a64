"""Turn a DataConfig into the pool CropSet and one CropSet per test split."""

from __future__ import annotations

from pathlib import Path

from trainers.config.cell import DataConfig, config_hash
from trainers.datasets import get_dataset
from trainers.datasets.cropset import CropSet

_MEMO: dict[str, tuple[CropSet, dict[str, CropSet]]] = {}


def _load_split(data: DataConfig, split: str, input_size: int, cache_dir: Path) -> CropSet:
    from trainers.datasets import load_cropset

    # Only generated data may leave data.root out (DataConfig checks): it keeps its
    # rendered faces under the cache then.
    root = data.root if data.root else cache_dir / "data"
    return load_cropset(data.name, root, split, input_size, crop_source=data.crop_source,
                        cache_dir=cache_dir / "crops", **data.options)


def test_splits_to_load(data: DataConfig) -> list[str]:
    """The test splits that are loaded: the asked-for ones, a derived split (300-W "full")
    replaced by the splits it is computed from (the data set's `derived_splits`)."""
    derived = get_dataset(data.name).derived_splits
    wanted: list[str] = []
    for split in data.tests:
        for part in derived.get(split, (split,)):
            if part not in wanted:
                wanted.append(part)
    return wanted


def load_data(
    data: DataConfig, input_size: int, cache_dir: Path
) -> tuple[CropSet, dict[str, CropSet]]:
    """(pool, {split: test set}) for a data config; memoised per process.

    Raises:
        FileNotFoundError / ValueError from the loaders, naming the file or field at fault.
    """
    key = config_hash({"data": data.__dict__, "input_size": input_size, "cache": str(cache_dir)})
    if key in _MEMO:
        return _MEMO[key]
    pool = _load_split(data, data.pool_split, input_size, cache_dir)
    if data.pool_size is not None:
        if data.pool_size > len(pool):
            raise ValueError(
                f"data.pool_size={data.pool_size} is larger than the {data.name} "
                f"{data.train_split} split ({len(pool)} images)"
            )
        from trainers.datasets.subsets import reduced_indices

        pool = pool.subset(reduced_indices(len(pool), data.pool_size, protocol="first"))
    tests = {split: _load_split(data, split, input_size, cache_dir)
             for split in test_splits_to_load(data)}
    _MEMO[key] = (pool, tests)
    return pool, tests
