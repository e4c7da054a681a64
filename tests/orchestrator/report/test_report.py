"""`scaf-al report`: numbers, layout, best markers and paired tests on a known result store
written through the real writer."""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

import numpy as np
import pytest

from orchestrator.cli.commands import main
from orchestrator.report.render import (
    render_csv,
    render_latex,
    render_markdown,
    render_terminal,
)
from orchestrator.report.tables import build_report, load_report, paired_test
from orchestrator.results.readers import read_rounds
from tests.helpers.cells import make_cell
from tests.helpers.store import write_info, write_round
from trainers.config.cell import DataConfig

W300 = DataConfig(name="300w", root="/data/300w")


# Synthetic store: random and nnm, 3 seeds, sizes 10 and 20 (NME fractions).
RANDOM_NME = {0: (0.10, 0.08), 1: (0.12, 0.09), 2: (0.11, 0.07)}
NNM_NME = {0: (0.09, 0.06), 1: (0.10, 0.07), 2: (0.10, 0.05)}


@pytest.fixture
def synth_store(tmp_path: Path) -> Path:
    exp = tmp_path / "exp"
    cells = []
    for acq, table in (("random", RANDOM_NME), ("nnm", NNM_NME)):
        for seed, values in table.items():
            cell = make_cell(acq, seed)
            cells.append(cell)
            for rnd, v in enumerate(values):
                write_round(exp, cell, rnd, {"test": v})
    write_info(exp, cells)
    return exp


def _method(rep, acq):
    return next(m for m in rep.methods if m.acq_label == acq)


def test_means_stds_and_seed_counts(synth_store: Path) -> None:
    rep = load_report(synth_store).datasets[0]
    assert rep.dataset == "synthetic" and rep.sizes == [10, 20] and rep.splits == ["test"]
    assert [m.acq_label for m in rep.methods] == ["random", "nnm"]  # random first
    st = rep.stats(_method(rep, "random"), 10, "test")
    vals = np.array([10.0, 12.0, 11.0])
    assert st.n == 3
    assert st.mean == pytest.approx(vals.mean())
    assert st.std == pytest.approx(vals.std(ddof=1))
    nnm20 = rep.stats(_method(rep, "nnm"), 20, "test")
    assert nnm20.mean == pytest.approx(6.0) and nnm20.std == pytest.approx(1.0)


def test_best_per_column_and_markdown_bold(synth_store: Path) -> None:
    report = load_report(synth_store)
    rep = report.datasets[0]
    assert rep.best[(10, "test")] == {_method(rep, "nnm")}
    md = render_markdown(report)
    lines = md.splitlines()
    header = next(line for line in lines if line.startswith("| architecture"))
    assert [c.strip() for c in header.strip("|").split("|")] == [
        "architecture / acquisition", "seeds", "10 · test", "20 · test"]
    nnm_row = next(line for line in lines if line.startswith("| scaf / nnm "))
    assert "**9.67 ± 0.58**" in nnm_row and "**6.00 ± 1.00**" in nnm_row
    rnd_row = next(line for line in lines if line.startswith("| scaf / random "))
    assert "11.00 ± 1.00" in rnd_row and "**" not in rnd_row
    assert "| 3 |" in rnd_row  # seeds column


def test_paired_comparison_known_p_values(synth_store: Path) -> None:
    rep = load_report(synth_store).datasets[0]
    c = next(c for c in rep.comparisons if c.n_labeled == 20)
    assert c.reference.acq_label == "random" and c.method.acq_label == "nnm"
    # Size 20: nnm (6, 7, 5) - random (8, 9, 7) = (-2, -2, -2) percentage points.
    # The t-test is degenerate (no variance) and said to be n/a.
    # Wilcoxon, exact: |d| ranks (2, 2, 2), T+ = 0. Of the 2^3 = 8 equally likely sign
    # assignments only "all negative" has T+ <= 0: two-sided p = 2 * 1/8 = 0.25.
    assert c.n_pairs == 3 and c.mean_diff == pytest.approx(-2.0)
    assert c.p_ttest is None
    assert c.p_wilcoxon == pytest.approx(0.25)
    # Size 10: nnm (9, 10, 10) - random (10, 12, 11) = d = (-1, -2, -1).
    # mean d = -4/3; squared deviations 1/9 + 4/9 + 1/9 = 2/3, sd = sqrt((2/3) / 2) = 1/sqrt(3);
    # t = mean / (sd / sqrt(3)) = (-4/3) / (1/3) = -4, df = 2;
    # two-sided p (df = 2) = 1 - |t| / sqrt(2 + t^2) = 1 - 4 / sqrt(18) = 1 - 2*sqrt(2)/3.
    # Wilcoxon: every difference negative, so again 2 * 1/8 = 0.25.
    c10 = next(c for c in rep.comparisons if c.n_labeled == 10)
    assert c10.mean_diff == pytest.approx(-4 / 3)
    assert c10.std_diff == pytest.approx(1 / math.sqrt(3))
    assert c10.p_ttest == pytest.approx(1 - 2 * math.sqrt(2) / 3)  # 0.05719
    assert c10.p_wilcoxon == pytest.approx(0.25)


