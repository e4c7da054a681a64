"""The driver killed mid-run (SIGKILL, no clean-up), then `scaf-al resume` completes the
experiment: exactly one `rounds` row per cell x round, none missing, selections as in an
uninterrupted run."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from orchestrator.cli.commands import main
from tests.helpers.processes import sigkill_driver_after_rows
from tests.helpers.runs import reference_rows
from tests.helpers.specs import expected_keys
from tests.helpers.store import rounds_key_table

ROOT = Path(__file__).resolve().parents[3]


def _rows(exp: Path) -> int:
    from orchestrator.results.readers import read_table

    return read_table(str(exp), "rounds").table.num_rows if (exp / "results").exists() else 0


def test_driver_killed_then_resume_completes_without_duplicates(
    write_spec: Callable[..., Path], tiny_spec: Callable[..., Any], tmp_path: Path,
    cache_dir: Path, capsys: pytest.CaptureFixture[str], no_ray_left: None,
) -> None:
    over = {"experiment": {"seeds": [0, 1]}, "acquisitions": [{"name": "nnm"}],
            "budgets": [{"sizes": [10, 12, 14, 16]}]}
    spec_file = write_spec(**over)
    spec = tiny_spec(**over)
    total = len(expected_keys(spec))
    exp = tmp_path / "exp"
    rows_at_kill = sigkill_driver_after_rows(["run", str(spec_file), "--out", str(exp)], ROOT,
                                             tmp_path / "driver.log", lambda: _rows(exp), 0)
    assert rows_at_kill < total, "the run finished before the kill; nothing was tested"

    assert main(["resume", str(exp)]) == 0, capsys.readouterr().out[-3000:]
    got = rounds_key_table(exp)
    assert [(c, r) for c, r, _ in got] == expected_keys(spec)  # no duplicate, no missing
    assert got == reference_rows(spec, cache_dir)
    capsys.readouterr()
    assert main(["status", str(exp)]) == 0
    assert f"{total}/{total} trial-rounds" in capsys.readouterr().out
