"""Cells run in-process by the plain loop: the round results and states it reports, and the
reference rows of an uninterrupted run that Tune runs are compared with."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from trainers.config.cell import CellConfig
    from trainers.loop.cell_loop import LoopState, RoundResult


def reference_rows(spec: Any, cache_dir: Path) -> list[tuple[str, int, list[int]]]:
    """(cell_id, round, selected) of an uninterrupted plain-loop run of every cell, run the
    way a trial runs it (CPU, one thread, deterministic algorithms)."""
    import torch

    from trainers.loop.cell_loop import run_cell

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


def collect(cell: CellConfig, cache: Path, state: LoopState | None = None,
            stop_after: int | None = None) -> tuple[list[RoundResult], list[LoopState]]:
    """Run the loop of `cell` (optionally from `state`, stopping after a round): its
    round results and the states it reported."""
    from trainers.loop.cell_loop import run_cell

    results: list[RoundResult] = []
    states: list[LoopState] = []

    class Stop(Exception):
        pass

    def report(res: RoundResult, st: LoopState) -> None:
        results.append(res)
        states.append(st)
        if stop_after is not None and res.round == stop_after:
            raise Stop

    with contextlib.suppress(Stop):
        run_cell(cell, cache_dir=cache, report=report, state=state, device="cpu")
    return results, states


def finished_experiment(exp: Path, spec: Any, cache_dir: Path) -> None:
    """`exp` as `scaf-al run` leaves a finished grid, without Ray: the folder, every cell
    run by the plain loop (as a trial runs it, on the CPU) and written through the result
    writer, then compacted as a finished trial compacts its cell."""
    from orchestrator.results.compaction import compact_cell
    from orchestrator.results.experiment_folder import ExperimentFolder
    from orchestrator.results.writer import ResultWriter
    from trainers.loop.cell_loop import run_cell

    ExperimentFolder.create(exp, spec)
    writer = ResultWriter(str(exp), spec.name)
    for cell in spec.cells():
        splits = list(cell.data.test_splits or ())
        run_cell(cell, cache_dir=cache_dir, device="cpu",
                 report=lambda r, _s, c=cell, sp=splits: writer.write_round(c, r, splits=sp))
        compact_cell(str(exp), cell.cell_id())
