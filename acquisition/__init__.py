"""Acquisition functions for active learning: arrays in, scores and selections out.

Usage::

    import acquisition
    acq = acquisition.get("nnm", window=7, discard_top=0.10)
    scores = acq.score(heatmaps)                  # (n, L, H, W) -> (n,), higher = label first
    picked = acq.select(k, labeled=mask, scores=scores, rng=np.random.default_rng(0))
    acq.last_selection                            # {"pool_index", "score", "rank"}

New acquisitions register with ``@acquisition.register("name")``; outside packages expose them
through the ``scaf_al.acquisition`` entry-point group. No models, no Ray, no I/O here.
"""

from acquisition.base import NEEDS, Acquisition, ScoreAcquisition, SetAcquisition
from acquisition.registry import (
    ENTRY_POINT_GROUP,
    AcquisitionRegistryError,
    available,
    get,
    list_acquisitions,
    load_plugins,
    register,
)

# Built-ins register themselves on import; import order does not matter.
from acquisition import entropy, kcenter, nnm, random  # noqa: E402, F401  isort: skip

__all__ = [
    "ENTRY_POINT_GROUP",
    "NEEDS",
    "Acquisition",
    "AcquisitionRegistryError",
    "ScoreAcquisition",
    "SetAcquisition",
    "available",
    "get",
    "list_acquisitions",
    "load_plugins",
    "register",
]
