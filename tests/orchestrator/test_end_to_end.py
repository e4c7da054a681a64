"""One real experiment through `scaf-al run` -> Ray Tune -> Parquet, read back."""

from __future__ import annotations

import contextlib
import io
import re
import textwrap
from pathlib import Path

import numpy as np
import pytest

from orchestrator.cli.commands import main
from orchestrator.progress.snapshot import take_snapshot
from orchestrator.results.experiment_folder import ExperimentFolder
from orchestrator.results.readers import read_rounds, read_selections, read_table

SPEC = """
[experiment]
name = "e2e"
seeds = [0, 1]
cache_dir = "{cache}"

[data]
name = "synthetic"
options = {{ n_pool = 40, n_test = 12 }}

[model]
input_size = 64
width = 0.25
pretrain = {{ steps = 4, batch_size = 8 }}

[trainer]
steps = 3
batch_size = 4

[[budgets]]
sizes = [10, 14, 18]

[[acquisitions]]
name = "random"

[[acquisitions]]
name = "nnm"
window = 3
discard_top = 0.1

[resources]
cpus_per_trial = 1
max_concurrent_trials = 2
"""


@pytest.fixture(scope="module")
def experiment(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int, str, str]:
    tmp = tmp_path_factory.mktemp("e2e")
    spec = tmp / "spec.toml"
    spec.write_text(textwrap.dedent(SPEC.format(cache=tmp / "cache")))
    out = tmp / "exp"
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        code = main(["run", str(spec), "--out", str(out), "--plain"])
    return out, code, spec.read_text(), printed.getvalue()


def test_run_writes_one_row_per_cell_and_round(experiment: tuple[Path, int, str, str]) -> None:
    out, code, _, _ = experiment
    assert code == 0
    rounds = read_rounds(str(out))
    assert len(ExperimentFolder.open(out).info.cells) == 4
    assert rounds.num_rows == 4 * 3
    keys = set(zip(rounds["cell_id"].to_pylist(), rounds["round"].to_pylist(), strict=True))
    assert len(keys) == rounds.num_rows
    assert sorted(set(rounds["n_labeled"].to_pylist())) == [10, 14, 18]
    nme = np.array(rounds["nme_test"].to_pylist(), dtype=float)
    assert np.all(np.isfinite(nme)) and np.all(nme > 0)
    assert set(rounds["acq_label"].to_pylist()) == {"random", "nnm(discard_top=0.1,window=3)"}


def test_selections_extend_the_labeled_set(experiment: tuple[Path, int, str, str]) -> None:
    out, _, _, _ = experiment
    rounds = read_rounds(str(out)).to_pylist()
    by_cell: dict[str, dict[int, dict]] = {}
    for r in rounds:
        by_cell.setdefault(r["cell_id"], {})[r["round"]] = r
    for per in by_cell.values():
        for r in (0, 1):
            now, nxt = per[r], per[r + 1]
            assert len(now["selected_indices"]) == 4
            assert not set(now["selected_indices"]) & set(now["labeled_indices"])
            assert nxt["labeled_indices"] == now["labeled_indices"] + now["selected_indices"]
        assert per[2]["selected_indices"] == []
    sel = read_selections(str(out))
    assert sel.num_rows == 4 * 2 * 4
    nnm_scores = [s for s, a in zip(sel["score"].to_pylist(), sel["acq_label"].to_pylist(),
                                    strict=True) if a.startswith("nnm")]
    assert all(np.isfinite(nnm_scores))
    # NNM ran the model over the pool: each pick keeps the 68 landmarks it was ranked on.
    for pred, acq in zip(sel["pred_landmarks"].to_pylist(), sel["acq_label"].to_pylist(),
                         strict=True):
        if acq.startswith("nnm"):
            assert pred is not None and len(pred) == 68 * 2 and all(np.isfinite(pred))
        else:
            assert pred is None


def test_cells_that_differ_by_acquisition_share_round_zero(
    experiment: tuple[Path, int, str, str],
) -> None:
    out, _, _, _ = experiment
    rows = read_rounds(str(out)).to_pylist()
    r0 = [r for r in rows if r["round"] == 0]
    # Same seed -> same L0 and the same round-0 model (trained once, reused once).
    for seed in (0, 1):
        pair = [r for r in r0 if r["seed"] == seed]
        assert len(pair) == 2
        assert pair[0]["labeled_indices"] == pair[1]["labeled_indices"]
        assert pair[0]["nme_test"] == pair[1]["nme_test"]
        assert sorted(r["reused_round0"] for r in pair) == [False, True]


