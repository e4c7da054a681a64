"""Checkpoints: round trip, official 3FabRec snapshots, and clear errors for bad files."""

from __future__ import annotations

import os
import pickle

import pytest
import torch

from trainers.models import (
    CheckpointError,
    build_model,
    load_model,
    load_pretrained,
    read_checkpoint,
    save_checkpoint,
)


def _randomise(model: torch.nn.Module, seed: int) -> torch.nn.Module:
    """Random weights *and* BN statistics, so eval outputs depend on every tensor."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for k, v in model.state_dict().items():
            if v.is_floating_point():
                r = torch.rand(v.shape, generator=g)
                v.copy_(r + 0.5 if k.endswith(("running_var", "bn1.weight")) else (r - 0.5) * 0.2)
    return model.eval()


def _official_file(path, model, arch="Fabrec", *, legacy=False, drop=(), add=None, sd=None):
    """Write `model` as 3FabRec's trainer does: {arch, z_dim, input_size, state_dict}."""
    state = dict(model.state_dict()) if sd is None else sd
    for k in drop:
        del state[k]
    state.update(add or {})
    snapshot = {"arch": arch, "z_dim": 99, "input_size": model.config.input_size,
                "state_dict": state}
    # 3FabRec ran on PyTorch 1.1, whose torch.save wrote the legacy (non-zip) format.
    torch.save(snapshot, path, _use_new_zipfile_serialization=not legacy)
    return path


@pytest.fixture(scope="module")
def official_256(tmp_path_factory):
    """A full-size Fabrec (98 landmarks) + discriminators under the official key names."""
    torch.manual_seed(0)
    src = _randomise(build_model("3fabrec", 98, 256, 1.0, with_discriminators=True), 1)
    path = tmp_path_factory.mktemp("official") / "saae.mdl"
    return _official_file(path, src, legacy=True), src


def _small(arch="scaf", landmarks=5, disc=False, seed=3):
    torch.manual_seed(seed)
    return _randomise(build_model(arch, landmarks, 64, 0.25, with_discriminators=disc), seed)


def _x(size=64, n=2):
    return torch.randn(n, 3, size, size, generator=torch.Generator().manual_seed(7)) * 0.3


def test_round_trip_restores_outputs_and_config(tmp_path):
    src = _small("scaf", disc=True)
    path = save_checkpoint(src, tmp_path / "run" / "model.pt", extra={"step": 7, "t": (1, 2.5)})
    assert [p.name for p in path.parent.iterdir()] == ["model.pt"]  # no temp file left
    back = load_model(path)
    assert back.config == src.config and back.has_discriminators
    x = _x()
    with torch.no_grad():
        torch.testing.assert_close(back.heatmaps(x), src.heatmaps(x), rtol=0, atol=0)
        torch.testing.assert_close(back.reconstruct(x), src.reconstruct(x), rtol=0, atol=0)
    fresh = build_model("scaf", 5, 64, 0.25)
    report = load_pretrained(fresh, path, strict_head=True)
    assert report.source == "scaf-al" and report.fresh == []
    assert report.loaded == ["Q", "P", "LMH", "LMH.skip8", "LMH.skip16", "LMH.skip32",
                             "LMH.skip64"]
    assert {k.split(".")[0] for k in report.set_aside} == {"D_z", "D"}
    ckpt = read_checkpoint(path)
    assert ckpt.extra == {"step": 7, "t": (1, 2.5)}


