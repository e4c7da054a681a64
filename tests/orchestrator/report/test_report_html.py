"""The self-contained HTML page, loaded in a real browser (Debian's headless chromium)."""

from __future__ import annotations

import re
import shutil
import subprocess
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from orchestrator.cli.commands import main
from orchestrator.cli.watch import watch_html
from orchestrator.report.html import render_html
from orchestrator.results.experiment_folder import ExperimentFolder
from tests.helpers.cells import make_cell
from tests.helpers.store import write_info, write_round
from trainers.config.cell import DataConfig

TINY = DataConfig(options={"n_pool": 40, "n_test": 12})
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"]


def chromium() -> str:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        pytest.fail("Debian's chromium is needed for the browser tests: scripts/test.sh "
                    "installs it (apt-get install chromium)")
    return exe


@pytest.fixture
def exp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SCAF_AL_CACHE", str(tmp_path / "cache"))
    exp = tmp_path / "exp"
    cells = [make_cell("random", 0, data=TINY, sizes=(10, 12)),
             make_cell("nnm", 0, data=TINY, sizes=(10, 12))]
    write_info(exp, cells, name="html-exp")
    write_round(exp, cells[0], 0, {"test": 0.12}, selected=[11, 12])
    write_round(exp, cells[0], 1, {"test": 0.09})
    write_round(exp, cells[1], 0, {"test": 0.12}, selected=[30, 31], scores=[2.0, 1.0])
    return exp


def test_report_html_loads_in_a_real_browser(exp: Path, tmp_path: Path) -> None:
    page = tmp_path / "site" / "report.html"
    assert main(["report", str(exp), "--format", "html", "--out", str(page)]) == 0
    text = page.read_text()
    # Self-contained: no script, and every src/href is inline data or an anchor (the
    # http:// strings left are XML namespace names, which are never fetched).
    assert "<script" not in text and "<link" not in text
    assert re.findall(r"""(?:src|href)\s*=\s*["'](?!data:|#)""", text) == []
    assert "<svg" in text and "data:image/png;base64," in text
    shot = tmp_path / "shot.png"
    profile = tmp_path / "chromium-profile"
    base = [chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}"]
    subprocess.run([*base, "--window-size=1280,1600", f"--screenshot={shot}",
                    page.as_uri()], check=True, capture_output=True, timeout=60)
    with Image.open(shot) as im:
        px = np.asarray(im.convert("L"), dtype=np.float64)
    assert px.shape == (1600, 1280)
    assert px.std() > 10  # not a blank page: text, tables, plots
    dom = subprocess.run([*base, "--dump-dom", page.as_uri()], check=True,
                         capture_output=True, text=True, timeout=60).stdout
    assert "<table>" in dom and "scaf / random" in dom and "scaf / nnm" in dom
    assert "3/4 trial-rounds (75%)" in dom
    assert "Against random at the same size" in dom


def test_watch_html_rewrites_until_the_run_ends(exp: Path, tmp_path: Path) -> None:
    folder = ExperimentFolder.open(exp)
    assert "http-equiv='refresh' content='5'" in render_html(folder, refresh=5, gallery="")
    page = tmp_path / "live.html"

    def finish() -> None:
        time.sleep(1.0)
        write_round(exp, make_cell("nnm", 0, data=TINY, sizes=(10, 12)), 1, {"test": 0.1})

    th = threading.Thread(target=finish)
    th.start()
    assert watch_html(exp, page, interval=0.2) == 0
    th.join()
    final = page.read_text()
    assert "4/4 trial-rounds (100%)" in final
    assert "http-equiv='refresh'" not in final  # ended: the page stops reloading
    assert not list(page.parent.glob(".live.html.*"))  # no temporary file left behind
