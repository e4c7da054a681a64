"""The CLI's own messages: user text with rich markup is printed as is, and a Ctrl-C says
what the stopped command left and how to go on."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from orchestrator.cli import commands
from orchestrator.cli.commands import main
from orchestrator.cli.parser import build_parser


@pytest.mark.parametrize("name", ["[/x]", "[bold red]", "[/]"])
def test_markup_in_an_error_message_is_printed_as_is(tmp_path: Path, name: str,
                                                     capsys) -> None:
    model = tmp_path / name / "m.pt"
    assert main(["export", str(model), "--format", "torchscript",
                 "--out", str(tmp_path / "out.pt")]) == 2
    out = capsys.readouterr().out.strip()
    assert out == f"error: checkpoint {model}: no such file"


def test_export_over_its_own_model_is_refused_by_the_cli(tmp_path: Path, capsys) -> None:
    model = tmp_path / "m.pt"
    model.write_bytes(b"weights")
    assert main(["export", str(model), "--format", "onnx", "--out", str(model)]) == 2
    out = capsys.readouterr().out.strip()
    assert out.startswith(f"error: --out {model} is the input MODEL {model}")
    assert model.read_bytes() == b"weights"


@pytest.mark.parametrize(("argv", "says"), [
    (["propose", "proj", "--images", "photos", "--k", "3"],
     "the round was not written (earlier rounds are kept); run the same `scaf-al propose`"),
    (["resume", "exp"], "continue with `scaf-al resume exp`"),
    (["run", "grid.toml", "--out", "exp2"], "continue with `scaf-al resume exp2`"),
    (["predict", "x.jpg", "--model", "m.pt", "--out", "p.csv"], "stopped"),
])
def test_ctrl_c_says_how_the_stopped_command_goes_on(argv: list[str], says: str) -> None:
    args = build_parser(sys.modules[commands.__name__]).parse_args(argv)
    assert says in commands._interrupted(args)
    if argv[0] not in ("run", "resume"):
        assert "scaf-al resume" not in commands._interrupted(args)