def test_official_snapshot_loads_into_3fabrec_and_scaf(official_256):
    path, src = official_256
    x = _x(256, 1)
    fab = build_model("3fabrec", 98, 256, 1.0)
    rep = load_pretrained(fab, path)
    assert rep.source == "official" and rep.loaded == ["Q", "P", "LMH"] and rep.fresh == []
    assert {k.split(".")[0] for k in rep.set_aside} == {"D_z", "D"}
    with torch.no_grad():
        torch.testing.assert_close(fab.eval().heatmaps(x), src.heatmaps(x), rtol=0, atol=0)

    scaf = build_model("scaf", 98, 256, 1.0, with_discriminators=True)
    rep = load_pretrained(scaf, path)
    assert rep.loaded == ["Q", "P", "LMH", "D_z", "D"] and rep.set_aside == []
    assert rep.fresh == ["LMH.skip8", "LMH.skip16", "LMH.skip32", "LMH.skip64"]
    for key in ("Q.layer3.1.bn2.running_var", "P.lin.weight", "LMH.t2.weight",
                "D.main.9.running_mean", "D_z.lin2.bias"):
        assert torch.equal(scaf.state_dict()[key], src.state_dict()[key]), key
    with pytest.raises(CheckpointError, match="strict_head.*skip"):
        load_pretrained(build_model("scaf", 98, 256, 1.0), path, strict_head=True)

    rebuilt = load_model(path)
    assert rebuilt.config.arch == "3fabrec" and rebuilt.config.num_landmarks == 98
    assert rebuilt.has_discriminators


def test_official_autoencoder_snapshot_leaves_head_fresh(tmp_path):
    ae = _small("3fabrec", landmarks=0, disc=True)
    path = _official_file(tmp_path / "saae.mdl", ae, arch="AAE")
    scaf = build_model("scaf", 68, 64, 0.25)
    rep = load_pretrained(scaf, tmp_path)  # an official snapshot folder works too
    assert rep.loaded == ["Q", "P"] and "LMH" in rep.fresh
    with pytest.raises(CheckpointError, match="strict_head"):
        load_pretrained(scaf, path, strict_head=True)
    assert load_model(path).config.num_landmarks == 0


def test_landmark_checkpoint_into_autoencoder_sets_head_aside(tmp_path):
    path = save_checkpoint(_small("3fabrec"), tmp_path / "m.pt")
    rep = load_pretrained(build_model("3fabrec", 0, 64, 0.25), path)
    assert rep.loaded == ["Q", "P"] and all(k.startswith("LMH.") for k in rep.set_aside)


@pytest.mark.parametrize("case, pattern", [
    ("shape", r"wrong shapes: Q\.fc\.weight file \(98, 128\) vs model \(99, 128\)"),
    ("missing", r"missing keys \[P\.layer2\.0\.bn1\.running_mean\]"),
    ("unexpected", r"unexpected keys \[Q\.layer9\.weight\]"),
    ("unknown_group", r"unexpected keys \[Extra\.w\]"),
    ("no_encoder", r"no encoder stem 'Q\.conv1\.weight'"),
    ("partial_head", r"missing keys \[LMH\.t3\.weight\]"),
])
def test_mismatched_tensors_are_named(tmp_path, case, pattern):
    src = _small("3fabrec")
    sd = dict(src.state_dict())
    if case == "shape":
        sd["Q.fc.weight"] = torch.zeros(98, 128)
    elif case == "missing":
        del sd["P.layer2.0.bn1.running_mean"]
    elif case == "unexpected":
        sd["Q.layer9.weight"] = torch.zeros(1)
    elif case == "unknown_group":
        sd["Extra.w"] = torch.zeros(1)
    elif case == "no_encoder":
        sd = {k: v for k, v in sd.items() if not k.startswith("Q.")}
    elif case == "partial_head":
        del sd["LMH.t3.weight"]
    path = _official_file(tmp_path / "bad.mdl", src, sd=sd)
    with pytest.raises(CheckpointError, match=pattern) as err:
        load_pretrained(build_model("3fabrec", 5, 64, 0.25), path)
    assert str(path) in str(err.value)


def test_missing_bn_counters_are_tolerated(tmp_path):
    src = _small("3fabrec")
    sd = {k: v for k, v in src.state_dict().items() if not k.endswith("num_batches_tracked")}
    path = _official_file(tmp_path / "old.mdl", src, sd=sd)
    assert load_pretrained(build_model("3fabrec", 5, 64, 0.25), path).loaded[:2] == ["Q", "P"]


