"""`scaf-al bench`: the benchmarks join the command line through the entry-point group
``scaf_al.commands`` (the orchestrator imports nothing from here, so the imports run one
way: benchmarks -> orchestrator)."""

from __future__ import annotations

import argparse
from collections.abc import Callable


def register(add: Callable[..., argparse.ArgumentParser]) -> None:
    """Add `scaf-al bench [--quick] [--out FILE]` (`add` makes a sub-command's parser)."""
    b = add("bench", help="benchmarks with same-run baselines")
    b.add_argument("--quick", action="store_true", help="smaller sizes, fewer repeats")
    b.add_argument("--out", help="JSON file for the records")
    b.set_defaults(handler=lambda a: bench(quick=a.quick, out=a.out))


def bench(*, quick: bool, out: str | None) -> int:
    from benchmarks.runner import bench as run_benchmarks

    return run_benchmarks(quick=quick, out=out)
