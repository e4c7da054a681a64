"""Bad input gets one readable error naming the field, before any work starts (no Ray)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tomli_w
from PIL import Image

from orchestrator.cli.commands import main
from orchestrator.spec.experiment import SpecError
from trainers.datasets.pts import write_pts
from trainers.models import build_model, save_checkpoint
from trainers.models.checkpoint import CheckpointError, load_pretrained

BAD_SPECS: list[tuple[str, dict[str, Any], str]] = [
    ("zero budget", {"budgets": [{"sizes": [0, 12]}]}, "budgets[0].sizes"),
    ("negative final", {"budgets": [{"final": -5, "step": 2}]}, "budgets[0].final"),
    ("zero step", {"budgets": [{"final": 20, "step": 0}]}, "budgets[0].step"),
    ("budget larger than pool", {"budgets": [{"sizes": [10, 50]}]}, "budgets[0]"),
    ("unknown acquisition", {"acquisitions": [{"name": "bogus"}]}, "acquisitions[0]"),
    ("unknown acquisition parameter", {"acquisitions": [{"name": "nnm", "bogus_param": 1}]},
     "acquisitions[0]"),
    ("missing data root", {"data": {"name": "300w"}}, "data.root"),
    ("missing pretrained file", {"model": {"pretrained": "/no/such/ae.pt"}},
     "model.pretrained"),
    ("unknown field", {"trainer": {"bogus": 1}}, "trainer.bogus"),
    ("unknown top-level table", {"bogus": {"x": 1}}, "bogus"),
    ("bad trainer value", {"trainer": {"steps": 0}}, "trainer.steps"),
    ("unknown pretrain key", {"model": {"pretrain": {"step": 300}}}, "model.pretrain.step"),
    ("wrong pretrain type", {"model": {"pretrain": {"steps": "many"}}},
     "model.pretrain.steps"),
    ("bad architecture", {"experiment": {"architectures": ["resnet"]}},
     "experiment.architectures[0]"),
    ("unknown tracker", {"tracking": {"wandb": "x"}}, "tracking.wandb"),
    ("tensorboard neither flag nor folder", {"tracking": {"tensorboard": 3}},
     "tracking.tensorboard"),
    ("empty mlflow uri", {"tracking": {"mlflow": " "}}, "tracking.mlflow"),
]


def _run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(argv)
    out = capsys.readouterr()
    return code, out.out + out.err


@pytest.mark.parametrize(("what", "over", "field"), BAD_SPECS, ids=[b[0] for b in BAD_SPECS])
def test_bad_spec_is_one_line_naming_the_field(
    what: str, over: dict[str, Any], field: str, write_spec: Callable[..., Path],
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    spec = write_spec(**over)
    out_dir = tmp_path / "exp"
    code, text = _run_cli(["run", str(spec), "--out", str(out_dir)], capsys)
    assert code == 2, text
    # One error line (a banner naming the run may come before it when the check runs
    # at start-up), naming the field.
    errors = [ln for ln in text.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1, text
    assert f"{field}:" in errors[0] or f"{field} " in errors[0], errors[0]
    assert "Traceback" not in text
    assert not out_dir.exists(), "nothing may be created for an invalid spec"


def test_k_larger_than_unlabeled_pool_is_refused(write_spec: Callable[..., Path]) -> None:
    from orchestrator.spec.experiment import load_spec

    # Pool of 40, L0 = 10: K = 35 cannot be drawn from the 30 unlabeled images. (Checked
    # with load_spec, not `scaf-al run`, so a missing check does not start a whole run.)
    spec = write_spec(budgets=[{"final": 40, "step": 35}])
    with pytest.raises(SpecError, match=r"budgets\[0\]\.step"):
        load_spec(spec)


def test_bad_toml_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[experiment\nname = 'x'\n")
    code, text = _run_cli(["run", str(bad), "--out", str(tmp_path / "exp")], capsys)
    assert code == 2
    assert "not valid TOML" in text and str(bad) in text
    assert len(text.strip().splitlines()) == 1 and "Traceback" not in text


def test_missing_spec_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, text = _run_cli(["run", str(tmp_path / "nope.toml")], capsys)
    assert code == 2 and "nope.toml" in text and "Traceback" not in text


def test_debug_raises_the_real_error(
    write_spec: Callable[..., Path], tmp_path: Path
) -> None:
    spec = write_spec(trainer={"bogus": 1})
    with pytest.raises(SpecError, match=r"trainer\.bogus"):
        main(["--debug", "run", str(spec), "--out", str(tmp_path / "exp")])


def test_missing_data_root_folder_refused_before_work(
    spec_doc: Callable[..., dict[str, Any]], tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    doc = spec_doc()
    doc["data"] = {"name": "300w", "root": str(tmp_path / "no-such-300w")}
    doc["budgets"] = [{"sizes": [10, 12]}]
    spec = tmp_path / "spec.toml"
    spec.write_text(tomli_w.dumps(doc))
    out_dir = tmp_path / "exp"
    code, text = _run_cli(["run", str(spec), "--out", str(out_dir)], capsys)
    assert code == 2 and "Traceback" not in text
    assert "no-such-300w" in text, text
    assert not (out_dir / "experiment.json").exists()


def test_resume_of_non_experiment_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                         ) -> None:
    code, text = _run_cli(["resume", str(tmp_path)], capsys)
    assert code == 2 and "not an experiment folder" in text


def test_run_refuses_existing_experiment(
    tiny_spec: Callable[..., Any], write_spec: Callable[..., Path], tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from orchestrator.results.experiment_folder import ExperimentFolder

    out_dir = tmp_path / "exp"
    ExperimentFolder.create(out_dir, tiny_spec())
    before = (out_dir / "experiment.json").read_text()
    code, text = _run_cli(["run", str(write_spec()), "--out", str(out_dir)], capsys)
    assert code == 2 and "already holds an experiment" in text
    assert (out_dir / "experiment.json").read_text() == before


# ----------------------------------------------------------------- checkpoints given by users


def _ae_checkpoint(path: Path, arch: str = "scaf", landmarks: int = 68, size: int = 64) -> Path:
    model = build_model(arch, num_landmarks=landmarks, input_size=size, width=0.25)
    return save_checkpoint(model, path)


def test_checkpoint_for_other_landmark_count_is_refused(tmp_path: Path) -> None:
    f = _ae_checkpoint(tmp_path / "wflw.pt", landmarks=98)
    model = build_model("scaf", num_landmarks=68, input_size=64, width=0.25)
    with pytest.raises(CheckpointError, match="98 landmarks"):
        load_pretrained(model, f)


def test_checkpoint_for_other_architecture_is_refused(tmp_path: Path) -> None:
    f = _ae_checkpoint(tmp_path / "fabrec.pt", arch="3fabrec")
    model = build_model("scaf", num_landmarks=68, input_size=64, width=0.25)
    with pytest.raises(CheckpointError, match="arch"):
        load_pretrained(model, f)


def test_checkpoint_for_other_input_size_is_refused(tmp_path: Path) -> None:
    f = _ae_checkpoint(tmp_path / "big.pt", size=128)
    model = build_model("scaf", num_landmarks=68, input_size=64, width=0.25)
    with pytest.raises(CheckpointError, match="input_size 128"):
        load_pretrained(model, f)


def test_corrupt_checkpoint_is_refused(tmp_path: Path) -> None:
    good = _ae_checkpoint(tmp_path / "good.pt")
    bad = tmp_path / "bad.pt"
    bad.write_bytes(good.read_bytes()[:1000])
    model = build_model("scaf", num_landmarks=68, input_size=64, width=0.25)
    with pytest.raises(CheckpointError, match="cannot be read"):
        load_pretrained(model, bad)


def test_corrupt_pretrained_in_a_run_fails_with_the_file_named(
    tiny_spec: Callable[..., Any], tmp_path: Path, cache_dir: Path
) -> None:
    """A run (the plain loop a trial runs) stops at the bad file, naming it."""
    from trainers.loop.cell_loop import run_cell

    bad = tmp_path / "corrupt.pt"
    bad.write_bytes(b"\x80\x04not a checkpoint at all")
    spec = tiny_spec(model={"pretrained": str(bad)})
    rounds: list[int] = []
    with pytest.raises(CheckpointError, match="corrupt.pt"):
        run_cell(spec.cells()[0], cache_dir=cache_dir, device="cpu",
                 report=lambda r, _s: rounds.append(r.round))
    assert rounds == []


def test_mismatched_pretrained_is_refused_before_trials_start(
    tiny_spec: Callable[..., Any], tmp_path: Path, cache_dir: Path
) -> None:
    """The driver's cache warm-up (before Ray starts) should check `model.pretrained`
    against the spec's model, so a grid does not fail trial by trial, retries included."""
    from orchestrator.tune.preflight import warm_caches

    f = _ae_checkpoint(tmp_path / "big.pt", size=128)
    spec = tiny_spec(model={"pretrained": str(f)})
    with pytest.raises(CheckpointError, match="big.pt"):
        warm_caches(spec, cache_dir, log=lambda _m: None)


