"""The tiny experiment spec of the orchestrator tests, merging tables into it, and the
(cell, round) keys a spec's grid must produce."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

# The tiny spec of the orchestrator tests (the `spec_doc` / `write_spec` fixtures): as small
# as the models allow, so a whole cell runs in seconds on one CPU core.
# The quickstart preset of the releases before the 3-seed one (2 seeds, 500 steps from
# scratch), kept as a file: tests pin the hashes older versions gave its cells.
OLD_QUICKSTART = Path(__file__).resolve().parents[1] / "fixtures" / "quickstart_2seeds.toml"

BASE_SPEC: dict[str, Any] = {
    "experiment": {"name": "tiny", "seeds": [0], "architectures": ["scaf"]},
    "data": {"name": "synthetic", "options": {"n_pool": 40, "n_test": 12}},
    "model": {"input_size": 64, "width": 0.25, "pretrain": {"steps": 4, "batch_size": 8}},
    "trainer": {"steps": 3, "batch_size": 4},
    "budgets": [{"sizes": [10, 12, 14]}],
    "acquisitions": [{"name": "random"}],
    "resources": {"cpus_per_trial": 1, "num_cpus": 2, "max_failures": 2,
                  "device": "cpu", "object_store_mb": 80},
}


def merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """`base` with `over` merged in, table by table (non-table values replace)."""
    out = copy.deepcopy(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def expected_keys(spec: Any) -> list[tuple[str, int]]:
    """Every (cell_id, round) the spec's grid must produce."""
    return sorted((c.cell_id(), r) for c in spec.cells() for r in range(len(c.budget.sizes)))
