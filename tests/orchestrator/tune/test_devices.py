"""`resources.device` against the GPUs the trials get, refused before anything exists, and
the driver that never touches a GPU (pre-training in a child process, the "auto" probe in a
Ray task)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from orchestrator.cli.commands import main

pytestmark = pytest.mark.usefixtures("no_ray_left")

REFUSED = [
    ("an index a one-GPU trial cannot see", {"device": "cuda:1", "gpus_per_trial": 1},
     "resources.device: 'cuda:1': a trial with gpus_per_trial = 1 sees one GPU"),
    ("an index a shared-GPU trial cannot see", {"device": "cuda:1", "gpus_per_trial": 0.5},
     "resources.device: 'cuda:1': a trial with gpus_per_trial = 0.5 sees one GPU"),
    ("CUDA with no GPU per trial", {"device": "cuda", "gpus_per_trial": 0},
     "resources.device: 'cuda' with gpus_per_trial = 0"),
    ("not a device", {"device": "gpu"}, "resources.device: 'gpu' is not a device"),
    ("more GPUs per trial than the logical ones",
     {"device": "cpu", "gpus_per_trial": 2, "num_gpus": 1},
     "resources.gpus_per_trial: 2 GPUs per trial, but this machine has 1 GPU: no trial "
     "could start"),
]


@pytest.mark.parametrize(("what", "resources", "line"), REFUSED, ids=[r[0] for r in REFUSED])
def test_a_device_the_trials_cannot_have_is_one_line_and_no_folder(
    what: str, resources: dict[str, Any], line: str, write_spec: Callable[..., Path],
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    out_dir = tmp_path / "exp"
    code = main(["run", str(write_spec(resources=resources)), "--out", str(out_dir)])
    text = capsys.readouterr()
    lines = [ln for ln in (text.out + text.err).splitlines() if ln.startswith("error:")]
    assert code == 2 and len(lines) == 1, text
    assert " ".join(lines[0].split()).startswith(f"error: {line}"), lines[0]
    assert not out_dir.exists()


def test_cuda_on_a_machine_without_it_is_refused(
    write_spec: Callable[..., Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    for resources in ({"device": "cuda:0", "gpus_per_trial": 1, "num_gpus": 1},
                      {"device": "cuda", "gpus_per_trial": 0.5}):
        out_dir = tmp_path / "exp"
        code = main(["run", str(write_spec(resources=resources)), "--out", str(out_dir)])
        text = capsys.readouterr().out
        assert code == 2, text
        assert "resources.device: " in text and "but this machine has no GPU" in text, text
        assert not out_dir.exists()
    # GPU shares with neither a GPU nor logical ones: no trial could ever start.
    code = main(["run", str(write_spec(resources={"device": "cpu", "gpus_per_trial": 0.5})),
                 "--out", str(tmp_path / "exp")])
    assert code == 2 and "resources.gpus_per_trial: 0.5 GPU per trial" in capsys.readouterr().out


def test_more_gpus_than_this_machine_has_is_refused(
    write_spec: Callable[..., Path], tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A machine with one CUDA GPU (patched: this one may have none): two GPUs per trial
    would leave every trial pending, and cuda:1 is not there. Neither reaches a GPU."""
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    cases = [({"device": "cpu", "gpus_per_trial": 2},
              "error: resources.gpus_per_trial: 2 GPUs per trial, but this machine has 1 GPU: "
              "no trial could start (a trial runs on one node; give at most that many)"),
             ({"device": "cuda:1", "gpus_per_trial": 2},
              "error: resources.device: 'cuda:1', but this machine has 1 GPU, numbered from "
              "cuda:0 (use \"cuda\" or an index below 1)")]
    for resources, line in cases:
        out_dir = tmp_path / "exp"
        code = main(["run", str(write_spec(resources=resources)), "--out", str(out_dir)])
        text = capsys.readouterr()
        lines = [ln for ln in (text.out + text.err).splitlines() if ln.startswith("error:")]
        assert code == 2 and len(lines) == 1, text
        assert " ".join(lines[0].split()) == line
        assert not out_dir.exists()