def test_rerun_into_the_same_folder_refuses(experiment: tuple[Path, int, str, str],
                                            tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out, _, spec_text, _ = experiment
    spec = tmp_path / "spec.toml"
    spec.write_text(spec_text)
    before = sorted(p.name for p in (out / "results" / "rounds").iterdir())
    assert main(["run", str(spec), "--out", str(out)]) == 2
    assert "already holds an experiment" in capsys.readouterr().out
    assert sorted(p.name for p in (out / "results" / "rounds").iterdir()) == before


def test_status_counts_rounds(experiment: tuple[Path, int, str, str],
                              capsys: pytest.CaptureFixture) -> None:
    out, _, _, _ = experiment
    assert main(["status", str(out)]) == 0
    assert "e2e: 12/12 trial-rounds (100%), 4/4 cells complete" in capsys.readouterr().out


def test_status_takes_global_flags_after_the_command(experiment: tuple[Path, int, str, str],
                                                    capsys: pytest.CaptureFixture) -> None:
    out, _, _, _ = experiment
    assert main(["status", str(out), "--debug"]) == 0
    assert main(["--debug", "status", str(out)]) == 0
    assert capsys.readouterr().out.count("12/12 trial-rounds") == 2


def test_dashboard_prints_grid_snapshots(experiment: tuple[Path, int, str, str]) -> None:
    _, _, _, printed = experiment
    lines = printed.splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith("e2e: ")]
    # The first event prints a snapshot, the end of the run prints the last one.
    assert len(starts) >= 2
    last = lines[starts[-1]:starts[-1] + 24]
    assert last[0].startswith("e2e: 12/12 trial-rounds (100%), 4/4 cells complete")
    assert last[1].startswith("cells: 4 done, 0 running, 0 pending, 0 failed")
    rows = {line.split()[0]: line.split()[1:] for line in last[4:6]}
    assert rows["scaf/random"][0] == "2/2"
    assert rows["scaf/nnm(discard_top=0.1,window=3)"][0] == "2/2"
    # Node use as the trials reported it with their last round.
    node = next(line for line in last if " running  cpu " in line)
    assert re.search(r"cpu \d+%  mem \d+\.\d/\d+\.\d GB$", node)


def test_snapshot_reads_the_state_file_tune_wrote(experiment: tuple[Path, int, str, str]) -> None:
    out, _, _, _ = experiment
    snap = take_snapshot(out)
    assert snap.tune_state_file.startswith("experiment_state-")
    assert all(c.trial is not None for c in snap.cells)
    assert [c.trial.status for c in snap.cells if c.trial] == ["TERMINATED"] * 4
    assert all(c.trial.num_failures == 0 and c.trial.start_time for c in snap.cells if c.trial)
    assert snap.complete and snap.ended and snap.done == snap.total == 12


def _result_files(exp: Path) -> dict[str, list[str]]:
    return {t: sorted(p.name for p in (exp / "results" / t).iterdir())
            for t in ("rounds", "selections")}


def test_run_resume_on_the_finished_run_retrains_nothing(
        experiment: tuple[Path, int, str, str], tmp_path: Path,
        capsys: pytest.CaptureFixture) -> None:
    # Last in the module: it runs Ray again on the shared experiment (which it must leave
    # as it was).
    out, code, spec_text, _ = experiment
    assert code == 0
    spec = tmp_path / "spec.toml"
    spec.write_text(spec_text)
    files = _result_files(out)
    rows = sorted(read_rounds(str(out)).to_pylist(), key=lambda r: (r["cell_id"], r["round"]))
    trials = sorted(p.name for p in (out / "tune").iterdir() if p.is_dir())
    cells = sorted(c.cell_id for c in ExperimentFolder.open(out).info.cells)
    assert len(trials) == len(cells) == 4
    capsys.readouterr()

    assert main(["run", str(spec), "--out", str(out), "--resume", "--plain"]) == 0, (
        capsys.readouterr().out[-3000:])
    assert "resuming" in capsys.readouterr().out
    read = read_table(str(out), "rounds")
    assert read.duplicates_dropped == 0 and read.skipped == []
    keys = sorted(zip(read.table["cell_id"].to_pylist(), read.table["round"].to_pylist(),
                      strict=True))
    assert keys == [(c, r) for c in cells for r in range(3)]  # each (cell, round) exactly once
    # Nothing ran again: no new result file, the same rows (write and training times), and
    # Tune holds the same four trials.
    assert _result_files(out) == files
    again = sorted(read.table.to_pylist(), key=lambda r: (r["cell_id"], r["round"]))
    assert [(r["written_at"], r["train_seconds"]) for r in again] == [
        (r["written_at"], r["train_seconds"]) for r in rows]
    assert sorted(p.name for p in (out / "tune").iterdir() if p.is_dir()) == trials
