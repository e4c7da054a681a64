"""The CUDA path end to end, for `scripts/gpu-check.sh` (one GPU, a few minutes).

    python -m benchmarks.gpu_check spec DIR         # writes DIR/grid.toml
    python -m benchmarks.gpu_check verify DIR       # after `plan --probe` and `run`

The grid: 4 cells (one seed; NNM, entropy, flip consistency, TTA variance, so every pool
input the loop computes runs on the GPU) at 128 px, bf16 autocast (`trainer.amp`, the
default), `gpus_per_trial = "auto"` on one GPU, up to 4 trials at once, a cache of its own
(the auto-encoder is pre-trained on the GPU too). `verify` reads what the run left and
fails with one line when something is off:

- every cell x round is in the store, every NME finite, no trial errored;
- the probe's share (`resources.json`) is a whole number of Ray's 0.0001 units and lets
  4 trials share the GPU; `plan --probe` measured on CUDA;
- all 4 trials ran at one time on the GPU (Tune's own timings: the most trials running at
  one time), as the probe's share promises;
- the auto-encoder was cached under the GPU's precision key, not the CPU's.

It writes DIR/cuda_path.json with these figures.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

import tomli_w

TRIALS = 4
UNITS = 10_000  # Ray's fixed-point resource units per GPU


def spec_doc(out: Path) -> dict[str, Any]:
    """The gpu-check grid (see the module docstring), its cache under `out`."""
    return {
        "experiment": {"name": "gpu-check", "architectures": ["scaf"], "seeds": [0],
                       "cache_dir": str(out / "cache")},
        "data": {"name": "synthetic", "options": {"n_pool": 200, "n_test": 50}},
        "model": {"input_size": 128, "width": 0.5,
                  "pretrain": {"steps": 50, "batch_size": 16}},
        "trainer": {"steps": 100, "batch_size": 16, "augment_level": 3, "amp": True},
        "budgets": [{"sizes": [20, 40, 60]}],
        "acquisitions": [{"name": "nnm", "window": 3}, {"name": "entropy"},
                         {"name": "flip_consistency"}, {"name": "tta_variance", "samples": 4}],
        "resources": {"cpus_per_trial": 1, "gpus_per_trial": "auto", "num_gpus": 1,
                      "device": "cuda", "max_concurrent_trials": TRIALS, "max_failures": 0},
    }


def most_at_once(intervals: list[tuple[float, float]]) -> int:
    """The most intervals (start, end) open at one time."""
    events = sorted([(s, 1) for s, _ in intervals] + [(e, -1) for _, e in intervals])
    running = best = 0
    for _, step in events:
        running += step
        best = max(best, running)
    return best


def check_all_at_once(together: int) -> None:
    """All TRIALS trials ran at one time: the share lets them, so fewer means the GPU's
    packing (or Tune's) left some waiting.

    Raises:
        AssertionError: one line with how many ran at once.
    """
    assert together >= TRIALS, (f"only {together} of the {TRIALS} trials ran at once; all "
                                f"{TRIALS} should share the GPU")


def trial_intervals(experiment: Path) -> list[tuple[float, float]]:
    """(start, end) wall times of each trial, from Tune's result.json lines."""
    out = []
    for results in sorted((experiment / "tune").glob("*/result.json")):
        lines = [json.loads(line) for line in results.read_text().splitlines() if line]
        if lines:
            first, last = lines[0], lines[-1]
            out.append((first["timestamp"] - first["time_this_iter_s"], last["timestamp"]))
    return out


def verify(out: Path) -> dict[str, Any]:
    """The figures of a finished gpu-check run in `out`; raises AssertionError naming the
    first thing that is off."""
    import torch

    from orchestrator.results import read_rounds
    from orchestrator.results.experiment_folder import ExperimentFolder
    from orchestrator.spec.experiment import load_spec
    from trainers.caches.autoencoder import autoencoder_key
    from trainers.caches.location import cache_root
    from trainers.training.device import precision_tag

    experiment, spec = out / "experiment", load_spec(str(out / "grid.toml"))
    rows = read_rounds(str(experiment)).to_pylist()
    cells = spec.cells()
    want = {(c.cell_id(), r) for c in cells for r in range(len(c.budget.sizes))}
    assert {(r["cell_id"], r["round"]) for r in rows} == want, "cells x rounds missing"
    nmes = [v for r in rows for k, v in r.items() if k.startswith("nme_")]
    assert nmes and all(math.isfinite(v) for v in nmes), "an NME is not finite"
    recorded = ExperimentFolder(experiment).recorded_resources()
    assert recorded is not None, f"{experiment}: no resources.json (the \"auto\" share)"
    share = float(recorded["gpus_per_trial"])
    units = round(share * UNITS)
    assert share == units / UNITS, f"share {share} is not in Ray's 0.0001 units"
    assert TRIALS * units <= UNITS, f"share {share}: {TRIALS} trials do not fit one GPU"
    plan = json.loads((out / "plan.json").read_text())
    assert plan["device"].startswith("cuda"), f"plan --probe ran on {plan['device']}"
    together = most_at_once(trial_intervals(experiment))
    check_all_at_once(together)
    tag = precision_tag(torch.device("cuda"), spec.trainer.amp)
    ae = cache_root(spec.cache_dir) / "autoencoders"
    ae_tag = precision_tag(torch.device("cuda"), spec.model.pretrain.mixed_precision)
    assert (ae / autoencoder_key(cells[0], ae_tag) / "ae.pt").is_file(), \
        f"no auto-encoder under the GPU's key ({ae_tag})"
    assert not (ae / autoencoder_key(cells[0])).exists(), "an auto-encoder under the CPU key"
    return {"device": torch.cuda.get_device_name(0), "precision": tag,
            "gpus_per_trial": share, "trials": len(cells), "trials_at_once": together,
            "rounds": len(rows), "nme_last_round": sorted(
                (r["acq_label"], {k: v for k, v in r.items() if k.startswith("nme_")})
                for r in rows if r["round"] == len(cells[0].budget.sizes) - 1),
            "gpu_mem_used_gb_max": max((r.get("gpu_mem_used_gb") or 0.0) for r in rows),
            "probe": {k: plan.get(k) for k in ("gpu_fraction", "trials_per_device",
                                               "trial_bytes", "device_total_bytes")}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=("spec", "verify"))
    parser.add_argument("dir", type=Path)
    args = parser.parse_args(argv)
    out: Path = args.dir.resolve()
    if args.action == "spec":
        out.mkdir(parents=True, exist_ok=True)
        (out / "grid.toml").write_text(tomli_w.dumps(spec_doc(out)))
        return 0
    try:
        figures = verify(out)
    except AssertionError as e:
        print(f"gpu-check failed: {e}", file=sys.stderr)
        return 1
    (out / "cuda_path.json").write_text(json.dumps(figures, indent=1))
    print(json.dumps(figures, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