@pytest.mark.parametrize("model_kw, file_kw, pattern", [
    (dict(input_size=128), {}, r"input_size 64 \(model 128\)"),
    (dict(width=0.5), {}, r"width 0.25 \(model 0.5\)"),
    (dict(num_landmarks=7), {}, r"5 landmarks \(model 7\)"),
    (dict(arch="3fabrec"), dict(arch="scaf"), r"arch 'scaf' \(model '3fabrec'\)"),
])
def test_other_architecture_is_refused_with_both_sides(tmp_path, model_kw, file_kw, pattern):
    fkw = dict(arch="3fabrec", num_landmarks=5, input_size=64, width=0.25) | file_kw
    mkw = dict(fkw) | model_kw
    path = save_checkpoint(build_model(**fkw), tmp_path / "m.pt")
    with pytest.raises(CheckpointError, match=pattern):
        load_pretrained(build_model(**mkw), path)


def test_official_input_size_mismatch(official_256):
    path, _ = official_256
    with pytest.raises(CheckpointError, match=r"input_size 256 \(model 64\)"):
        load_pretrained(build_model("3fabrec", 98, 64, 0.25), path)


def test_truncated_and_garbage_files(tmp_path):
    good = save_checkpoint(_small(), tmp_path / "good.pt")
    data = good.read_bytes()
    for name, payload in [("trunc.pt", data[: len(data) // 2]), ("noise.pt", os.urandom(4096)),
                          ("empty.pt", b"")]:
        bad = tmp_path / name
        bad.write_bytes(payload)
        with pytest.raises(CheckpointError, match=f"{name}.*cannot be read"):
            load_pretrained(build_model("scaf", 5, 64, 0.25), bad)
    odd = tmp_path / "odd.pt"
    torch.save({"weights": torch.zeros(2)}, odd)
    with pytest.raises(CheckpointError, match="neither a scaf-al checkpoint"):
        read_checkpoint(odd)
    with pytest.raises(CheckpointError, match="no such file"):
        read_checkpoint(tmp_path / "absent.pt")


class _Evil:
    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


class _Plain:
    def __init__(self) -> None:
        self.w = torch.zeros(1)


def test_malicious_pickles_are_refused_not_run(tmp_path):
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.mdl"
    with open(evil, "wb") as f:
        pickle.dump({"state_dict": {"Q.conv1.weight": _Evil(str(marker))}}, f, protocol=2)
    evil_zip = tmp_path / "evil_zip.mdl"
    torch.save({"arch": "AAE", "state_dict": _Evil(str(marker))}, evil_zip)
    plain = tmp_path / "plain.mdl"
    torch.save({"arch": "AAE", "state_dict": _Plain()}, plain)
    for path, what in ((evil, "system"), (evil_zip, "system"), (plain, "_Plain")):
        with pytest.raises(CheckpointError, match=f"{path.name}: refused.*{what}"):
            load_pretrained(build_model("3fabrec", 5, 64, 0.25), path)
    # Pickle protocol 4 uses opcodes the safe unpickler does not take: unreadable, not run.
    evil4 = tmp_path / "evil4.mdl"
    with open(evil4, "wb") as f:
        pickle.dump({"state_dict": _Evil(str(marker))}, f, protocol=4)
    with (pytest.warns(UserWarning, match="pickle protocol"),
          pytest.raises(CheckpointError, match="evil4.mdl: cannot be read")):
        read_checkpoint(evil4)
    assert not marker.exists()


def test_extra_must_be_plain_data(tmp_path):
    with pytest.raises(TypeError, match=r"extra\['cfg'\]: _Plain"):
        save_checkpoint(_small(), tmp_path / "m.pt", extra={"cfg": _Plain()})
    assert not list(tmp_path.iterdir())
