"""`scaf-al datasets check` and `scaf-al pretrain` through the real CLI entry point."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image

from orchestrator.cli import main
from trainers.datasets.pts import write_pts
from trainers.datasets.synthetic import SyntheticFaces
from trainers.models import build_model, load_pretrained, read_checkpoint


def write_face_folder(root: Path, n: int = 3) -> None:
    """`n` synthetic faces as PNG + .pts pairs: a tiny user folder."""
    faces = SyntheticFaces(None, "pool", input_size=64, n_pool=n, n_test=1,
                           outlier_fraction=0.0)
    root.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        Image.fromarray(faces.images[i]).save(root / f"face{i}.png")
        write_pts(root / f"face{i}.pts", faces.landmarks[i])


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
