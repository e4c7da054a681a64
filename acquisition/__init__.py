"""Acquisition functions for active learning: arrays in, scores and selections out.

Usage::

    import acquisition
    acq = acquisition.get("nnm", window=7, discard_top=0.10)
    scores = acq.score(heatmaps)                  # (n, L, H, W) -> (n,), higher = label first
    picked = acq.select(k, labeled=mask, scores=scores, rng=np.random.default_rng(0))
    acq.last_selection                            # {"pool_index", "score", "rank"}

Acquisitions on other inputs (predicted, mirrored or augmented landmarks, labeled-set
features) get them per streamed chunk: ``acq.score_chunk(PoolChunk(norm=..., **inputs))``
with the inputs named in ``acq.needs`` (documented on :class:`Acquisition`).

New acquisitions register with ``@acquisition.register("name")``; outside packages expose them
through the ``scaf_al.acquisition`` entry-point group. No models, no Ray, no I/O here.
"""

from acquisition.base import NEEDS, Acquisition, ScoreAcquisition, SetAcquisition
from acquisition.inputs import LABELED_INPUTS, PER_ITEM_INPUTS, MissingInputError, PoolChunk
from acquisition.registry import (
    ENTRY_POINT_GROUP,
    AcquisitionRegistryError,
    available,
    get,
    label,
    list_acquisitions,
    load_plugins,
    register,
)

# Built-ins register themselves on import; import order does not matter.
from acquisition import diverse, entropy, flip, kcenter, nnm, random, tta  # noqa: E402, F401  isort: skip

__all__ = [
    "ENTRY_POINT_GROUP",
    "LABELED_INPUTS",
    "NEEDS",
    "PER_ITEM_INPUTS",
    "Acquisition",
    "AcquisitionRegistryError",
    "MissingInputError",
    "PoolChunk",
    "ScoreAcquisition",
    "SetAcquisition",
    "available",
    "get",
    "label",
    "list_acquisitions",
    "load_plugins",
    "register",
]
