"""Shared fixtures for the orchestrator tests: a tiny spec writer and one pretrain cache.

The spec is as small as the models allow (64 px, width 0.25, 40 synthetic pool images,
a few training steps), so a whole cell runs in seconds on one CPU core. The cache dir is
session-scoped: the auto-encoder is pre-trained once for the whole test session and every
experiment (in-process or a `scaf-al` subprocess) finds it there.
"""

from __future__ import annotations

import contextlib
import copy
import os
import signal
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import tomli_w

BASE_SPEC: dict[str, Any] = {
    "experiment": {"name": "tiny", "seeds": [0], "architectures": ["scaf"]},
    "data": {"name": "synthetic", "options": {"n_pool": 40, "n_test": 12}},
    "model": {"input_size": 64, "width": 0.25, "pretrain": {"steps": 4, "batch_size": 8}},
    "trainer": {"steps": 3, "batch_size": 4},
    "budgets": [{"sizes": [10, 12, 14]}],
    "acquisitions": [{"name": "random"}],
    "resources": {"cpus_per_trial": 1, "num_cpus": 2, "max_failures": 2,
                  "device": "cpu", "object_store_mb": 80},
}


def merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """`base` with `over` merged in, table by table (non-table values replace)."""
    out = copy.deepcopy(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One pretrain / data / round-0 cache for the whole test session."""
    return tmp_path_factory.mktemp("scaf-al-cache")


@pytest.fixture
def spec_doc(cache_dir: Path) -> Callable[..., dict[str, Any]]:
    """`spec_doc(**tables)`: the tiny spec document with tables merged in."""

    def make(**over: Any) -> dict[str, Any]:
        doc = merge(BASE_SPEC, {"experiment": {"cache_dir": str(cache_dir)}})
        return merge(doc, over)

    return make


@pytest.fixture
def write_spec(tmp_path: Path, spec_doc: Callable[..., dict[str, Any]]) -> Callable[..., Path]:
    """`write_spec(name="spec.toml", **tables)`: write a tiny spec TOML, return its path."""

    def write(name: str = "spec.toml", **over: Any) -> Path:
        path = tmp_path / name
        path.write_text(tomli_w.dumps(spec_doc(**over)))
        return path

    return write


@pytest.fixture
def tiny_spec(spec_doc: Callable[..., dict[str, Any]]) -> Callable[..., Any]:
    """`tiny_spec(**tables)`: a parsed ExperimentSpec of the tiny spec."""
    from orchestrator.spec import parse_spec

    return lambda **over: parse_spec(spec_doc(**over), "test-spec")


def rounds_key_table(exp_dir: Path) -> list[tuple[str, int, list[int]]]:
    """(cell_id, round, selected indices) of every `rounds` row, sorted by key."""
    from orchestrator.results import read_rounds

    t = read_rounds(str(exp_dir))
    rows = zip(t.column("cell_id").to_pylist(), t.column("round").to_pylist(),
               t.column("selected_indices").to_pylist(), strict=True)
    return sorted((c, r, list(s)) for c, r, s in rows)


def expected_keys(spec: Any) -> list[tuple[str, int]]:
    """Every (cell_id, round) the spec's grid must produce."""
    return sorted((c.cell_id(), r) for c in spec.cells() for r in range(len(c.budget.sizes)))


def reference_rows(spec: Any, cache_dir: Path) -> list[tuple[str, int, list[int]]]:
    """(cell_id, round, selected) of an uninterrupted plain-loop run of every cell, run the
    way a trial runs it (CPU, one thread, deterministic algorithms)."""
    import torch

    from trainers.loop import run_cell

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True, warn_only=True)
    rows: list[tuple[str, int, list[int]]] = []
    try:
        for cell in spec.cells():
            run_cell(cell, cache_dir=cache_dir, device="cpu",
                     report=lambda r, _s, c=cell: rows.append((c.cell_id(), r.round,
                                                                list(r.selected))))
    finally:
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(False)
    return sorted(rows)


def failures_logged(exp_dir: Path) -> dict[str, int]:
    """Failures Tune recorded per trial folder (its error.txt has one block per failure)."""
    import re

    out = {}
    for f in (exp_dir / "tune").glob("*/error.txt"):
        out[f.parent.name] = len(re.findall(r"^Failure # \d+", f.read_text(), re.M))
    return out


def descendants(root: int) -> set[int]:
    """Process ids below `root` (from /proc), e.g. the Ray processes a driver started."""
    kids: dict[int, list[int]] = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                ppid = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            kids.setdefault(ppid, []).append(int(d.name))
    out: set[int] = set()
    todo = [root]
    while todo:
        for k in kids.get(todo.pop(), []):
            if k not in out:
                out.add(k)
                todo.append(k)
    return out


def kill_pids(pids: set[int]) -> None:
    """SIGKILL processes this test started (never by name)."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


@pytest.fixture
def no_ray_left() -> Iterator[None]:
    """Shut down a Ray a failing test may have left initialised in this process."""
    yield
    import ray

    if ray.is_initialized():
        ray.shutdown()
