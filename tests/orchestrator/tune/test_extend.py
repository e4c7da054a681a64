"""A finished grid grows: `scaf-al extend` runs only the new cells, never rewrites the old
cells' files, reuses their round-0 models, and an extension whose driver is killed
continues with `scaf-al resume`."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from orchestrator.cli.commands import main
from orchestrator.progress.tune_state import read_tune_state
from tests.helpers.processes import sigkill_driver_after_rows
from tests.helpers.runs import finished_experiment
from tests.helpers.specs import expected_keys
from tests.helpers.store import rounds_key_table

ROOT = Path(__file__).resolve().parents[3]


def _store_files(exp: Path) -> dict[str, str]:
    """sha256 of every result file (both tables) by path."""
    return {str(p.relative_to(exp)): hashlib.sha256(p.read_bytes()).hexdigest()
            for table in ("rounds", "selections")
            for p in sorted((exp / "results" / table).glob("*.parquet"))}


def _rows(exp: Path) -> list[dict[str, Any]]:
    from orchestrator.results.readers import read_rounds

    return read_rounds(str(exp)).select(
        ["cell_id", "round", "reused_round0", "written_at", "acquisition"]).to_pylist()


def test_extend_two_seeds_to_four_with_a_new_acquisition(
    write_spec: Callable[..., Path], tiny_spec: Callable[..., Any], tmp_path: Path,
    cache_dir: Path, capsys: pytest.CaptureFixture[str], no_ray_left: None,
) -> None:
    exp, sizes = tmp_path / "exp", {"budgets": [{"sizes": [10, 12]}]}
    base = tiny_spec(experiment={"seeds": [0, 1]}, **sizes)
    finished_experiment(exp, base, cache_dir)
    old, old_cells = _store_files(exp), {c.cell_id() for c in base.cells()}
    more = write_spec("more.toml", experiment={"seeds": [0, 1]},
                      acquisitions=[{"name": "random"}, {"name": "nnm"}], **sizes)
    capsys.readouterr()
    assert main(["plan", str(more), "--json", "--against", str(exp), "--seeds", "4"]) == 0
    planned = json.loads(capsys.readouterr().out)
    started = datetime.now(UTC)
    assert main(["extend", str(exp), str(more), "--seeds", "4"]) == 0

    # The old cells' files: all there, byte for byte.
    now = _store_files(exp)
    assert {p: now.get(p) for p in old} == old
    # Every cell of the union once per round: random and nnm, seeds 0-3, 2 rounds each.
    union = tiny_spec(experiment={"seeds": [0, 1, 2, 3]},
                      acquisitions=[{"name": "random"}, {"name": "nnm"}], **sizes)
    assert [(c, r) for c, r, _ in rounds_key_table(exp)] == expected_keys(union)
    rows = _rows(exp)
    new = [r for r in rows if r["cell_id"] not in old_cells]
    assert len(new) == 6 * 2 and all(r["written_at"] > started for r in new)
    assert all(r["written_at"] < started for r in rows if r["cell_id"] in old_cells)
    # Trained: round 1 of the 6 new cells, and round 0 of seeds 2 and 3 once each (nnm
    # seeds 0 and 1 load the round-0 models the first run left in the cache).
    trained = [r for r in new if r["round"] > 0 or not r["reused_round0"]]
    assert len(trained) == 6 + 2 == planned["trainings"]
    # The extension's own Tune experiment ran the 6 new cells and nothing else.
    trials, _ = read_tune_state(exp / "tune-extend-001")
    assert set(trials) == {r["cell_id"] for r in new} and len(trials) == 6

    capsys.readouterr()
    assert main(["status", str(exp)]) == 0
    assert "16/16 trial-rounds" in capsys.readouterr().out
    assert main(["report", str(exp), "--format", "csv"]) == 0
    # The report over the union: both acquisitions at both sizes over 4 seeds, nnm paired
    # with random on all 4.
    lines = csv.DictReader(io.StringIO(capsys.readouterr().out))
    got = {(r["acquisition"], r["n_labeled"]): (r["n_seeds"], r["n_pairs"]) for r in lines
           if r.get("acquisition") in ("random", "nnm")}
    assert got == {("random", "10"): ("4", ""), ("random", "12"): ("4", ""),
                   ("nnm", "10"): ("4", "4"), ("nnm", "12"): ("4", "4")}


def _extend_and_kill(exp: Path, tmp_path: Path, args: list[str], rows_before: int) -> int:
    """Run `scaf-al extend` in a driver process, SIGKILL it after the extension's first
    result row; returns the rows in the store at the kill."""
    from orchestrator.results.readers import read_table

    return sigkill_driver_after_rows(
        ["extend", str(exp), *args], ROOT, tmp_path / "driver.log",
        lambda: read_table(str(exp), "rounds").table.num_rows, rows_before)


def test_an_interrupted_extension_continues_with_resume(
    tiny_spec: Callable[..., Any], tmp_path: Path, cache_dir: Path,
    capsys: pytest.CaptureFixture[str], no_ray_left: None,
) -> None:
    budgets = [{"sizes": [10, 12, 14, 16]}]
    exp = tmp_path / "exp"
    finished_experiment(exp, tiny_spec(budgets=budgets), cache_dir)
    old = _store_files(exp)
    at_kill = _extend_and_kill(exp, tmp_path, ["--seeds", "2"], rows_before=4)
    assert at_kill < 8, "the extension finished before the kill; nothing was tested"

    assert main(["resume", str(exp)]) == 0, capsys.readouterr().out[-3000:]
    now = _store_files(exp)
    assert {p: now.get(p) for p in old} == old
    union = tiny_spec(experiment={"seeds": [0, 1]}, budgets=budgets)
    assert [(c, r) for c, r, _ in rounds_key_table(exp)] == expected_keys(union)
    assert not (exp / "tune-extend-002").exists()  # resumed, not a second extension
    capsys.readouterr()
    assert main(["status", str(exp)]) == 0
    assert "8/8 trial-rounds" in capsys.readouterr().out
