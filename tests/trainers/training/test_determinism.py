"""Deterministic settings as a trial applies them: cuBLAS's fixed
workspace in the environment before CUDA's first use, torch's deterministic kernels, no
cuDNN benchmarking; and off when a spec says `[resources] deterministic = false`."""

from __future__ import annotations

import os

import pytest
import torch

from trainers.training.device import CUBLAS_WORKSPACE_CONFIG, determinism, set_determinism


@pytest.fixture
def no_workspace(monkeypatch: pytest.MonkeyPatch) -> None:
    """CUBLAS_WORKSPACE_CONFIG unset for the test, and as it was after it."""
    monkeypatch.setenv("CUBLAS_WORKSPACE_CONFIG", "")  # records the value to restore
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG")


def test_on_sets_the_cublas_workspace_and_deterministic_kernels(no_workspace: None) -> None:
    before = torch.are_deterministic_algorithms_enabled()
    with determinism(True):
        assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8" == CUBLAS_WORKSPACE_CONFIG
        assert torch.are_deterministic_algorithms_enabled()
        assert torch.is_deterministic_algorithms_warn_only_enabled()
        assert torch.backends.cudnn.benchmark is False
    assert torch.are_deterministic_algorithms_enabled() == before  # restored


def test_a_users_own_workspace_setting_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUBLAS_WORKSPACE_CONFIG", ":16:8")
    with determinism(True):
        assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":16:8"


def test_off_is_torchs_default(no_workspace: None) -> None:
    try:
        set_determinism(True)
        set_determinism(False)
        assert not torch.are_deterministic_algorithms_enabled()
    finally:
        torch.use_deterministic_algorithms(False)
