"""Tokens as Ray looks for them, and the local cluster that keeps its own (the joins of a
`ray start` cluster are in test_ray_start_cluster.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from orchestrator.tune.cluster_access import ClusterAccessError, find_token

pytestmark = pytest.mark.usefixtures("no_ray_left")


def test_token_sources_in_ray_order(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / ".ray").mkdir(parents=True)
    assert find_token({}, home) is None
    (home / ".ray" / "auth_token").write_text("from-home\n")
    assert find_token({}, home).value == "from-home"  # type: ignore[union-attr]
    path = tmp_path / "tok"
    path.write_text("  from-path  ")
    got = find_token({"RAY_AUTH_TOKEN_PATH": str(path)}, home)
    assert got is not None and (got.value, got.source) == ("from-path",
                                                           f"RAY_AUTH_TOKEN_PATH={path}")
    got = find_token({"RAY_AUTH_TOKEN": "from-env", "RAY_AUTH_TOKEN_PATH": str(path)}, home)
    assert got is not None and (got.value, got.source) == ("from-env", "RAY_AUTH_TOKEN")
    assert "from-env" not in repr(got)  # never printed by accident
    path.write_text("\n")
    with pytest.raises(ClusterAccessError, match=r"RAY_AUTH_TOKEN_PATH=.*: the token file is "
                                                 "empty"):
        find_token({"RAY_AUTH_TOKEN_PATH": str(path)}, home)


def test_the_local_cluster_keeps_its_own_token(monkeypatch: pytest.MonkeyPatch,
                                               tmp_path: Path) -> None:
    """`scaf-al run` without --address: Ray's own token authentication stays on (the GCS
    refuses a caller without the token), and the process's RAY_AUTH_* are as before after."""
    import ray

    from orchestrator.tune.cluster_access import probe
    from orchestrator.tune.ray_runtime import ray_session

    for k in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH"):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # Ray writes its token to ~/.ray/auth_token
    with ray_session(num_cpus=1, object_store_mb=80):
        gcs = ray.get_runtime_context().gcs_address
        assert os.environ["RAY_AUTH_MODE"] == "token"
        assert (tmp_path / ".ray" / "auth_token").is_file()
        assert probe(gcs, None).status == "auth"
    assert "RAY_AUTH_MODE" not in os.environ
