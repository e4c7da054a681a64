"""Result stores written by hand through the real writer, and read back by key."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from trainers.config.cell import CellConfig

#: The budget of the cells whose rounds `store_round` builds.
STORE_SIZES = (10, 12, 14)


def rounds_key_table(exp_dir: Path) -> list[tuple[str, int, list[int]]]:
    """(cell_id, round, selected indices) of every `rounds` row, sorted by key."""
    from orchestrator.results.readers import read_rounds

    t = read_rounds(str(exp_dir))
    rows = zip(t.column("cell_id").to_pylist(), t.column("round").to_pylist(),
               t.column("selected_indices").to_pylist(), strict=True)
    return sorted((c, r, list(s)) for c, r, s in rows)


def write_round(exp: Path, cell: CellConfig, rnd: int, nme: dict[str, float],
                selected: list[int] | None = None, scores: list[float] | None = None) -> None:
    """One round through the real writer: NME per split (fractions), picks with ranks."""
    from orchestrator.results.writer import ResultWriter
    from trainers.loop.cell_loop import RoundResult

    selected = selected or []
    res = RoundResult(
        round=rnd, n_labeled=cell.budget.sizes[rnd], labeled=list(range(cell.budget.sizes[rnd])),
        metrics={s: {"nme": v, "fr": 0.0, "auc": 0.5} for s, v in nme.items()},
        baseline={s: 0.2 for s in nme}, train_seconds=1.0, score_seconds=0.5, final_loss=0.1,
        selected=selected, selected_scores=scores or [float(-i) for i in range(len(selected))],
        selected_ranks=list(range(len(selected))))
    ResultWriter(str(exp), "test-exp").write_round(cell, res, splits=list(nme))


def write_info(exp: Path, cells: list[Any], name: str = "test-exp") -> None:
    """An experiment folder holding `cells` (as `scaf-al run` creates it)."""
    from orchestrator.results.experiment_folder import ExperimentFolder

    ExperimentFolder.create_for_cells(exp, name, cells, {"experiment": {"name": name}})


def store_round(round_: int, loss: float = 1.0, splits: tuple[str, ...] = ("test",)) -> Any:
    """The RoundResult of round `round_` of a cell with budget STORE_SIZES, e.g.
    `make_cell(seed=s, sizes=STORE_SIZES)` (two picks, none in the last round)."""
    from trainers.loop.cell_loop import RoundResult

    sel = [] if round_ == 2 else [round_ * 2 + 20, round_ * 2 + 21]
    return RoundResult(
        round=round_, n_labeled=10 + 2 * round_, labeled=list(range(10 + 2 * round_)),
        metrics={s: {"nme": 0.1 * loss, "fr": 0.5, "auc": 0.2} for s in splits},
        baseline={s: 0.3 for s in splits}, train_seconds=1.0, score_seconds=0.1,
        final_loss=loss, selected=sel, selected_scores=[float(i) for i in sel],
        selected_ranks=list(range(len(sel))),
    )
