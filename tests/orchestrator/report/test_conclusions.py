"""The report's conclusions on result stores written through the real writer, with answers
worked out by hand: AUBC, labels saved, the penalty matrix, corrected verdicts, seeds
needed, and every format showing them (`--format json` read back as JSON)."""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

import pytest

from orchestrator.cli.commands import main
from orchestrator.report.conclusions import aubc_rows, penalties, savings
from orchestrator.report.render import render_csv, render_latex, render_markdown
from orchestrator.report.tables import load_report
from tests.helpers.cells import make_cell
from tests.helpers.store import write_info, write_round

SIZES = (10, 20, 40)
# NME (fractions) by seed at 10, 20 and 40 labeled images. Round 0 is shared by the
# acquisitions of a seed, as in a real grid.
CURVES = {
    "random": {0: (0.12, 0.10, 0.08), 1: (0.14, 0.10, 0.06), 2: (0.13, 0.10, 0.07)},
    "nnm": {0: (0.12, 0.08, 0.06), 1: (0.14, 0.07, 0.05), 2: (0.13, 0.09, 0.04)},
    "entropy": {0: (0.12, 0.11, 0.09), 1: (0.14, 0.11, 0.08), 2: (0.13, 0.11, 0.10)},
}


def _store(exp: Path, curves: dict, sizes: tuple[int, ...]) -> Path:
    cells = []
    for acq, by_seed in curves.items():
        for seed, values in by_seed.items():
            cell = make_cell(acq, seed, sizes=sizes)
            cells.append(cell)
            for rnd, v in enumerate(values):
                write_round(exp, cell, rnd, {"test": v})
    write_info(exp, cells)
    return exp


@pytest.fixture
def curves_store(tmp_path: Path) -> Path:
    return _store(tmp_path / "exp", CURVES, SIZES)


def test_aubc_and_labels_saved_on_a_hand_made_table(curves_store: Path) -> None:
    rep = load_report(curves_store).datasets[0]
    got = {a.method.acq_label: a for a in aubc_rows(rep)}
    # AUBC = (10 (e10 + e20) / 2 + 20 (e20 + e40) / 2) / 30, in %:
    # random: s0 (110 + 180) / 30 = 9.667, s1 (120 + 160) / 30 = 9.333, s2 (115 + 170) / 30
    #   = 9.5; mean 9.5, deviations +1/6, -1/6, 0: sd = sqrt((2/36) / 2) = 1/6.
    assert got["random"].mean == pytest.approx(9.5) and got["random"].std == pytest.approx(1 / 6)
    # nnm: s0 (100 + 140) / 30 = 8, s1 (105 + 120) / 30 = 7.5, s2 (110 + 130) / 30 = 8;
    #   mean 23.5 / 3, deviations +1/6, -1/3, +1/6: sd = sqrt((6/36) / 2) = sqrt(1/12).
    assert got["nnm"].mean == pytest.approx(23.5 / 3)
    assert got["nnm"].std == pytest.approx(math.sqrt(1 / 12)) and got["nnm"].seeds == 3
    # entropy: s0 (115 + 200) / 30 = 10.5, s1 (125 + 190) / 30 = 10.5, s2 (120 + 210) / 30
    #   = 11; mean 32 / 3.
    assert got["entropy"].mean == pytest.approx(32 / 3)
    assert [a.method.acq_label for a in aubc_rows(rep) if a.best] == ["nnm"]
    saved = {s.method.acq_label: s for s in savings(rep)}
    # Random's mean NME at 40 is 7 %. nnm's mean curve 13, 8, 5 reaches it between 20 and
    # 40: 20 + (8 - 7) * 20 / 3 = 26.667 images, 1 - 26.667 / 40 = 1/3 saved.
    assert saved["nnm"].labels == pytest.approx(80 / 3)
    assert saved["nnm"].saved_fraction == pytest.approx(1 / 3)
    # Random reaches its own value at 40 (nothing saved); entropy (13, 11, 9) never does.
    assert (saved["random"].labels, saved["random"].saved_fraction) == (40.0, 0.0)
    assert saved["entropy"].labels is None and saved["entropy"].saved_fraction is None