def test_state_for_another_cell_is_refused(tiny_spec: Callable[..., Any], cache_dir: Path
                                           ) -> None:
    """A loop checkpoint (labeled set) from another budget schedule is not silently used."""
    from trainers.loop.cell_loop import LoopState, run_cell

    cell = tiny_spec().cells()[0]
    alien = LoopState(round=1, labeled=list(range(15)), rng_state={})
    with pytest.raises(ValueError, match="another cell"):
        run_cell(cell, cache_dir=cache_dir, device="cpu", state=alien,
                 report=lambda _r, _s: None)



def test_unknown_data_option_is_refused_by_the_spec(
    spec_doc: Callable[..., dict[str, Any]], tmp_path: Path
) -> None:
    from orchestrator.spec.experiment import load_spec

    doc = spec_doc()
    doc["data"] = {"name": "synthetic", "options": {"n_pool": 40, "n_test": 12, "bogus": 1}}
    spec = tmp_path / "spec.toml"
    spec.write_text(tomli_w.dumps(doc))
    with pytest.raises(SpecError, match=r"data\.options\.bogus"):
        load_spec(spec)


# ----------------------------------------------------------------- budgets vs a folder's pool


def _face_folder(root: Path, faces: dict[str, int]) -> Path:
    """A `folder` data set: per split, that many 64x48 noise images with 68-point .pts."""
    rng = np.random.default_rng(0)
    for split, count in faces.items():
        for k in range(count):
            img = root / split / f"face{k}.png"
            img.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)).save(img)
            points = np.column_stack([rng.uniform(20, 44, 68), rng.uniform(10, 38, 68)])
            write_pts(img.with_suffix(".pts"), points)
    return root