def test_what_a_trial_sees_and_runs_on(tiny_spec: Callable[..., Any]) -> None:
    from orchestrator.spec.devices import check_trial_device, gpus_seen_by_a_trial, trial_device

    assert [gpus_seen_by_a_trial(g) for g in (0, 0.25, 1, 2, "auto")] == [0, 1, 1, 2, 1]
    check_trial_device(tiny_spec(resources={"device": "cuda:1", "gpus_per_trial": 2}).resources)
    auto = tiny_spec(resources={"device": "auto", "gpus_per_trial": 0}).resources
    assert trial_device(auto) == "cpu"  # no GPU given: never share GPU 0 unasked
    assert trial_device(auto, 0.5) == "auto"
    assert trial_device(tiny_spec(resources={"device": "cuda", "gpus_per_trial": 1}
                                  ).resources) == "cuda"


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_pretraining_in_a_child_writes_the_same_bytes(
    tiny_spec: Callable[..., Any], tmp_path: Path
) -> None:
    """The child (same seed, threads, determinism) writes the file the driver would have
    written; its tensors are those of the old in-driver `device="auto"` run on this CPU."""
    import torch

    from orchestrator.tune.warmup import pretrain_in_child
    from trainers.caches.autoencoder import ensure_autoencoder
    from trainers.loop.data_loading import load_data

    cell = tiny_spec(model={"pretrain": {"steps": 2, "batch_size": 8}}).cells()[0]
    child = pretrain_in_child(cell.to_dict(), tmp_path / "child", device="cpu",
                              deterministic=True)
    here: dict[str, Path] = {}
    for device in ("cpu", "auto"):
        cache = tmp_path / device
        pool, _ = load_data(cell.data, cell.model.input_size, cache)
        here[device] = ensure_autoencoder(cell, pool, cache, device=device)
    assert _sha(child) == _sha(here["cpu"])
    a, b = (torch.load(p, weights_only=True) for p in (child, here["auto"]))
    assert a["state_dict"].keys() == b["state_dict"].keys()
    assert all(torch.equal(a["state_dict"][k], b["state_dict"][k]) for k in a["state_dict"])
    assert a["extra"]["pretrain_config"]["device"] == "cpu"  # the trials' device, recorded


def test_the_child_applies_the_specs_determinism(
    tiny_spec: Callable[..., Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pre-training child (`python -m orchestrator.tune.warmup`, run as the driver runs
    it) takes `[resources] deterministic` from its job, not the driver's torch state, and
    on gives cuBLAS its fixed workspace as a trial does; its `done` message says what it
    ran with."""
    import json
    import os
    import subprocess
    import sys

    from orchestrator.tune.warmup import MARK

    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p or os.getcwd() for p in sys.path)}
    cell = tiny_spec(model={"pretrain": {"steps": 2, "batch_size": 8}}).cells()[0]
    ran: dict[bool, tuple[bool, str | None]] = {}
    for flag in (True, False):  # the second finds the first's file in the cache
        job = {"cell": cell.to_dict(), "cache": str(tmp_path), "device": "cpu",
               "threads": 1, "deterministic": flag}
        out = subprocess.run([sys.executable, "-m", "orchestrator.tune.warmup"], env=env,
                             input=json.dumps(job), capture_output=True, text=True,
                             timeout=300).stdout
        done = [json.loads(ln[len(MARK):]) for ln in out.splitlines() if ln.startswith(MARK)]
        assert done[-1]["kind"] == "done", out
        ran[flag] = (done[-1]["deterministic"], done[-1]["cublas_workspace_config"])
    assert ran == {True: (True, ":4096:8"), False: (False, None)}


def test_a_failing_child_raises_its_error_here(tiny_spec: Callable[..., Any],
                                               tmp_path: Path) -> None:
    import torch

    from orchestrator.tune.warmup import pretrain_in_child

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    cell = tiny_spec().cells()[0]
    with pytest.raises(ValueError, match="device 'cuda' was asked for, but torch sees no CUDA"):
        pretrain_in_child(cell.to_dict(), tmp_path, device="cuda", deterministic=True)


def test_the_driver_never_selects_cuda(tiny_spec: Callable[..., Any], tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """With CUDA seemingly there, a grid with `device = "auto"` and `gpus_per_trial =
    "auto"`: the auto-encoder is trained in a child process and the GPU share is probed in a
    Ray task, and the driver itself never initialises CUDA. (Without a real GPU the probe
    then fails in its task, which sees no CUDA: the error proves where it ran.)"""
    import torch

    from orchestrator.tune.runner import run_experiment
    from trainers.caches.autoencoder import autoencoder_path

    if torch.cuda.is_available():
        pytest.skip("needs a machine without CUDA to tell the driver from its children")
    touched: list[str] = []

    def no_cuda_here(*_a: Any, **_k: Any) -> None:
        touched.append("torch.cuda._lazy_init")
        raise RuntimeError("the driver initialised CUDA")

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "_lazy_init", no_cuda_here)
    cache = tmp_path / "cache"
    spec = tiny_spec(experiment={"cache_dir": str(cache)},
                     resources={"device": "auto", "gpus_per_trial": "auto", "num_gpus": 1})
    exp = tmp_path / "exp"
    with pytest.raises(ValueError, match="torch sees no CUDA device"):
        run_experiment(spec, exp, dashboard=False, log=lambda _m: None)
    assert touched == []
    ae = torch.load(autoencoder_path(spec.cells()[0], cache), weights_only=True)
    # The trials' device, "auto", as the child resolved it: this machine has no CUDA.
    assert ae["extra"]["pretrain_config"]["device"] == "cpu"
    assert not exp.exists()  # the probe comes before the folder
