"""Shared fixtures for the orchestrator tests: a tiny spec writer and one pretrain cache.

The spec is as small as the models allow (64 px, width 0.25, 40 synthetic pool images,
a few training steps), so a whole cell runs in seconds on one CPU core. The cache dir is
session-scoped: the auto-encoder is pre-trained once for the whole test session and every
experiment (in-process or a `scaf-al` subprocess) finds it there.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import tomli_w

from tests.helpers.specs import BASE_SPEC, merge


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
    from orchestrator.spec.experiment import parse_spec

    return lambda **over: parse_spec(spec_doc(**over), "test-spec")


@pytest.fixture
def no_ray_left() -> Iterator[None]:
    """Shut down a Ray a failing test may have left initialised in this process."""
    yield
    import ray

    if ray.is_initialized():
        ray.shutdown()


@pytest.fixture(scope="session")
def propose_autoencoder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny auto-encoder file (64 px, width 0.25, 2 steps) for the `propose` tests."""
    from tests.helpers.propose_faces import tiny_autoencoder

    return tiny_autoencoder(tmp_path_factory.mktemp("propose-ae") / "ae.pt")


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One real MLflow tracking server (SQLite backend) for the session's tracking tests."""
    from tests.helpers.servers.mlflow import MlflowServer

    server = MlflowServer(tmp_path_factory.mktemp("mlflow-server"))
    server.start()
    try:
        yield server
    finally:
        server.stop()
