"""`scaf-al datasets check` and `scaf-al pretrain` through the real CLI entry point."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image
from rich.console import Console

from orchestrator.cli.commands import main
from orchestrator.cli.data_commands import render_check
from trainers.datasets.builtin.synthetic import SyntheticFaces
from trainers.datasets.check import SplitCheck
from trainers.datasets.pts import write_pts
from trainers.models import build_model, load_pretrained, read_checkpoint


def write_face_folder(root: Path, n: int = 3) -> None:
    """`n` synthetic faces as PNG + .pts pairs: a tiny user folder."""
    faces = SyntheticFaces(None, "pool", input_size=64, n_pool=n, n_test=1,
                           outlier_fraction=0.0)
    root.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        Image.fromarray(faces.images[i]).save(root / f"face{i}.png")
        write_pts(root / f"face{i}.pts", faces.landmarks[i])


def test_render_check_table():
    rows = [
        SplitCheck("train", faces=3, expected=3148, problems=["afw: 1 .pts files, expected 337"],
                   boxes=".mat", box_vs_landmarks_px=0.004, status="warning"),
        SplitCheck("challenging", faces=1, expected=135, skipped=7,
                   problems=[f"ibug/{i}.pts: [red] truncated" for i in range(7)],
                   status="warning"),
        SplitCheck("private", expected=600, problems=["300-W folder not found"],
                   status="error"),
    ]
    console = Console(record=True, width=200)
    render_check(rows, title="300-W", console=console)
    text = console.export_text()
    assert "challenging" in text and "3148" in text and "error" in text
    assert "0.00" in text  # the box offset, two decimals
    # Five problems per split are shown, the rest counted; file text is not rich markup.
    assert "ibug/4.pts: [red] truncated" in text and "ibug/5.pts" not in text
    assert "... 2 more" in text


def test_datasets_check_folder(tmp_path, capsys):
    write_face_folder(tmp_path / "faces")
    assert main(["datasets", "check", "folder", str(tmp_path / "faces")]) == 0
    out = capsys.readouterr().out
    assert "all" in out and "3 faces" in out


def test_datasets_check_reports_bad_files(tmp_path, capsys):
    root = tmp_path / "faces"
    write_face_folder(root)
    (root / "face1.png").write_bytes(b"not a png")
    # A bad image is a warning (the split still opens); --strict turns it into a failure.
    assert main(["datasets", "check", "folder", str(root)]) == 0
    assert main(["datasets", "check", "folder", str(root), "--strict"]) == 1
    assert "warning" in capsys.readouterr().out


def test_datasets_check_missing_root_fails(tmp_path, capsys):
    assert main(["datasets", "check", "300w", str(tmp_path / "nowhere")]) == 1
    assert "error" in capsys.readouterr().out


def test_pretrain_writes_a_checkpoint_and_resumes(tmp_path, capsys):
    torch.set_num_threads(1)
    out = tmp_path / "ae" / "ae.pt"
    argv = ["pretrain", "--root", str(tmp_path / "synth"), "--input-size", "64",
            "--width", "0.25", "--batch-size", "4", "--device", "cpu", "--out", str(out)]
    assert main([*argv, "--steps", "3"]) == 0
    assert read_checkpoint(out).extra["step"] == 3
    model = build_model("scaf", num_landmarks=68, input_size=64, width=0.25)
    report = load_pretrained(model, out)
    assert report.source == "scaf-al"
    first = capsys.readouterr().out
    assert "resuming" not in first

    assert main([*argv, "--steps", "5"]) == 0
    assert "resuming from step 3" in capsys.readouterr().out
    assert read_checkpoint(out).extra["step"] == 5
    assert main([*argv, "--steps", "5"]) == 0
    assert "nothing to do" in capsys.readouterr().out


def test_pretrain_user_errors(tmp_path, capsys):
    assert main(["pretrain", "--data", "300w", "--out", str(tmp_path / "a.pt")]) == 2
    assert "--root" in capsys.readouterr().out
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"garbage")
    assert main(["pretrain", "--steps", "2", "--out", str(bad)]) == 2
    assert str(bad) in capsys.readouterr().out
    with pytest.raises(ValueError, match="input_size"):
        main(["--debug", "pretrain", "--input-size", "48", "--steps", "1",
              "--out", str(tmp_path / "c.pt")])
