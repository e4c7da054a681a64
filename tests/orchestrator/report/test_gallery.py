"""Gallery: the picks of a cell and round (with the no-discard sibling row) drawn from the
real pool into a PNG of the documented size."""

from __future__ import annotations

from pathlib import Path

import pytest
import tomli_w
from PIL import Image

from orchestrator.cli.commands import main
from orchestrator.report.gallery import gallery_rows, write_gallery
from tests.helpers.cells import make_cell
from tests.helpers.store import write_info, write_round
from trainers.config.cell import DataConfig

DATA = DataConfig(options={"n_pool": 30, "n_test": 10})


@pytest.fixture
def exp(tmp_path: Path) -> Path:
    exp = tmp_path / "exp"
    exp.mkdir()
    spec = {"experiment": {"name": "g", "cache_dir": str(tmp_path / "cache")},
            "data": {"name": "synthetic", "options": {"n_pool": 30, "n_test": 10}},
            "budgets": [{"final": 15, "step": 5}]}
    (exp / "spec.toml").write_text(tomli_w.dumps(spec))
    rnd = make_cell("random", 0, data=DATA, sizes=(10, 15))
    nnm = make_cell("nnm", 0, data=DATA, sizes=(10, 15))
    disc = make_cell("nnm", 0, {"discard_top": 0.1}, data=DATA, sizes=(10, 15))
    other_seed = make_cell("nnm", 1, {"discard_top": 0.1}, data=DATA, sizes=(10, 15))
    write_info(exp, [rnd, nnm, disc, other_seed])
    write_round(exp, rnd, 0, {"test": 0.1}, selected=[1, 2, 3, 4, 5], scores=[0.0] * 5)
    # Written in a shuffled order: the gallery must sort by rank (the writer gives
    # rank = position, so the order below is the selection order).
    write_round(exp, nnm, 0, {"test": 0.1}, selected=[17, 15, 16, 20, 21],
                scores=[0.9, 0.8, 0.7, 0.6, 0.5])
    write_round(exp, disc, 0, {"test": 0.1}, selected=[22, 23, 24, 25, 26],
                scores=[0.4, 0.35, 0.3, 0.2, 0.1])
    write_round(exp, other_seed, 0, {"test": 0.1}, selected=[6, 7, 8, 9, 11])
    return exp


def test_rows_pair_discard_with_no_discard(exp: Path) -> None:
    cfg, rows = gallery_rows(exp, None, 0, 3)
    # Default: the first score-based cell (nnm without discard), with its discard sibling.
    assert cfg.acquisition.label() == "nnm"
    assert [r.label for r in rows] == ["nnm s0\nno discard: top picks",
                                       "nnm(discard_top=0.1) s0\ndiscard top 10%: picks"]
    assert [p.pool_index for p in rows[0].picks] == [17, 15, 16]
    assert [p.rank for p in rows[0].picks] == [0, 1, 2]
    assert rows[0].picks[0].score == pytest.approx(0.9)
    # Asking for the discard cell gives the same two rows, no-discard first.
    disc_id = rows[1].cell_id
    cfg2, rows2 = gallery_rows(exp, disc_id[:6], 0, 5)
    assert cfg2.acquisition.params == {"discard_top": 0.1}
    assert [r.cell_id for r in rows2] == [rows[0].cell_id, disc_id]
    assert [p.pool_index for p in rows2[1].picks] == [22, 23, 24, 25, 26]


def test_seed_without_sibling_is_alone(exp: Path) -> None:
    import json

    cells = json.loads((exp / "experiment.json").read_text())["cells"]
    seed1 = next(c["cell_id"] for c in cells if c["config"]["seed"] == 1)
    _, rows = gallery_rows(exp, seed1, 0, 5)
    assert len(rows) == 1 and rows[0].label.endswith("discard top 10%: picks")


def test_errors_name_what_is_wrong(exp: Path) -> None:
    with pytest.raises(ValueError, match="has no selections in round 1; rounds with "
                                         "selections: 0"):
        gallery_rows(exp, _cell_ids(exp)[1], 1, 5)
    with pytest.raises(ValueError, match="--cell 'zzz' matches 0 cells"):
        gallery_rows(exp, "zzz", 0, 5)
    with pytest.raises(ValueError, match="--top must be >= 1"):
        gallery_rows(exp, None, 0, 0)
    with pytest.raises(ValueError, match="no cell has selections in this round"):
        gallery_rows(exp, None, 3, 5)


def _cell_ids(exp: Path) -> list[str]:
    import json

    return [c["cell_id"] for c in json.loads((exp / "experiment.json").read_text())["cells"]]


def test_png_size_and_cli(exp: Path, tmp_path: Path, capsys) -> None:
    out = write_gallery(exp, None, 0, 4, tmp_path / "g.png")
    with Image.open(out) as im:
        im.verify()
    with Image.open(out) as im:
        # (0.5 + 4 * 1.8) x (0.45 + 2 * (1.8 + 0.45)) inches at 100 dpi
        assert im.format == "PNG" and im.size == (770, 495)
        px = im.convert("RGB").getcolors(1 << 20)
    # Ground-truth landmarks are drawn in green (lime).
    assert any(c == (0, 255, 0) for _, c in px)
    assert main(["gallery", str(exp), "--round", "0", "--top", "2"]) == 0
    written = capsys.readouterr().out.split("wrote ", 1)[1].strip()
    assert Path(written).parent == exp and Path(written).name.endswith("-r0.png")
    with Image.open(written) as im:
        assert im.size == (410, 495)