def test_paired_test_matches_by_seed_and_says_na() -> None:
    n, d, sd, pt, pw = paired_test({0: 1.0, 5: 3.0}, {5: 1.0, 7: 0.0})
    assert (n, d, sd, pt, pw) == (1, 2.0, None, None, None)
    # Seeds 0-4 pair up (given in a different order; 9 and 7 have no partner).
    a = {0: 5.0, 1: 4.0, 2: 6.5, 3: 3.0, 4: 7.0, 9: 1.0}
    b = {4: 13.0, 3: 8.0, 2: 9.5, 1: 6.0, 0: 4.0, 7: 0.0}
    # d = a - b by seed = (1, -2, -3, -5, -6): sum -15, mean -3, sum of squares 75;
    # sd^2 = (75 - 15^2/5) / 4 = 7.5; t = -3 / sqrt(7.5 / 5) = -sqrt(6), df = 4.
    # Two-sided p for df = 4 with theta = atan(t / 2): 1 - sin(theta) (1 + cos(theta)^2 / 2),
    # sin(theta)^2 = t^2 / (4 + t^2) = 0.6, cos(theta)^2 = 0.4: p = 1 - 1.2 sqrt(0.6) = 0.07048.
    # Wilcoxon, exact: |d| ranks 1..5, only rank 1 positive: T+ = 1. Sign assignments
    # (2^5 = 32) with T+ <= 1: {} and {1}; two-sided p = 2 * 2/32 = 0.125.
    n, d, sd, pt, pw = paired_test(a, b)
    assert n == 5 and d == pytest.approx(-3.0) and sd == pytest.approx(math.sqrt(7.5))
    assert pt == pytest.approx(1 - 1.2 * math.sqrt(0.6))
    assert pw == pytest.approx(0.125)
    # Two pairs, d = (-1, -3): mean -2, sd sqrt(2), t = -2 / (sqrt(2) / sqrt(2)) = -2, df = 1;
    # p (df = 1) = 1 - 2 atan(|t|) / pi = 0.29517. Wilcoxon: T+ = 0, p = 2 * 1/4 = 0.5.
    n, d, sd, pt, pw = paired_test({0: 2.0, 1: 1.0}, {0: 3.0, 1: 4.0})
    assert (n, d) == (2, -2.0) and sd == pytest.approx(math.sqrt(2))
    assert pt == pytest.approx(1 - 2 * math.atan(2) / math.pi)
    assert pw == pytest.approx(0.5)


def test_significant_result_reads_better(tmp_path: Path) -> None:
    exp = tmp_path / "sig"
    rng = np.random.default_rng(3)
    for seed in range(8):
        base = 0.10 + 0.01 * rng.standard_normal()
        write_round(exp, make_cell("random", seed, sizes=(10,)), 0, {"test": base})
        write_round(exp, make_cell("entropy", seed, sizes=(10,)), 0,
                    {"test": base - 0.02 + 0.002 * rng.standard_normal()})
    report = load_report(exp)
    c = report.datasets[0].comparisons[0]
    assert c.p_ttest < 1e-4 and c.mean_diff == pytest.approx(-2.0, abs=0.3)
    md = render_markdown(report)
    assert "| better |" in md
    assert "| 8 |" in md  # pairs


