"""`benchmarks.gpu` measures as trials run: its in-process measurements, run here on the CPU
at a tiny size, have deterministic algorithms on and cuDNN benchmarking off (a trial's
`set_determinism(True)`), whatever the process had before."""

from __future__ import annotations

import os

import pytest
import torch

from benchmarks.gpu import kernel_records


def test_each_measurement_runs_with_the_trials_settings(monkeypatch: pytest.MonkeyPatch
                                                        ) -> None:
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    monkeypatch.setattr(torch.backends.cudnn, "benchmark", True)  # the opposite of a trial
    before = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(False)
    try:
        records = kernel_records(torch.device("cpu"), input_size=64, width=0.25,
                                 batch_size=2, steps=1, repeats=1, n_images=4)
        assert not torch.are_deterministic_algorithms_enabled()  # the process's, restored
        assert torch.backends.cudnn.benchmark is True
    finally:
        torch.use_deterministic_algorithms(before)
    assert [r["name"] for r in records] == [
        "gpu.training.3fabrec.fp32", "gpu.training.3fabrec.bf16", "gpu.training.scaf.fp32",
        "gpu.training.scaf.bf16", "gpu.scoring.3fabrec", "gpu.scoring.scaf"]
    assert all(r["deterministic"] is True and r["cudnn_benchmark"] is False
               for r in records), records
    assert {r["precision"] for r in records} == {None}  # the CPU's exact path
    assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8"  # set before CUDA's first use
