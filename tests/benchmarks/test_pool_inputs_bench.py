"""The pool-input cost records: one per input, each against a forward pass of the same run.

No timing assertions (shared machines); the schema and what each record measured.
"""

from __future__ import annotations

import torch

from benchmarks.pool_inputs import TTA_SAMPLES, pool_input_records
from tests.helpers.bench import check_schema


def test_pool_input_records_cover_landmarks_flip_and_tta() -> None:
    records = pool_input_records(torch.device("cpu"), quick=True, images=4, repeats=1)
    assert [r["name"] for r in records] == [
        "acquisition.pool_input.landmarks",
        "acquisition.pool_input.flip",
        f"acquisition.pool_input.tta.T={TTA_SAMPLES}",
    ]
    for rec in records:
        check_schema(rec)
        assert rec["unit"] == "ms/image" and rec["input_size"] == 64
    assert [r["forward_passes"] for r in records] == [1, 2, 1 + TTA_SAMPLES]
    # Every record shares the one baseline timed in this run.
    assert len({r["baseline_value"] for r in records}) == 1
