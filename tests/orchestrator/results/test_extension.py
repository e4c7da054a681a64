"""Growing a grid without running it: which cells an extension adds (`--seeds` included),
the specs refused before anything is written, and `plan SPEC --against DIR`."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import tomli_w

from orchestrator.cli.commands import main
from orchestrator.results.experiment_folder import ExperimentFolder
from orchestrator.results.extension import raise_seeds, record_extension
from tests.helpers.store import STORE_SIZES, store_round


def _folder_bytes(exp: Path) -> dict[str, str]:
    return {str(p.relative_to(exp)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(exp.rglob("*")) if p.is_file()}


def _finished(exp: Path, spec: Any) -> None:
    """`exp` holding `spec`'s grid with every round of every cell in the store."""
    from orchestrator.results.writer import ResultWriter

    ExperimentFolder.create(exp, spec)
    writer = ResultWriter(str(exp), spec.name)
    for cell in spec.cells():
        for r in range(len(cell.budget.sizes)):
            writer.write_round(cell, store_round(r), splits=["test"])


def test_raise_seeds_fills_in_the_experiments_seeds_then_counts_on(
    tiny_spec: Callable[..., Any],
) -> None:
    rnd = tiny_spec(experiment={"seeds": [0, 1]}).cells()
    nnm = tiny_spec(acquisitions=[{"name": "nnm"}]).cells()  # seed 0 only
    got = sorted((c.acquisition.name, c.seed) for c in raise_seeds(rnd + nnm, 3))
    # random has 0, 1 -> 2; nnm has 0 -> 1 (the experiment's), then 2.
    assert got == [("nnm", 1), ("nnm", 2), ("random", 2)]
    later = tiny_spec(experiment={"seeds": [1, 2]}).cells()
    assert sorted(c.seed for c in raise_seeds(later, 4)) == [3, 4]
    assert raise_seeds(later, 2) == []


@pytest.mark.parametrize(("over", "names"), [
    ({"experiment": {"name": "other"}}, "experiment.name = 'other'"),
    ({"data": {"options": {"n_pool": 41}}}, "data.options.n_pool = 41"),
])
def test_a_spec_that_cannot_join_is_refused_in_one_line_writing_nothing(
    over: dict[str, Any], names: str, tiny_spec: Callable[..., Any],
    write_spec: Callable[..., Path], tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    exp = tmp_path / "exp"
    _finished(exp, tiny_spec())
    before = _folder_bytes(exp)
    assert main(["extend", str(exp), str(write_spec("other.toml", **over))]) == 2
    out = capsys.readouterr().out.strip()
    assert out.startswith("error:") and names in out and len(out.splitlines()) == 1
    assert _folder_bytes(exp) == before


def test_unfinished_cells_are_resumed_before_an_extension(
    tiny_spec: Callable[..., Any], tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    exp = tmp_path / "exp"
    ExperimentFolder.create(exp, tiny_spec(experiment={"seeds": [0, 1]}))
    before = _folder_bytes(exp)
    assert main(["extend", str(exp), "--seeds", "3"]) == 2
    out = capsys.readouterr().out
    assert "2 unfinished cell(s)" in out and f"scaf-al resume {exp}" in out
    assert _folder_bytes(exp) == before


def test_nothing_new_runs_nothing(tiny_spec: Callable[..., Any], tmp_path: Path,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    spec = tiny_spec(experiment={"seeds": [0, 1]}, budgets=[{"sizes": list(STORE_SIZES)}])
    exp = tmp_path / "exp"
    _finished(exp, spec)
    before = _folder_bytes(exp)
    assert main(["extend", str(exp), "--seeds", "2"]) == 0
    assert "nothing to add" in capsys.readouterr().out
    assert _folder_bytes(exp) == before


def test_the_extension_is_recorded_with_the_union(tiny_spec: Callable[..., Any],
                                                   tmp_path: Path) -> None:
    old = tiny_spec(experiment={"seeds": [0, 1]})
    folder = ExperimentFolder.create(tmp_path / "exp", old)
    added = tiny_spec(experiment={"seeds": [2]}).cells()
    ext = record_extension(folder, added, {"experiment": {"name": "tiny"}}, "--seeds 3")
    reread = ExperimentFolder.open(folder.path)
    assert [e.cell_id for e in reread.info.cells] == [c.cell_id() for c in old.cells() + added]
    assert reread.info.extensions == (ext,)
    assert [d.name for d in reread.tune_dirs()] == ["tune", "tune-extend-001"]
    assert (folder.path / "extend-001.toml").is_file()
    assert json.loads(folder.info_file.read_text())["extensions"][0]["source"] == "--seeds 3"


def test_plan_against_counts_only_what_is_new(
    tiny_spec: Callable[..., Any], spec_doc: Callable[..., dict[str, Any]], tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    ExperimentFolder.create(tmp_path / "exp", tiny_spec(experiment={"seeds": [0, 1]}))
    spec = tmp_path / "more.toml"
    spec.write_text(tomli_w.dumps(spec_doc(experiment={"seeds": [0, 1, 2]},
                                           acquisitions=[{"name": "random"}, {"name": "nnm"}])))
    assert main(["plan", str(spec), "--json", "--against", str(tmp_path / "exp")]) == 0
    got = json.loads(capsys.readouterr().out)
    # New: random s2 and nnm s0, s1, s2 (random s0, s1 are held): 4 cells of 3 rounds.
    # Round 0 of seeds 0 and 1 is in the cache already; seed 2's is trained once:
    # 12 - 4 + 1 = 9 trainings of 3 steps x 4 images. nnm streams (40 - 10) + (40 - 12)
    # per cell; every round evaluates the 12 test images.
    assert got == {"cells": 4, "trial_rounds": 12, "trainings": 9,
                   "training_images": 9 * 3 * 4, "scored_images": 3 * 58,
                   "eval_images": 12 * 12, "per_config": [], "held_cells": 2}
    assert main(["plan", str(spec), "--against", str(tmp_path / "exp")]) == 0
    assert "2 of the spec's cells are in the experiment already" in capsys.readouterr().out


def test_the_views_show_the_union_and_the_pace_since_the_extension(
    tiny_spec: Callable[..., Any], tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    from orchestrator.progress.snapshot import take_snapshot
    from orchestrator.results.writer import ResultWriter

    spec = tiny_spec(budgets=[{"sizes": list(STORE_SIZES)}])
    exp = tmp_path / "exp"
    _finished(exp, spec)  # 1 cell, 3 rounds
    added = tiny_spec(experiment={"seeds": [1]}, budgets=[{"sizes": list(STORE_SIZES)}])
    record_extension(ExperimentFolder.open(exp), added.cells(), added.raw, "--seeds 2")
    ResultWriter(str(exp), "tiny").write_round(added.cells()[0], store_round(0),
                                               splits=["test"])
    snap = take_snapshot(exp)
    # 2 cells of 3 rounds; 3 + 1 done, of which 1 since the extension started.
    assert (snap.total, snap.done, snap.done_since_start()) == (6, 4, 1)
    assert main(["status", str(exp)]) == 0
    assert "4/6 trial-rounds" in capsys.readouterr().out
