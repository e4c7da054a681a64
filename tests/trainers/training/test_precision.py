"""Which precision runs where, and the cache keys that tell them apart.

bf16 autocast only on GPUs of compute capability 8.0 and newer; older ones (V100 7.0,
T4 7.5) have no bf16 convolutions and run fp32 (see `trainers.training.device`). The
capability is patched, so these run without a GPU.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import numpy as np
import pytest
import torch

from orchestrator.spec.experiment import parse_spec
from tests.helpers.specs import OLD_QUICKSTART
from trainers.caches.autoencoder import autoencoder_key
from trainers.caches.round0 import RoundZeroCache
from trainers.training.device import (
    autocast_context,
    autocast_dtype,
    cpu_fast_path,
    precision_tag,
)

CUDA = torch.device("cuda")
CPU = torch.device("cpu")


@pytest.fixture
def capability(monkeypatch: pytest.MonkeyPatch):  # noqa: ANN201 - a setter
    def set_to(major: int, minor: int) -> None:
        monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (major,
                                                                                      minor))
    return set_to


@pytest.mark.parametrize(("cc", "want"), [
    ((7, 0), None), ((7, 5), None),  # V100, T4: fp32
    ((8, 0), torch.bfloat16), ((8, 6), torch.bfloat16), ((9, 0), torch.bfloat16),
])
def test_bf16_only_from_compute_capability_8(capability, cc: tuple[int, int],
                                             want: torch.dtype | None) -> None:
    capability(*cc)
    assert autocast_dtype(CUDA) is want


def test_an_older_gpu_runs_without_autocast(capability) -> None:
    capability(7, 5)
    with autocast_context(CUDA, True):
        assert not torch.is_autocast_enabled("cuda")


def test_the_cpu_is_exact_unless_on_the_fast_path() -> None:
    assert autocast_dtype(CPU) is None
    with cpu_fast_path():
        assert autocast_dtype(CPU) is torch.bfloat16


@pytest.mark.parametrize(("cc", "amp", "tf32", "want"), [
    ((8, 0), True, True, "cuda-bf16"),
    ((8, 0), False, True, "cuda-tf32"),   # torch's default for cuDNN on Ampere
    ((8, 0), False, False, "cuda-fp32"),
    ((7, 0), True, True, "cuda-fp32"),    # no bf16, no TF32 before Ampere
])
def test_precision_tags_on_cuda(capability, monkeypatch: pytest.MonkeyPatch,
                                cc: tuple[int, int], amp: bool, tf32: bool, want: str) -> None:
    capability(*cc)
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", tf32)
    assert precision_tag(CUDA, amp) == want


def test_precision_tags_on_the_cpu() -> None:
    assert precision_tag(CPU, True) is None and precision_tag(CPU, False) is None
    with cpu_fast_path():
        assert (precision_tag(CPU, True), precision_tag(CPU, False)) == ("cpu-fast-bf16",
                                                                         "cpu-fast-fp32")


def test_cpu_cache_keys_are_those_of_earlier_versions_and_gpu_keys_differ() -> None:
    """Keys computed by the version before precision entered them (commit 3082bca): CPU
    caches are still found; a GPU-trained model gets a key of its own."""
    # The quickstart preset of that version (2 seeds, 500 steps from scratch), kept as a file.
    cell = parse_spec(tomllib.loads(OLD_QUICKSTART.read_text())).cells()[0]
    ae = Path("autoencoders/b57dfeef42433aa9")
    assert autoencoder_key(cell) == autoencoder_key(cell, None) == "b57dfeef42433aa9"
    assert RoundZeroCache.key(cell, ae, np.arange(10)) == "ea0a3ef84e2c2caf"
    tags = ["cuda-bf16", "cuda-tf32", "cuda-fp32", "cpu-fast-bf16"]
    ae_keys = {autoencoder_key(cell, t) for t in tags}
    r0_keys = {RoundZeroCache.key(cell, ae, np.arange(10), t) for t in tags}
    assert len(ae_keys) == len(r0_keys) == len(tags)
    assert "b57dfeef42433aa9" not in ae_keys and "ea0a3ef84e2c2caf" not in r0_keys


def test_a_cpu_run_trains_its_auto_encoder_under_the_cpu_key(tmp_path: Path) -> None:
    from tests.helpers.cells import make_cell
    from trainers.caches.autoencoder import ensure_autoencoder
    from trainers.loop.data_loading import load_data

    cell = make_cell("nnm", 5, sizes=(10, 13, 16), runnable=True)
    pool, _ = load_data(cell.data, cell.model.input_size, tmp_path)
    path = ensure_autoencoder(cell, pool, tmp_path, device="cpu")
    assert path == tmp_path / "autoencoders" / autoencoder_key(cell) / "ae.pt"
