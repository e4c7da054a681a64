"""The record schema every benchmark row follows, and the check the benchmark tests apply."""

from __future__ import annotations

import math

import pytest

# The fields every benchmark record has (benchmarks.training.make_record).
BENCH_RECORD_SCHEMA = {"name": str, "value": float, "unit": str, "baseline_name": str,
                       "baseline_value": float, "ratio": float}


def check_schema(rec: dict) -> None:
    """A benchmark record has the documented fields with their types."""
    for key, kind in BENCH_RECORD_SCHEMA.items():
        assert isinstance(rec[key], kind), (key, rec)
    assert "target_ratio" in rec and "meets_target" in rec
    assert math.isfinite(rec["value"]) and rec["baseline_value"] > 0
    assert rec["ratio"] == pytest.approx(rec["value"] / rec["baseline_value"])
    if rec["target_ratio"] is None:
        assert rec["meets_target"] is None
    else:
        assert isinstance(rec["meets_target"], bool)
        if rec.get("better", "lower") == "higher":
            assert rec["meets_target"] == (rec["ratio"] >= rec["target_ratio"])
        else:
            assert rec["meets_target"] == (rec["ratio"] <= rec["target_ratio"])
