"""Security: checkpoints never unpickle code, Ray listens only on 127.0.0.1, results hold no
pickles."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

from trainers.models import build_model
from trainers.models.checkpoint import CheckpointError, load_pretrained

ROOT = Path(__file__).resolve().parents[2]
SOURCE_PACKAGES = ("orchestrator", "trainers", "acquisition", "benchmarks")


class _Payload:
    """Unpickling this object would create the marker file (via `open(path, "w")`)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, tuple[str, str]]:
        return (open, (str(self.marker), "w"))


def _malicious_checkpoint(tmp_path: Path) -> tuple[Path, Path]:
    marker = tmp_path / "pwned"
    f = tmp_path / "evil.pt"
    torch.save({"state_dict": {"Q.x": _Payload(marker)}}, f)
    assert not marker.exists()
    return f, marker


def test_malicious_pickle_is_refused_and_not_executed(tmp_path: Path) -> None:
    f, marker = _malicious_checkpoint(tmp_path)
    model = build_model("scaf", num_landmarks=68, input_size=64, width=0.25)
    with pytest.raises(CheckpointError, match="refused"):
        load_pretrained(model, f)
    assert not marker.exists()


def test_malicious_pretrained_in_a_run_is_refused(
    tiny_spec: Callable[..., Any], tmp_path: Path, cache_dir: Path
) -> None:
    from trainers.loop.cell_loop import run_cell

    f, marker = _malicious_checkpoint(tmp_path)
    cell = tiny_spec(model={"pretrained": str(f)}).cells()[0]
    with pytest.raises(CheckpointError, match="evil.pt"):
        run_cell(cell, cache_dir=cache_dir, device="cpu", report=lambda _r, _s: None)
    assert not marker.exists()


def _calls(tree: ast.AST, dotted: str) -> list[ast.Call]:
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and ast.unparse(node.func) == dotted:
            out.append(node)
    return out


def test_every_torch_load_uses_weights_only() -> None:
    """Static check over the project's sources: no torch.load without weights_only=True,
    and no pickle module use at all."""
    offenders = []
    for pkg in SOURCE_PACKAGES:
        for f in (ROOT / pkg).rglob("*.py"):
            tree = ast.parse(f.read_text(), str(f))
            for call in _calls(tree, "torch.load"):
                kw = {k.arg: k.value for k in call.keywords}
                ok = "weights_only" in kw and isinstance(kw["weights_only"], ast.Constant) \
                    and kw["weights_only"].value is True
                if not ok:
                    offenders.append(f"{f.relative_to(ROOT)}:{call.lineno}")
            for node in ast.walk(tree):
                if isinstance(node, ast.Import | ast.ImportFrom):
                    names = [a.name for a in node.names] + [getattr(node, "module", "") or ""]
                    if any(n.split(".")[0] in ("pickle", "cloudpickle", "dill") for n in names):
                        offenders.append(f"{f.relative_to(ROOT)}:{node.lineno} imports pickle")
    assert offenders == []


def test_result_store_holds_only_parquet(
    tiny_spec: Callable[..., Any], tmp_path: Path, cache_dir: Path
) -> None:
    """A real cell's rows, written by the trial-side writer: only Parquet files."""
    from orchestrator.results.readers import read_rounds
    from orchestrator.results.writer import ResultWriter
    from trainers.loop.cell_loop import run_cell

    torch.set_num_threads(1)
    cell = tiny_spec().cells()[0]
    writer = ResultWriter(str(tmp_path), "tiny")
    run_cell(cell, cache_dir=cache_dir, device="cpu",
             report=lambda r, _s: writer.write_round(cell, r, splits=["test"]))
    assert_only_parquet(tmp_path / "results")
    assert read_rounds(str(tmp_path)).num_rows == 3


def assert_only_parquet(results: Path) -> None:
    files = [p for p in results.rglob("*") if p.is_file()]
    assert files
    for p in files:
        assert p.suffix == ".parquet", p
        head, tail = p.read_bytes()[:4], p.read_bytes()[-4:]
        assert head == b"PAR1" and tail == b"PAR1", p


_PROBE = r"""
import json, os, re, subprocess, sys
from pathlib import Path
from ray import tune  # imported first, as run_experiment does, before ray_session
from orchestrator.tune.ray_runtime import ray_session
from tests.helpers.processes import descendants  # run from the repository root

with ray_session(num_cpus=1, object_store_mb=80):
    import ray
    ray.get(ray.remote(lambda: 1).remote())  # start a worker too
    ours = descendants(os.getpid())
    ss = subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True).stdout
    listen = []
    for line in ss.splitlines():
        pids = {int(x) for x in re.findall(r"pid=(\d+)", line)}
        if pids & ours:
            listen.append([line.split()[3], re.findall(r'"([^"]+)"', line)[0]])
    print("PROBE" + json.dumps({"nodes": [n["NodeManagerAddress"] for n in ray.nodes()],
                                "listen": listen}))
"""


def _local_addr_ok(addr: str) -> bool:
    host = addr.rsplit(":", 1)[0].strip("[]")
    return host in ("127.0.0.1", "::1", "::ffff:127.0.0.1")


def test_local_ray_listens_only_on_loopback() -> None:
    import shutil

    if shutil.which("ss") is None:
        pytest.skip("needs `ss` to list listening sockets")
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    proc = subprocess.run([sys.executable, "-c", _PROBE], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("PROBE")]
    assert line, proc.stdout + proc.stderr
    info = json.loads(line[0][len("PROBE"):])
    assert info["nodes"] == ["127.0.0.1"], info
    assert info["listen"], "found no listening socket of the Ray processes to check"
    exposed = [(a, name) for a, name in info["listen"] if not _local_addr_ok(a)]
    assert exposed == [], exposed
