"""`scaf-al bench [--quick] [--out FILE]`: every benchmark, one table, one JSON file.

Each benchmark module has `run(quick) -> list[record]`; a record compares a value with a
baseline timed in the same run (see `benchmarks.training.make_record`). Acquisition
records carry no `better` key: theirs are times, lower is better.
"""

from __future__ import annotations

import json
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

__all__ = ["MODULES", "bench", "machine_info", "records_table", "run_all"]

# (label, loader of the module's run function); imported lazily so a failing import of one
# benchmark (say, Ray) still lets the others run and is reported as such.
MODULES: tuple[tuple[str, str], ...] = (
    ("acquisition", "benchmarks.acquisition"),
    ("training", "benchmarks.training"),
    ("orchestration", "benchmarks.orchestration"),
    ("store", "benchmarks.store"),
    ("scale", "benchmarks.scale"),
)


def machine_info() -> dict[str, Any]:
    """Where the figures come from: CPU, cores, torch, CUDA device if any."""
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info: dict[str, Any] = {
        "cpu": cpu,
        "cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
        else os.cpu_count(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "platform": platform.platform(),
    }
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def run_all(
    quick: bool = False,
    modules: tuple[tuple[str, str], ...] = MODULES,
    log: Callable[[str], None] | None = None,
) -> tuple[list[dict[str, Any]], list[str]]:
    """Run each benchmark module; return (records, errors).

    A module that raises is reported in `errors` ("module: message") and the others still
    run, so one broken benchmark does not hide the rest.
    """
    import importlib

    records: list[dict[str, Any]] = []
    errors: list[str] = []
    for label, module in modules:
        if log:
            log(f"{label} ...")
        start = time.perf_counter()
        try:
            rows = importlib.import_module(module).run(quick=quick)
        except Exception as e:  # noqa: BLE001 - reported and counted, never swallowed
            errors.append(f"{label}: {type(e).__name__}: {e}")
            continue
        for row in rows:
            row.setdefault("better", "lower")
            row.setdefault("module", label)
        records += rows
        if log:
            log(f"{label}: {len(rows)} records in {time.perf_counter() - start:.0f} s")
    return records, errors


def _fmt(x: float | None) -> str:
    if x is None:
        return ""
    if x == 0 or 0.01 <= abs(x) < 1e5:
        return f"{x:.3g}" if abs(x) < 100 else f"{x:.0f}"
    return f"{x:.2e}"


def records_table(records: list[dict[str, Any]], title: str = "") -> Table:
    """The records as a rich Table: value, baseline, ratio, target and whether it was met."""
    table = Table(title=title or None)
    # Names wrap rather than being cut: they are what the README and JSON refer to.
    table.add_column("benchmark", overflow="fold", ratio=3)
    for col in ("value", "unit", "baseline", "ratio", "target"):
        table.add_column(col, justify="left" if col == "unit" else "right", ratio=1)
    for r in records:
        target = r.get("target_ratio")
        sign = ">=" if r.get("better") == "higher" else "<="
        met = r.get("meets_target")
        verdict = "" if met is None else (" [green]met[/]" if met else " [red]missed[/]")
        table.add_row(
            r["name"], _fmt(r["value"]), r["unit"], _fmt(r["baseline_value"]),
            _fmt(r["ratio"]), "" if target is None else f"{sign} {_fmt(target)}{verdict}",
        )
    return table


def bench(quick: bool = False, out: str | Path | None = None,
          modules: tuple[tuple[str, str], ...] | None = None) -> int:
    """Run the benchmarks, print the table, write the JSON records to `out`.

    Args:
        quick: the small sizes (minutes instead of the full run).
        out: JSON file for the records.
        modules: a subset of MODULES (the tests run one).

    Returns:
        0 when every module ran (missed targets are results, not failures), 1 otherwise.
    """
    console = Console()
    mode = "quick" if quick else "full"
    console.print(f"[bold]scaf-al bench[/] ({mode}): ratios against baselines timed in "
                  "the same run")
    machine = machine_info()
    console.print("  machine: " + ", ".join(f"{k} {v}" for k, v in machine.items()),
                  highlight=False)
    start = time.perf_counter()
    modules = modules or MODULES
    records, errors = run_all(quick, modules,
                              log=lambda m: console.print(f"  {escape(m)}", highlight=False))
    console.print(records_table(records, title=f"scaf-al bench ({mode})"))
    for e in errors:
        console.print(f"[red]benchmark failed[/] {escape(str(e))}", highlight=False)
    total = time.perf_counter() - start
    console.print(f"{len(records)} records in {total:.0f} s")
    if out:
        # A plain JSON list of records (the format benchmarks/README.md documents); where
        # they came from (mode, machine) goes in each record.
        for r in records:
            r.setdefault("mode", mode)
            r.setdefault("machine", machine)
        path = Path(out)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(records, indent=1, default=str))
        console.print(f"records: {path}")
    return 1 if errors else 0


def module_main(run: Callable[..., list[dict[str, Any]]], doc: str | None) -> None:
    """`python -m benchmarks.<module> [--quick]`: run one module, one JSON record a line."""
    import argparse

    parser = argparse.ArgumentParser(description=(doc or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the small sizes")
    for row in run(quick=parser.parse_args().quick):
        print(json.dumps(row))
