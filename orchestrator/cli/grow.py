"""`scaf-al extend DIR [SPEC] [--seeds N]`: grow a finished grid (the cells it lacks, run
alone: :mod:`orchestrator.results.extension`), and the summary every command that drives a
grid (`run`, `resume`, `extend`) prints at the end."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.markup import escape

from orchestrator.progress import PLAIN_INTERVAL_S


def whole_rows(console: Console) -> Console:
    """The console for tables: a terminal keeps its width; piped or redirected, rich would
    fold the tables into 80 columns, so a log or file gets whole rows (200 columns)."""
    return console if console.is_terminal else Console(width=max(console.width, 200))


def finish(experiment_dir: Path, errors: list[str], console: Console) -> int:
    """The results so far (mean table), unreadable files, failed trials; the exit code."""
    from orchestrator.report.render import render_terminal
    from orchestrator.report.tables import build_report
    from orchestrator.results.readers import read_table

    read = read_table(str(experiment_dir), "rounds")
    if read.table.num_rows:
        whole_rows(console).print(render_terminal(build_report(read.table), comparisons=False))
    for path, why in read.skipped:
        console.print(f"[yellow]skipped unreadable result file[/] {escape(f'{path}: {why}')}",
                      highlight=False)
    for e in errors:
        console.print(f"[red]trial failed[/] {escape(e)}", highlight=False)
    console.print(escape(f"results: {experiment_dir}/results  (scaf-al report {experiment_dir})"),
                  highlight=False)
    return 1 if errors else 0


def extend(experiment_dir: str, spec: str | None = None, *, seeds: int | None = None,
           address: str | None = None, expose: bool = False, plain: bool = False,
           interval: float = PLAIN_INTERVAL_S) -> int:
    """`scaf-al extend DIR [SPEC] [--seeds N]`: add the cells of SPEC that DIR does not hold
    (and raise every configuration to N seeds), then run only those."""
    from orchestrator.results.experiment_folder import ExperimentFolder
    from orchestrator.results.extension import plan_extension
    from orchestrator.spec.experiment import load_spec
    from orchestrator.tune.runner import run_experiment

    console = Console()
    folder = ExperimentFolder.open(experiment_dir)
    parsed = load_spec(spec) if spec else None
    plan = plan_extension(folder, parsed, seeds, source=spec or "")
    if not plan.cells:
        console.print(f"nothing to add: {escape(str(folder.path))} holds every cell asked "
                      f"for ({plan.already} of the spec's)", highlight=False)
        return 0
    console.print(f"[bold]scaf-al[/] extending {escape(folder.name)}: {len(plan.cells)} new "
                  f"trials ({plan.already} of the spec's cells are there already) -> "
                  f"{escape(str(folder.path))}", highlight=False)

    def say(message: str) -> None:
        console.print(f"  {escape(message)}", highlight=False)

    outcome = run_experiment(plan.spec, folder.path, address=address, plain=plain,
                             interval=interval, expose=expose, log=say, extend=plan)
    return finish(outcome.experiment_dir, outcome.errors, console)