def test_json_has_the_lists_and_fields_scripts_read(curves_store: Path, capsys) -> None:
    assert main(["report", str(curves_store), "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)  # one object, nothing else on stdout
    assert {"aubc", "savings", "penalty", "versus_random"} <= set(out)
    assert all(set(r) == {"method", "split", "mean", "std", "seeds"} for r in out["aubc"])
    assert all(set(r) == {"method", "split", "labels", "saved_fraction"}
               for r in out["savings"])
    assert all(set(r) == {"split", "arch", "methods", "matrix"} for r in out["penalty"])
    assert all(set(r) == {"method", "split", "labeled", "delta_mean", "p_ttest", "p_holm",
                          "verdict", "seeds_needed"} for r in out["versus_random"])
    aubc = {r["method"]: r for r in out["aubc"]}
    assert aubc["scaf/random"] == {"method": "scaf/random", "split": "test",
                                   "mean": pytest.approx(9.5), "std": pytest.approx(1 / 6),
                                   "seeds": 3}
    saved = {r["method"]: r for r in out["savings"]}
    assert saved["scaf/nnm"]["labels"] == pytest.approx(80 / 3)
    assert saved["scaf/entropy"] == {"method": "scaf/entropy", "split": "test",
                                     "labels": None, "saved_fraction": None}
    (pen,) = out["penalty"]
    assert pen["methods"] == ["scaf/random", "scaf/entropy", "scaf/nnm"]
    vr = {(r["method"], r["labeled"]): r for r in out["versus_random"]}
    assert sorted(vr) == [(f"scaf/{a}", n) for a in ("entropy", "nnm") for n in SIZES]
    assert {r["verdict"] for r in out["versus_random"]} <= {"better", "worse", "n.s.",
                                                            "too few seeds"}
    # nnm - random at 20: (-2, -3, -1), mean -2 percentage points.
    assert vr[("scaf/nnm", 20)]["delta_mean"] == pytest.approx(-2.0)
    (settle,) = out["settle"]
    assert settle["command"] == f"scaf-al extend {curves_store} --seeds {settle['seeds']}"
    assert settle["seeds"] == max(r["seeds_needed"] for r in out["versus_random"]
                                  if r["seeds_needed"] is not None)


# Penalty store: 4 seeds, sizes 10 and 20 (percent). At 10 the methods share round 0.
# At 20, random = (10, 12, 11, 13); nnm - random = (-1.9, -2.1, -1.9, -2.1); entropy -
# random = (1, -1, 0.5, -0.5).
RANDOM_20 = (10.0, 12.0, 11.0, 13.0)
NNM_OFF = (-1.9, -2.1, -1.9, -2.1)
ENTROPY_OFF = (1.0, -1.0, 0.5, -0.5)


def _penalty_store(exp: Path) -> Path:
    curves = {acq: {s: (0.15, (RANDOM_20[s] + off[s]) / 100) for s in range(4)}
              for acq, off in (("random", (0.0,) * 4), ("nnm", NNM_OFF),
                               ("entropy", ENTROPY_OFF))}
    return _store(exp, curves, (10, 20))


def test_penalty_matrix_counts_the_known_significant_pairs(tmp_path: Path) -> None:
    rep = load_report(_penalty_store(tmp_path / "pen")).datasets[0]
    (p,) = penalties(rep)
    assert [m.acq_label for m in p.methods] == ["random", "entropy", "nnm"] and p.sizes == 2
    # At 20 (df = 3, two-sided, 5 %):
    # nnm vs random: d = (-1.9, -2.1, -1.9, -2.1), mean -2, sd sqrt(0.04 / 3):
    #   t = -2 / (sd / 2) = -34.6, p ~ 5e-5 -> nnm beats random.
    # entropy vs random: mean 0, t = 0, p = 1 -> no one beats anyone.
    # entropy vs nnm: d = (2.9, 1.1, 2.4, 1.6), mean 2, squared deviations 0.81 + 0.81
    #   + 0.16 + 0.16 = 1.94, sd = sqrt(1.94 / 3) = 0.804, t = 2 / (0.804 / 2) = 4.97;
    #   p = 1 - (2/pi)(theta + sin(theta) cos(theta)), theta = atan(t / sqrt(3)): 0.0156
    #   -> nnm beats entropy.
    # At 10 every method has the same NME: no test. Each win counts 1/L = 1/2.
    assert p.matrix == [[0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.5, 0.5, 0.0]]
    # Column means (how often each is beaten): 0.5 / 3 for random and entropy, 0 for nnm.
    assert p.column_mean == pytest.approx([1 / 6, 1 / 6, 0.0])
    v = {(c.method.acq_label, c.n_labeled): c for c in rep.comparisons}
    # Holm family: the two comparisons at 20 (at 10 there is no p). nnm's p ~ 5e-5 doubles
    # and stays far below 5 %; entropy's p = 1 stays 1.
    assert rep.family == 2
    assert v[("nnm", 20)].verdict == "better" and v[("nnm", 20)].seeds_needed is None
    assert v[("entropy", 20)].verdict == "n.s." and v[("entropy", 20)].p_holm == pytest.approx(1)
    # No difference to speak of (d ~ 0): the power never gets to 80 % -> the cap.
    assert v[("entropy", 20)].seeds_needed == 100
    # At 10 nothing differs: no verdict either way, and nothing to plan from.
    assert v[("nnm", 10)].verdict == "n.s." and v[("nnm", 10)].seeds_needed is None


def test_two_pairs_give_no_verdict_whatever_the_p_value(tmp_path: Path) -> None:
    # As in the quickstart: 2 seeds, nnm - random at 20 = (3.0, 3.2): t = 31, df = 1,
    # p = 1 - 2 atan(31) / pi = 0.021 < 0.05, which the uncorrected report called "worse".
    exp = _store(tmp_path / "two", {"random": {0: (0.15, 0.100), 1: (0.15, 0.120)},
                                    "nnm": {0: (0.15, 0.130), 1: (0.15, 0.152)}}, (10, 20))
    report = load_report(exp)
    (c,) = [c for c in report.datasets[0].comparisons if c.n_labeled == 20]
    assert c.p_ttest == pytest.approx(1 - 2 * math.atan(31) / math.pi)
    assert c.verdict == "too few seeds"
    # d = 3.1 / sqrt(0.02) = 21.9: two pairs would have the power, three are the minimum.
    assert c.seeds_needed == 3
    md = render_markdown(report)
    assert "| worse |" not in md and "too few seeds" in md
    assert f"scaf-al extend {exp} --seeds 3" in md


def test_holm_turns_three_raw_hits_into_no_verdict(tmp_path: Path) -> None:
    # 3 seeds, sizes 10-40; at 20, 30 and 40 nnm - random = (-2, -3, -2) percentage points:
    # mean -7/3, sd 1/sqrt(3), t = -7, df = 2, p = 1 - 7 / sqrt(51) = 0.0198 each (raw:
    # "better" three times). Holm over the family of 3: 3 * 0.0198 = 0.0594 > 0.05.
    rnd = {s: (0.15, 0.10 + 0.01 * s, 0.09 + 0.01 * s, 0.08 + 0.01 * s) for s in range(3)}
    off = (0.02, 0.03, 0.02)
    nnm = {s: (0.15, *(v - off[s] for v in rnd[s][1:])) for s in range(3)}
    rep = load_report(_store(tmp_path / "holm", {"random": rnd, "nnm": nnm},
                             (10, 20, 30, 40))).datasets[0]
    tested = [c for c in rep.comparisons if c.n_labeled > 10]
    assert rep.family == 3
    for c in tested:
        assert c.p_ttest == pytest.approx(1 - 7 / math.sqrt(51))
        assert c.p_holm == pytest.approx(3 * (1 - 7 / math.sqrt(51)))
        assert c.verdict == "n.s." and c.seeds_needed is not None and c.seeds_needed >= 3


def test_every_text_format_shows_the_conclusions(curves_store: Path, tmp_path: Path) -> None:
    report = load_report(curves_store)
    md = render_markdown(report)
    assert "### Over the whole budget" in md and "Penalty matrix, scaf, test" in md
    nnm = next(line for line in md.splitlines() if line.startswith("| scaf / nnm | test"))
    assert "**7.83 ± 0.29**" in nnm and "26.7 (of 40)" in nnm and "33%" in nnm
    # The family: nnm and entropy at 20 and 40, less entropy at 20, whose differences
    # (1, 1, 1) have no spread (no t-test); at 10 all methods share round 0.
    assert "Holm–Bonferroni over the family of the 3 comparisons" in md
    rows = list(csv.DictReader(io.StringIO(render_csv(report))))
    r = next(r for r in rows if r["acquisition"] == "nnm" and r["n_labeled"] == "20")
    assert float(r["aubc_mean_pct"]) == pytest.approx(23.5 / 3, abs=1e-4) and r["aubc_best"] == "*"
    assert float(r["saved_fraction"]) == pytest.approx(1 / 3, abs=1e-4)
    # nnm - random at 20: (-2, -3, -1), t = -2 / (1 / sqrt(3)) = -3.46, df = 2,
    # p = 1 - 3.46 / sqrt(14) = 0.074; Holm over 3: 0.223.
    assert float(r["p_holm"]) == pytest.approx(3 * (1 - math.sqrt(12 / 14)), rel=1e-5)
    assert r["holm_family"] == "3" and r["verdict"] == "n.s." and int(r["seeds_needed"]) > 3
    tex = render_latex(report)
    assert r"\caption{Over the whole budget." in tex and r"\textbf{7.83 $\pm$ 0.29}" in tex
    assert "Verdict & Seeds needed" in tex
    page = tmp_path / "r.html"
    assert main(["report", str(curves_store), "--format", "html", "--out", str(page)]) == 0
    html = page.read_text()
    assert "Over the whole budget" in html and "Penalty matrix" in html
    assert "Holm–Bonferroni" in html
