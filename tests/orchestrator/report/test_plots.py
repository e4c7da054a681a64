"""Learning-curve files from a known result store: valid PNG of the expected size, SVG."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from orchestrator.cli.commands import main
from orchestrator.report.plots import write_learning_curves
from orchestrator.results.readers import read_rounds
from tests.helpers.cells import make_cell
from tests.helpers.store import write_round
from trainers.config.cell import DataConfig

W300 = DataConfig(name="300w", root="/data/300w")


def _store(exp: Path, data=None, splits=("test",)) -> None:
    for seed in (0, 1):
        for acq, off in (("random", 0.0), ("nnm", -0.004), ("entropy", 0.002)):
            cell = make_cell(acq, seed, data=data, sizes=(10, 20, 30))
            for rnd in range(3):
                v = 0.08 - 0.01 * rnd + off + 0.002 * seed
                write_round(exp, cell, rnd, {s: v + 0.01 * i for i, s in enumerate(splits)})


def test_png_and_svg_one_panel_per_split(tmp_path: Path) -> None:
    exp = tmp_path / "exp"
    _store(exp, data=W300, splits=("common", "challenging", "full"))
    files = write_learning_curves(read_rounds(str(exp)), tmp_path / "plots", dpi=100)
    assert [f.name for f in files] == ["learning_curves.png", "learning_curves.svg"]
    with Image.open(files[0]) as im:
        im.verify()
    with Image.open(files[0]) as im:
        # figsize (4.6 * 3 + 0.4) x 4.0 inches at 100 dpi
        assert im.format == "PNG" and im.size == (1420, 400)
    svg = files[1].read_text()
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg
    for text in ("Common", "Challenging", "Full", "scaf / nnm (2 seeds)", "labeled images"):
        assert text in svg


def test_single_split_size_and_split_option(tmp_path: Path) -> None:
    exp = tmp_path / "exp"
    _store(exp, splits=("test", "other"))
    files = write_learning_curves(read_rounds(str(exp)), tmp_path / "p", split="test", dpi=50)
    with Image.open(files[0]) as im:
        assert im.size == (350, 200)  # one panel: at least 7.0 x 4.0 inches, at 50 dpi
    with pytest.raises(ValueError, match="--split 'nope'"):
        write_learning_curves(read_rounds(str(exp)), tmp_path / "p", split="nope")


def test_report_cli_writes_plots(tmp_path: Path, capsys) -> None:
    exp = tmp_path / "exp"
    _store(exp)
    assert main(["report", str(exp), "--format", "markdown",
                 "--plots", str(tmp_path / "out")]) == 0
    assert (tmp_path / "out" / "learning_curves.png").stat().st_size > 1000
    assert (tmp_path / "out" / "learning_curves.svg").exists()
    assert "| scaf / entropy |" in capsys.readouterr().out