def test_300w_layout_latex_and_csv(tmp_path: Path) -> None:
    exp = tmp_path / "w300"
    for seed in (0, 1):
        for acq, off in (("random", 0.0), ("nnm", -0.005)):
            cell = make_cell(acq, seed, data=W300, sizes=(10, 20))
            for rnd in (0, 1):
                v = 0.06 - 0.01 * rnd + off + 0.001 * seed
                # Splits written in an unusual column order; the report puts them in the
                # paper's order.
                write_round(exp, cell, rnd,
                            {"full": v, "challenging": v + 0.03, "common": v - 0.01})
    report = load_report(exp)
    rep = report.datasets[0]
    assert rep.splits == ["common", "challenging", "full"]
    tex = render_latex(report)
    assert r"\multicolumn{3}{c}{10} & \multicolumn{3}{c}{20} \\" in tex
    assert r"& Common & Challenging & Full & Common & Challenging & Full \\" in tex
    assert r"\cmidrule(lr){2-4}\cmidrule(lr){5-7}" in tex
    nnm_line = next(line for line in tex.splitlines() if line.startswith("scaf / nnm"))
    assert nnm_line.count(r"\textbf{") == 6  # nnm is best in every column
    assert r"\textbf{4.55}{\scriptsize$\pm$0.07}" in nnm_line  # common @10: 4.5 and 4.6
    rows = list(csv.DictReader(io.StringIO(render_csv(report))))
    assert len(rows) == 2 * 2 * 3
    r = next(r for r in rows if r["acquisition"] == "nnm" and r["n_labeled"] == "20"
             and r["split"] == "full")
    assert float(r["nme_mean_pct"]) == pytest.approx(100 * np.mean([0.045, 0.046]))
    assert r["best"] == "*" and r["ref_acquisition"] == "random" and r["n_pairs"] == "2"
    assert float(r["diff_vs_random_pp"]) == pytest.approx(-0.5)
    rr = next(r for r in rows if r["acquisition"] == "random" and r["n_labeled"] == "20"
              and r["split"] == "full")
    assert rr["best"] == "" and rr["p_ttest"] == ""


def test_split_option_and_errors(synth_store: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="--split 'common' is not in the results; splits: test"):
        load_report(synth_store, split="common")
    with pytest.raises(ValueError, match="no results yet"):
        load_report(tmp_path)
    with pytest.raises(ValueError, match="does not exist"):
        load_report(tmp_path / "missing")


def test_fewer_seeds_marked_and_terminal(synth_store: Path, capsys) -> None:
    # A fourth random seed only at size 10: the other cells show [k] for fewer seeds.
    write_round(synth_store, make_cell("random", 3), 0, {"test": 0.13})
    report = build_report(read_rounds(str(synth_store)))
    md = render_markdown(report)
    assert "9.67 ± 0.58 [3]" in md and "[k] = only k seeds (others have 4)" in md
    from rich.console import Console

    con = Console(width=200, record=True, file=io.StringIO())
    con.print(render_terminal(report))
    text = con.export_text()
    assert "9.67 ± 0.58 [3] *" in text and "Against random" in text
    assert main(["report", str(synth_store), "--format", "csv"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith("dataset,arch,acquisition")


def test_protocol_settings_split_rows_when_they_vary(tmp_path: Path) -> None:
    import dataclasses

    from trainers.training.supervised import TrainerConfig

    exp = tmp_path / "exp"
    scratch = make_cell("nnm", 0)
    warm = dataclasses.replace(scratch, trainer=TrainerConfig(init="warm", warm_steps=50))
    for cell, v in ((scratch, 0.10), (warm, 0.12)):
        write_round(exp, cell, 0, {"test": v})
    rows = read_rounds(str(exp)).to_pylist()
    assert sorted((r["trainer_init"], r["warm_steps"], r["l0"], r["budget_remainder"])
                  for r in rows) == [("scratch", None, "random", "round"),
                                     ("warm", 50, "random", "round")]
    (rep,) = build_report(read_rounds(str(exp))).datasets
    assert sorted(m.name() for m in rep.methods) == [
        "scaf / nnm [init scratch]", "scaf / nnm [init warm, warm 50 steps]"]
