"""`scaf-al` command line: argparse wired directly to typed functions (the parser in
:mod:`orchestrator.cli.parser` takes each flag's default from these signatures).

    scaf-al run [SPEC] [--out DIR] [--address ADDR]     run a spec (default: the quickstart)
    scaf-al resume DIR                                  continue an interrupted experiment
    scaf-al extend DIR [SPEC] [--seeds N]               add cells (or seeds) to an experiment
    scaf-al status DIR                                  trial-rounds done, cells complete
    scaf-al report DIR                                  paper-style tables (and --plots)
    scaf-al watch DIR                                   live view from another terminal
    scaf-al gallery DIR                                 what an acquisition picked
    scaf-al config show [PRESET]                        print a preset spec to copy
    scaf-al acquisitions [check NAME]                   registered acquisition functions
    scaf-al datasets list | check NAME ROOT             registered data sets; a data folder
    scaf-al pretrain --out FILE [--data NAME]           the unsupervised auto-encoder stage
    scaf-al plan SPEC [--probe] [--json] [--against DIR] what a grid costs (or what DIR lacks)
    scaf-al compact DIR                                 one result file per finished cell
    scaf-al track DIR --mlflow URI | --tensorboard DIR  mirror an experiment into trackers
    scaf-al predict IMAGES --model M --out CSV          landmarks of new images
    scaf-al export MODEL --format onnx --out FILE       the network as ONNX or TorchScript
    scaf-al propose PROJECT --images DIR --k K          which of your own faces to annotate next
    scaf-al serve PROJECT --images DIR [--port P]       a Label Studio ML backend for it
    scaf-al bench [--quick]                             benchmarks (added by `benchmarks`)

Exit code 0 only on success; errors print one readable line (a traceback with --debug,
which goes before or after the command).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.markup import escape

from orchestrator.cli.grow import extend as extend  # `scaf-al extend` (bound by the parser)
from orchestrator.cli.grow import finish, whole_rows
from orchestrator.cli.parser import build_parser
from orchestrator.cli.photo_commands import export as export  # bound by the parser
from orchestrator.cli.photo_commands import predict as predict
from orchestrator.cli.photo_commands import propose as propose
from orchestrator.cli.photo_commands import serve as serve
from orchestrator.progress import PLAIN_INTERVAL_S
from trainers.inference.safe_files import refuse_output_over_inputs

if TYPE_CHECKING:
    from orchestrator.cli.watch import ViewOptions

console = Console()


def _say(message: str) -> None:
    console.print(f"  {escape(message)}", highlight=False)


def run(spec: str | None, out: str | None, *, address: str | None = None,
        resume: bool = False, expose: bool = False, plain: bool = False,
        interval: float = PLAIN_INTERVAL_S) -> int:
    """`scaf-al run`: run a spec file or preset (default: the quickstart)."""
    from orchestrator.results.experiment_folder import ExperimentFolder
    from orchestrator.spec.experiment import load_spec
    from orchestrator.tune.runner import run_experiment

    parsed = load_spec(spec or "quickstart")
    folder = Path(out) if out else Path("scaf-al-runs") / parsed.name
    if spec and Path(spec).is_file():
        refuse_output_over_inputs(folder, "--out", {"SPEC": spec})
    if resume and ExperimentFolder(folder).exists():
        return resume_experiment(str(folder), address=address, expose=expose, plain=plain,
                                 interval=interval)
    console.print(f"[bold]scaf-al[/] {escape(parsed.name)}: {len(parsed.cells())} trials -> "
                  f"{escape(str(folder))}", highlight=False)
    outcome = run_experiment(parsed, folder, address=address, dashboard=True, plain=plain,
                             interval=interval, expose=expose, log=_say)
    return finish(outcome.experiment_dir, outcome.errors, console)


def resume_experiment(experiment_dir: str, *, address: str | None = None,
                      expose: bool = False, plain: bool = False,
                      interval: float = PLAIN_INTERVAL_S) -> int:
    """`scaf-al resume DIR`: continue an experiment whose driver stopped."""
    from orchestrator.results.experiment_folder import ExperimentFolder, ProjectNotAGridError
    from orchestrator.results.project_rounds import project_continuation
    from orchestrator.tune.runner import run_experiment

    folder = ExperimentFolder.open(experiment_dir)
    if folder.is_project():
        raise ProjectNotAGridError(project_continuation(folder))
    spec = folder.latest_spec()  # an extension's, when the folder was extended
    console.print(f"[bold]scaf-al[/] resuming {escape(spec.name)} in "
                  f"{escape(str(folder.path))}", highlight=False)
    outcome = run_experiment(spec, folder.path, address=address, resume=True, plain=plain,
                             interval=interval, expose=expose, log=_say)
    return finish(outcome.experiment_dir, outcome.errors, console)


def status(experiment_dir: str, view: ViewOptions | None = None) -> int:
    """`scaf-al status DIR`: one snapshot of the progress, in plain text (the grid view, or
    the per-cell table with `view.cells`)."""
    from orchestrator.cli.watch import ViewOptions
    from orchestrator.cli.watch import watch as watch_folder
    from orchestrator.results.experiment_folder import ExperimentFolder

    if ExperimentFolder(experiment_dir).is_project():
        from orchestrator.projects.status import project_status, render_project_status

        console.print(render_project_status(project_status(experiment_dir)), highlight=False,
                      markup=False, soft_wrap=True)
        return 0
    plain = dataclasses.replace(view or ViewOptions(), plain=True)
    return watch_folder(experiment_dir, once=True, options=plain, console=console)


def report(experiment_dir: str, *, fmt: str = "terminal", plots: str | None = None,
           split: str | None = None, out: str | None = None) -> int:
    """`scaf-al report DIR`: the paper-style tables, the conclusions (AUBC, labels saved,
    penalty matrix, corrected verdicts against random, seeds needed), learning curves
    (`fmt="html"`: one self-contained page written to `out`, default DIR/report.html;
    `fmt="json"`: the conclusions as one JSON object)."""
    if fmt == "html":
        from orchestrator.report.html import write_html

        page = write_html(experiment_dir, out or Path(experiment_dir) / "report.html")
        console.print(escape(f"wrote {page}"), highlight=False)
        return 0
    from orchestrator.report.render import (
        render_csv,
        render_latex,
        render_markdown,
        render_terminal,
    )
    from orchestrator.report.summary import render_json
    from orchestrator.report.tables import load_report

    rep = load_report(experiment_dir, split)
    if fmt == "terminal":
        whole_rows(console).print(render_terminal(rep))
    else:
        text = {"markdown": render_markdown, "csv": render_csv, "latex": render_latex,
                "json": render_json}[fmt]
        print(text(rep), end="" if fmt == "csv" else "\n")
    err = Console(stderr=True)
    for path, why in rep.skipped_files:
        err.print(f"[yellow]skipped unreadable result file[/] {escape(f'{path}: {why}')}",
                  highlight=False)
    if plots:
        from orchestrator.report.plots import write_learning_curves
        from orchestrator.results.readers import read_rounds

        for f in write_learning_curves(read_rounds(experiment_dir), Path(plots), split=split):
            err.print(escape(f"wrote {f}"), highlight=False)
    return 0


def watch(experiment_dir: str, *, interval: float = 2.0, once: bool = False,
          view: ViewOptions | None = None, html: str | None = None) -> int:
    """`scaf-al watch DIR`: the live view, from any machine that sees the folder (or, with
    `html`, a self-contained page rewritten every interval)."""
    from orchestrator.cli.watch import watch as watch_folder
    from orchestrator.cli.watch import watch_html

    if html:
        return watch_html(experiment_dir, html, interval=interval, once=once, console=console)
    return watch_folder(experiment_dir, interval=interval, once=once, options=view,
                        console=console)


def gallery(experiment_dir: str, *, cell: str | None = None, round_: int = 0, top: int = 5,
            out: str | None = None) -> int:
    """`scaf-al gallery DIR`: the pool images an acquisition picked, with predictions (for
    an annotation project: the round's contact sheet, copied to `out` when given)."""
    from orchestrator.report.gallery import write_gallery
    from orchestrator.results.experiment_folder import ExperimentFolder

    folder = ExperimentFolder(experiment_dir)
    if folder.is_project():
        sheet = folder.round_dir(round_) / "contact_sheet.png"
        if not sheet.is_file():
            raise FileNotFoundError(f"{sheet}: no such round in the project")
        if out:
            import shutil

            refuse_output_over_inputs(out, "--out", {"the round's contact sheet": sheet})
            shutil.copyfile(sheet, out)
        print(f"wrote {out}" if out else f"{sheet}")
        return 0

    print(f"wrote {write_gallery(experiment_dir, cell, round_, top, out)}")
    return 0


def config_show(preset: str = "quickstart") -> int:
    """`scaf-al config show [PRESET]`: a preset spec's TOML, to copy and edit."""
    from orchestrator.spec.experiment import preset_text

    sys.stdout.write(preset_text(preset))
    return 0


def acquisitions() -> int:
    """`scaf-al acquisitions`: the registered acquisition functions."""
    import acquisition

    for name, desc in acquisition.available().items():
        console.print(f"[bold]{escape(name)}[/]  {escape(desc)}", highlight=False)
    return 0


def acquisitions_check(name: str, params: list[str] | None = None) -> int:
    """`scaf-al acquisitions check NAME [--param k=v ...]`: the plugin conformance kit;
    exit 1 when a check fails."""
    from acquisition.testing import parse_params, run_check

    text, ok = run_check(name, parse_params(params or []))
    console.print(text, highlight=False, markup=False, soft_wrap=True)
    return 0 if ok else 1


def plan(spec: str, *, probe: bool = False, as_json: bool = False,
         device: str | None = None, against: str | None = None,
         seeds: int | None = None) -> int:
    """`scaf-al plan SPEC [--against DIR]`: what the grid costs (with `against`: only its
    cells that experiment DIR does not hold yet), before anything runs."""
    import json

    from orchestrator.planning.grid_plan import plan_grid, plan_json, plan_text
    from orchestrator.planning.probe import probe_plan
    from orchestrator.spec.experiment import load_spec

    def log(message: str) -> None:
        print(message, file=sys.stderr)

    parsed = load_spec(spec)
    grid = plan_grid(parsed, against=against, source=spec, seeds=seeds)
    if probe:
        probe_plan(grid, parsed, device=device or parsed.resources.device, log=log)
    print(json.dumps(plan_json(grid), indent=1) if as_json else plan_text(grid))
    return 0


def compact(experiment_dir: str) -> int:
    """`scaf-al compact DIR`: merge each cell's per-round result files into one file."""
    from orchestrator.results.compaction import compact_store
    from orchestrator.results.experiment_folder import ExperimentFolder

    stats = compact_store(ExperimentFolder.open(experiment_dir).store)
    console.print(", ".join(f"{k} {v}" for k, v in stats.to_dict().items()), highlight=False)
    return 0


def track(experiment_dir: str, *, mlflow: str | None = None,
          tensorboard: str | None = None) -> int:
    """`scaf-al track DIR`: write what the trackers (the spec's `[tracking]`, or those
    named) lack of an experiment; safe to repeat, nothing is written twice."""
    from orchestrator.tracking.sync import track_folder

    for line in track_folder(experiment_dir, mlflow, tensorboard):
        console.print(line, highlight=False, markup=False, soft_wrap=True)
    return 0


def datasets_list() -> int:
    """`scaf-al datasets list`: the registered data sets (built-ins and plugins), each with
    its splits (pool and test splits marked), landmark count and the image files it reads."""
    from trainers.datasets import get_dataset
    from trainers.datasets.registry import dataset_names

    for name in dataset_names():
        info = get_dataset(name)
        marks = {info.train_split: " (pool)", **{s: " (test)" for s in info.test_splits}}
        splits = ", ".join(f"{s}{marks.get(s, '')}" for s in
                           dict.fromkeys((*info.splits, info.train_split, *info.test_splits)))
        if info.any_split:
            splits += ", or any sub-folder"
        points = info.num_landmarks({})
        where = ("generated" if info.generated
                 else f"read from disk ({' '.join(info.suffixes)})")
        console.print(f"{name:<12} {info.title}: {splits}; "
                      f"{points if points else 'any number of'} landmarks, {where}",
                      highlight=False, markup=False, soft_wrap=True)
    return 0


def datasets_check(name: str, root: str, *, strict: bool = False) -> int:
    """`scaf-al datasets check NAME ROOT`: what a downloaded data folder holds."""
    from orchestrator.cli.data_commands import datasets_check as check

    return check(name, Path(root).expanduser(), strict, console=console)


def pretrain(out: str, *, data: str = "synthetic", root: str | None = None,
             input_size: int = 64, width: float = 0.25, steps: int = 1000,
             batch_size: int = 32, device: str = "auto") -> int:
    """`scaf-al pretrain`: the unsupervised auto-encoder stage into a checkpoint file."""
    from orchestrator.cli.data_commands import pretrain as run_pretrain

    return run_pretrain(data, root, input_size, Path(out).expanduser(), width=width, steps=steps,
                        batch_size=batch_size, device=device, console=console)


def _interrupted(args: argparse.Namespace) -> str:
    """What a Ctrl-C left behind, and how to go on, for the command that was stopped."""
    if args.command in ("run", "resume"):
        where = getattr(args, "dir", None) or getattr(args, "out", None) or "DIR"
        return f"the experiment state is saved; continue with `scaf-al resume {where}`"
    if args.command == "propose":
        return ("the round was not written (earlier rounds are kept); run the same "
                "`scaf-al propose` again")
    return "stopped"


def main(argv: list[str] | None = None) -> int:
    args = build_parser(sys.modules[__name__]).parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except KeyboardInterrupt:
        console.print(f"[yellow]interrupted[/]: {escape(_interrupted(args))}", highlight=False)
        return 130
    except Exception as e:  # noqa: BLE001 - the CLI turns every error into one line
        if args.debug:
            raise
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        console.print(f"[red]error:[/] {escape(msg)}", highlight=False, soft_wrap=True)
        return 2


if __name__ == "__main__":
    sys.exit(main())