def test_budget_larger_than_a_folder_pool_is_refused_before_the_folder(
    spec_doc: Callable[..., dict[str, Any]], tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Only loading tells a folder's pool size: the driver loads it before the experiment
    folder (and the auto-encoder, and Ray) exist, and refuses with the budget's path."""
    doc = spec_doc(budgets=[{"final": 8, "step": 1, "initial": 4}])
    doc["data"] = {"name": "folder", "root": str(_face_folder(tmp_path / "faces",
                                                               {"train": 6, "test": 2}))}
    spec = tmp_path / "spec.toml"
    spec.write_text(tomli_w.dumps(doc))
    out_dir = tmp_path / "exp"
    code, text = _run_cli(["run", str(spec), "--out", str(out_dir)], capsys)
    assert code == 2, text
    errors = [ln for ln in text.splitlines() if ln.startswith("error:")]
    assert errors == ["error: budgets[0]: final size 8 is larger than the pool (6 images)"], text
    assert "Traceback" not in text and "auto-encoder" not in text
    assert not out_dir.exists()


def test_driver_of_a_cluster_names_the_paths_it_cannot_see(
    spec_doc: Callable[..., dict[str, Any]], tmp_path: Path
) -> None:
    from orchestrator.spec.experiment import parse_spec
    from orchestrator.tune.preflight import preflight

    doc = spec_doc(model={"pretrained": str(tmp_path / "ae.pt")})
    doc["data"] = {"name": "wflw", "root": "/data/WFLW"}
    spec = parse_spec(doc)
    lines: list[str] = []
    preflight(spec, tmp_path / "cache", address="auto", log=lines.append)
    assert lines == [f"data.root: /data/WFLW, model.pretrained: {tmp_path / 'ae.pt'} are not "
                     "visible from the driver; the workers will check them"]
    assert not (tmp_path / "cache").exists()  # nothing loaded, nothing trained


def test_driver_of_a_cluster_checks_a_visible_pool(
    spec_doc: Callable[..., dict[str, Any]], tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`--address`: the cluster is asked first (port 1 has none: one line, and no data
    work before it); then the pre-flight loads a data root the driver sees, checks the
    budgets against it and names a path only the workers can check."""
    from orchestrator.spec.experiment import parse_spec
    from orchestrator.tune.preflight import preflight

    doc = spec_doc(budgets=[{"final": 8, "step": 2, "initial": 2}])
    doc["data"] = {"name": "folder", "root": str(_face_folder(tmp_path / "faces",
                                                               {"train": 6, "test": 1}))}
    doc["model"]["pretrained"] = str(tmp_path / "elsewhere" / "ae.pt")
    spec = tmp_path / "spec.toml"
    spec.write_text(tomli_w.dumps(doc))
    out_dir = tmp_path / "exp"
    code, text = _run_cli(["run", str(spec), "--out", str(out_dir),
                           "--address", "127.0.0.1:1"], capsys)
    assert code == 2, text
    errors = [ln for ln in text.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and errors[0].startswith(
        "error: --address 127.0.0.1:1: nothing answers at"), text
    assert "not visible from the driver" not in text  # the pre-flight did not run
    assert not out_dir.exists()
    notes: list[str] = []
    with pytest.raises(SpecError, match=r"budgets\[0\]: final size 8 is larger than the "
                                        r"pool \(6 images\)$"):
        preflight(parse_spec(doc, "spec"), tmp_path / "cache", address="127.0.0.1:1",
                  log=notes.append)
    note = (f"model.pretrained: {tmp_path / 'elsewhere' / 'ae.pt'} is not visible from the "
            "driver; the workers will check it")
    assert [" ".join(n.split()) for n in notes] == [note]


def test_auto_gpu_share_needs_a_gpu(write_spec: Callable[..., Path], tmp_path: Path,
                                    capsys: pytest.CaptureFixture[str],
                                    tiny_spec: Callable[..., Any]) -> None:
    import torch

    assert tiny_spec(resources={"gpus_per_trial": "auto"}).resources.gpus_per_trial == "auto"
    code, text = _run_cli(["run", str(write_spec(resources={"gpus_per_trial": "most"})),
                           "--out", str(tmp_path / "a")], capsys)
    assert code == 2 and 'resources.gpus_per_trial: must be a number or "auto"' in text
    if torch.cuda.is_available():
        return  # the refusal below is for machines without a GPU
    out = tmp_path / "b"
    code, text = _run_cli(["run", str(write_spec(resources={"gpus_per_trial": "auto"})),
                           "--out", str(out)], capsys)
    assert code == 2 and '"auto" needs a GPU to probe on' in text
    assert not out.exists()  # refused before the folder was made
