"""GPU benchmarks, one prepared script for a machine with CUDA: ``python -m benchmarks.gpu``.

* ``gpu.training.<arch>.<fp32|bf16>``: trainer images/s at 256x256 (width 1.0, the
  published network) against the bare model step on one ready batch, both architectures,
  fp32 and bf16 autocast (target: the trainer reaches 90 % of the bare rate).
* ``gpu.scoring.<arch>``: pool scoring images/s (streamed `predict` + NNM on the heatmaps)
  against bare forward passes over the same batches (target: 80 % of the bare rate).
* ``gpu.tune.shared_<n>``: trial-rounds/s of n trials sharing one GPU (gpus_per_trial=1/n)
  against one trial at a time holding the whole GPU, same cells, through Ray Tune
  (target: at least 1.0, i.e. sharing does not lose throughput).

Everything runs as trials run: deterministic algorithms on (cuBLAS's fixed workspace, no
cuDNN benchmarking: `[resources] deterministic = true`, the default), and autocast where
the trials use it (bf16 from compute capability 8.0; each record names its `precision`).

On a machine without CUDA it says so and exits 0 (1 with --require-gpu). Options: --out
FILE (JSON records), --quick (fewer steps). `scripts/gpu-check.sh` runs it after the CUDA
path end to end.
"""

from __future__ import annotations

import argparse
import functools
import json
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from benchmarks.training import best_of, make_record, synthetic_cropset, trainer_vs_bare

__all__ = ["as_trials_run", "kernel_records", "main", "run", "scoring_record",
           "shared_gpu_records"]


def _device_name(device: torch.device) -> str:
    return torch.cuda.get_device_name(device) if device.type == "cuda" else device.type


