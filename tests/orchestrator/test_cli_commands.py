"""`scaf-al acquisitions` and `scaf-al config show [PRESET]` through `orchestrator.cli.main`:
exit codes and what they print, checked against the documented names and the preset files."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from orchestrator.cli import main

# The presets shipped with the project, as files (README: "quickstart, 300w_table2, ...").
PRESET_FILES = Path(__file__).resolve().parents[2] / "orchestrator" / "presets"
PRESETS = ("300w_table2", "quickstart", "wflw_table3", "wflw_table4")
# The built-in acquisitions and a phrase of what each is (the SCAF paper's NNM, core-set
# k-center greedy, heatmap entropy, uniform random).
BUILT_INS = {
    "entropy": "entropy",
    "kcenter_greedy": "k-center",
    "nnm": "Negative Neighborhood Magnitude",
    "random": "random",
}


def _cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(argv)
    out = capsys.readouterr()
    return code, out.out + out.err


def test_acquisitions_lists_the_built_ins_sorted(capsys: pytest.CaptureFixture[str]) -> None:
    code, text = _cli(["acquisitions"], capsys)
    assert code == 0
    # One entry per acquisition: its name, two spaces, the description (which may wrap
    # onto lines of its own at the terminal width).
    entries: dict[str, str] = {}
    name = ""
    for line in text.splitlines():
        m = re.match(r"^(\w+)  (.*)$", line)
        if m:
            name = m.group(1)
            entries[name] = m.group(2)
        elif name:
            entries[name] += " " + line.strip()
    assert set(BUILT_INS) <= set(entries)
    assert list(entries) == sorted(entries)
    for acq, phrase in BUILT_INS.items():
        assert phrase.lower() in entries[acq].lower(), (acq, entries[acq])


@pytest.mark.parametrize("preset", PRESETS)
def test_config_show_prints_the_preset_file(preset: str,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    code, text = _cli(["config", "show", preset], capsys)
    assert code == 0
    assert text == (PRESET_FILES / f"{preset}.toml").read_text()


def test_config_show_defaults_to_the_quickstart(capsys: pytest.CaptureFixture[str]) -> None:
    code, text = _cli(["config", "show"], capsys)
    assert code == 0
    assert text == (PRESET_FILES / "quickstart.toml").read_text()
    # What it prints is a spec to copy: valid TOML naming the quickstart experiment.
    doc = tomllib.loads(text)
    assert doc["experiment"]["name"] == "quickstart"


def test_config_show_unknown_preset_is_one_line_exit_2(
        capsys: pytest.CaptureFixture[str]) -> None:
    code, text = _cli(["config", "show", "table9"], capsys)
    assert code == 2
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1, text
    assert lines[0].startswith("error:") and "'table9'" in lines[0]
    assert all(p in lines[0] for p in PRESETS)
