"""Landmark model files: weights plus layout and box adjustment, read back safely."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from trainers.models import (
    CheckpointError,
    build_model,
    load_landmark_model,
    load_model,
    read_landmark_info,
    save_checkpoint,
    save_landmark_model,
)

# A 5-point layout: points 0/1 and 3/4 swap when mirrored, 2 (the nose) stays.
PERM_5 = [1, 0, 2, 4, 3]


def _small(landmarks: int = 5, disc: bool = False) -> torch.nn.Module:
    torch.manual_seed(1)
    return build_model("scaf", landmarks, 64, 0.25, with_discriminators=disc).eval()


def test_round_trip_keeps_weights_layout_and_meta(tmp_path: Path) -> None:
    src = _small(disc=True)
    path = save_landmark_model(src, tmp_path / "m.pt", flip_perm=PERM_5, eye_idx=(0, 1),
                               box_adjust=(0.0, 0.1), meta={"round": 3, "data": "folder"})
    model, info = load_landmark_model(path)
    assert (info.path, info.input_size, info.num_landmarks) == (path, 64, 5)
    assert info.config.arch == "scaf" and info.config.width == 0.25
    assert info.flip_perm == (1, 0, 2, 4, 3) and info.eye_idx == (0, 1)
    assert info.box_adjust == (0.0, 0.1) and info.meta == {"round": 3, "data": "folder"}
    assert not info.standard_layout and not model.has_discriminators and not model.training
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(2)) * 0.3
    with torch.no_grad():
        assert torch.equal(model.heatmaps(x), src.heatmaps(x))
    # Plain torch.load with weights_only=True reads it (nothing needs unpickling), and the
    # discriminators were left out of the file.
    raw = torch.load(path, weights_only=True)
    assert not any(k.startswith(("D.", "D_z.")) for k in raw["state_dict"])
    assert raw["extra"]["landmark_model"]["flip_perm"] == PERM_5
    assert load_model(path).config == model.config


def test_checkpoint_without_entry_gets_standard_68_tables(tmp_path: Path) -> None:
    path = save_checkpoint(_small(68), tmp_path / "grid.pt")
    info = read_landmark_info(path)
    assert info.standard_layout
    assert info.eye_idx == (36, 45) and info.flip_perm[0] == 16 and info.flip_perm[36] == 45
    assert info.box_adjust == (0.2, 0.12)  # 3FabRec's 300-W adjustment


@pytest.mark.parametrize(
    ("write", "match"),
    [
        (lambda p: p.write_bytes(b"not a torch file at all"), "cannot be read"),
        (lambda p: save_checkpoint(build_model("scaf", 0, 64, 0.25), p), "auto-encoder"),
        (lambda p: save_checkpoint(_small(5), p), "5 landmarks and no 'landmark_model'"),
        (lambda p: save_checkpoint(_small(5), p, extra={"landmark_model": {"version": 9}}),
         "not a version-1 entry"),
        (lambda p: save_checkpoint(_small(5), p, extra={"landmark_model": {
            "version": 1, "flip_perm": [0, 1, 2, 3], "eye_idx": [0, 1],
            "box_adjust": [0.2, 0.1]}}), "flip permutation must be a permutation of 0..4"),
    ],
    ids=["garbage", "auto-encoder", "unknown-layout", "bad-version", "bad-flip"],
)
def test_bad_files_are_one_clear_error_naming_the_file(tmp_path: Path, write, match) -> None:
    path = tmp_path / "model.pt"
    write(path)
    with pytest.raises(CheckpointError, match=match) as err:
        load_landmark_model(path)
    assert str(path) in str(err.value)


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match=f"{tmp_path / 'nope.pt'}: no such file"):
        load_landmark_model(tmp_path / "nope.pt")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"flip_perm": [1, 0, 2, 3, 3]}, "permutation of 0..4"),
        ({"flip_perm": [1, 2, 0, 3, 4]}, "its own inverse"),
        ({"eye_idx": (0, 5)}, "two different indices in 0..4"),
        ({"box_adjust": (0.2,)}, "two fractions"),
    ],
)
def test_save_refuses_tables_that_do_not_fit(tmp_path: Path, kwargs: dict, match: str) -> None:
    args = {"flip_perm": PERM_5, "eye_idx": (0, 1), **kwargs}
    with pytest.raises(ValueError, match=match):
        save_landmark_model(_small(5), tmp_path / "m.pt", **args)
    assert not (tmp_path / "m.pt").exists()


def test_save_refuses_an_auto_encoder(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="needs a model with a landmark head"):
        save_landmark_model(build_model("scaf", 0, 64, 0.25), tmp_path / "m.pt",
                            flip_perm=[], eye_idx=(0, 1))