def as_trials_run(measure: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Run one in-process measurement under the settings a trial runs with:
    `set_determinism(True)`, as `trainable.run_trial` applies `[resources] deterministic =
    true` (the default): deterministic algorithms, cuBLAS's fixed workspace, no cuDNN
    benchmarking. The record names the settings in force when the measurement ended."""
    from trainers.training.device import determinism

    with determinism(True):
        record = measure()
        record.update(deterministic=torch.are_deterministic_algorithms_enabled(),
                      cudnn_benchmark=bool(torch.backends.cudnn.benchmark))
    return record


def scoring_record(arch: str, n_images: int, batch_size: int, repeats: int,
                   device: torch.device, input_size: int = 256,
                   width: float = 1.0) -> dict[str, Any]:
    """Streamed pool scoring (predict + NNM, bf16) vs bare forward passes on one batch."""
    import acquisition
    from trainers.models import build_model
    from trainers.training.batches import crops_to_tensor, network_input
    from trainers.training.device import autocast_context, channels_last, prepare_model
    from trainers.training.supervised import predict

    data = synthetic_cropset(input_size, n_images)
    model = prepare_model(build_model(arch, num_landmarks=data.num_landmarks,
                                      input_size=input_size, width=width), device).eval()
    nnm = acquisition.get("nnm")
    x, _ = network_input(crops_to_tensor(data.images[:batch_size], device), None, input_size)
    x = channels_last(x)  # as `predict` feeds the model
    batches = -(-n_images // batch_size)

    def score() -> None:
        scores = np.zeros(n_images)
        for chunk in predict(model, data, batch_size=batch_size, device=device, amp=True):
            scores[chunk["indices"]] = nnm.score(chunk["heatmaps"])

    @torch.no_grad()
    def bare() -> None:
        for _ in range(batches):
            with autocast_context(device, True):
                model.heatmaps_and_features(x)

    sync = (lambda: torch.cuda.synchronize(device)) if device.type == "cuda" else None
    secs = best_of({"score": score, "bare": bare}, repeats, sync)
    return make_record(
        f"gpu.scoring.{arch}", n_images / secs["score"], "images/s",
        "bare forward passes (bf16), same batch count", batches * batch_size / secs["bare"],
        0.8, better="higher", device=_device_name(device), arch=arch,
        images=n_images, batch_size=batch_size, repeats=repeats,
    )


def _tune_spec_doc(gpus_per_trial: float, max_concurrent: int, steps: int) -> dict[str, Any]:
    """4 cells (2 seeds x random / NNM) at 128 px, 2 rounds, on the GPU."""
    return {
        "experiment": {"name": "bench-gpu", "architectures": ["scaf"], "seeds": [0, 1]},
        "data": {"name": "synthetic", "options": {"n_pool": 200, "n_test": 50}},
        "model": {"input_size": 128, "width": 0.5, "pretrain": {"steps": 20, "batch_size": 16}},
        "trainer": {"steps": steps, "batch_size": 16},
        "budgets": [{"sizes": [20, 40]}],
        "acquisitions": [{"name": "random"}, {"name": "nnm", "window": 3}],
        "resources": {"cpus_per_trial": 1, "gpus_per_trial": gpus_per_trial,
                      "max_concurrent_trials": max_concurrent, "num_gpus": 1,
                      "device": "cuda", "max_failures": 0},
    }


def shared_gpu_records(shares: int, steps: int) -> list[dict[str, Any]]:
    """`shares` fractional trials on one GPU vs one whole-GPU trial at a time."""
    from benchmarks.orchestration import time_tune, warm
    from orchestrator.spec.experiment import parse_spec

    alone = parse_spec(_tune_spec_doc(1.0, 1, steps))
    shared = parse_spec(_tune_spec_doc(1.0 / shares, shares, steps))
    rounds = sum(len(c.budget.sizes) for c in alone.cells())
    with tempfile.TemporaryDirectory(prefix="scaf-al-bench-gpu-") as tmp:
        base = Path(tmp)
        warm(alone, base / "warm")
        t_alone = time_tune(alone, Path(shutil.copytree(base / "warm", base / "c1")),
                            base / "exp1", 1)
        t_shared = time_tune(shared, Path(shutil.copytree(base / "warm", base / "cn")),
                             base / "expn", shares)
    return [make_record(
        f"gpu.tune.shared_{shares}", rounds / t_shared, "trial-rounds/s",
        "one trial at a time with the whole GPU", rounds / t_alone, 1.0, better="higher",
        device=torch.cuda.get_device_name(0), gpus_per_trial=1.0 / shares,
        trials=len(alone.cells()), trainer_steps=steps,
        note="wall time includes Ray start-up on both sides",
    )]


def kernel_records(device: torch.device, *, input_size: int, width: float, batch_size: int,
                   steps: int, repeats: int, n_images: int) -> list[dict[str, Any]]:
    """Trainer vs bare step (both architectures, fp32 and bf16 autocast) and pool scoring
    vs bare forward passes (both architectures), each measured `as_trials_run`."""
    from trainers.training.device import precision_tag

    records = []
    for arch in ("3fabrec", "scaf"):
        for amp in (False, True):
            name = f"gpu.training.{arch}.{'bf16' if amp else 'fp32'}"
            records.append(as_trials_run(functools.partial(
                trainer_vs_bare, name, arch=arch, input_size=input_size, width=width,
                batch_size=batch_size, steps=steps, repeats=repeats, device=device, amp=amp)))
            records[-1].update(device=_device_name(device),
                               precision=precision_tag(device, amp))
    for arch in ("3fabrec", "scaf"):
        records.append(as_trials_run(functools.partial(
            scoring_record, arch, n_images=n_images, batch_size=2 * batch_size,
            repeats=repeats, device=device, input_size=input_size, width=width)))
        records[-1].update(precision=precision_tag(device, True))
    return records


def run(quick: bool = False) -> list[dict[str, Any]]:
    """All GPU benchmarks (requires CUDA), with the trials' deterministic settings."""
    records = kernel_records(torch.device("cuda"), input_size=256, width=1.0, batch_size=32,
                             steps=5 if quick else 20, repeats=2 if quick else 3,
                             n_images=128 if quick else 512)
    # Trials in their own processes, deterministic as the spec's default says.
    records += shared_gpu_records(shares=4, steps=50 if quick else 200)
    return records


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer steps")
    parser.add_argument("--out", help="JSON file for the records")
    parser.add_argument("--require-gpu", action="store_true",
                        help="exit 1 (not 0) when torch sees no CUDA GPU")
    args = parser.parse_args(argv)
    if not torch.cuda.is_available():
        print("benchmarks.gpu needs a CUDA GPU and torch sees none here: nothing measured.",
              file=sys.stderr if args.require_gpu else sys.stdout)
        return 1 if args.require_gpu else 0
    from rich.console import Console

    from benchmarks.runner import machine_info, records_table

    console = Console()
    machine = machine_info()
    console.print("machine: " + ", ".join(f"{k} {v}" for k, v in machine.items()),
                  highlight=False)
    records = run(quick=args.quick)
    console.print(records_table(records, title="scaf-al GPU benchmarks"))
    if args.out:
        for r in records:
            r.setdefault("machine", machine)
        Path(args.out).write_text(json.dumps(records, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
