"""`scaf-al` command line.

    scaf-al run [CONFIG] [--out DIR] [--address ADDR]   run a spec (default: the quickstart)
    scaf-al resume DIR                                  continue an interrupted experiment
    scaf-al status DIR                                  rounds done per cell
    scaf-al report DIR                                  paper-style tables (and --plots)
    scaf-al watch DIR                                   live view from another terminal
    scaf-al gallery DIR                                 what an acquisition picked
    scaf-al config show [PRESET]                        print a preset spec to copy
    scaf-al acquisitions                                registered acquisition functions
    scaf-al datasets check NAME ROOT                    what a data folder holds
    scaf-al pretrain ...                                the unsupervised auto-encoder stage
    scaf-al bench [--quick]                             benchmarks with same-run baselines

Exit code 0 only on success; errors print one readable line (a traceback with --debug).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from rich.console import Console

console = Console()


class UserError(Exception):
    """An error to show as one line, without a traceback."""


def _cmd_run(args: argparse.Namespace) -> int:
    from orchestrator.runner import run_experiment
    from orchestrator.spec import load_spec

    spec = load_spec(args.config or "quickstart")
    out = Path(args.out) if args.out else Path("scaf-al-runs") / spec.name
    if (out / "experiment.json").exists() and args.resume:
        return _cmd_resume(argparse.Namespace(dir=str(out), address=args.address,
                                              expose=args.expose, plain=args.plain))
    n = len(spec.cells())
    console.print(f"[bold]scaf-al[/] {spec.name}: {n} trials -> {out}")
    outcome = run_experiment(spec, out, address=args.address, dashboard=True, plain=args.plain,
                             expose=args.expose, log=lambda m: console.print(f"  {m}"))
    return _finish(outcome)


def _cmd_resume(args: argparse.Namespace) -> int:
    from orchestrator.runner import read_spec, run_experiment

    exp = Path(args.dir)
    spec = read_spec(exp)
    console.print(f"[bold]scaf-al[/] resuming {spec.name} in {exp}")
    outcome = run_experiment(spec, exp, address=args.address, resume=True, plain=args.plain,
                             expose=args.expose, log=lambda m: console.print(f"  {m}"))
    return _finish(outcome)


def _finish(outcome: object) -> int:
    from orchestrator.report import build_report, render_terminal
    from orchestrator.results import read_table

    exp_dir = outcome.experiment_dir  # type: ignore[attr-defined]
    rep = read_table(str(exp_dir), "rounds")
    if rep.table.num_rows:
        console.print(render_terminal(build_report(rep.table), comparisons=False))
    for path, why in rep.skipped:
        console.print(f"[yellow]skipped unreadable result file[/] {path}: {why}")
    errors = outcome.errors  # type: ignore[attr-defined]
    for e in errors:
        console.print(f"[red]trial failed[/] {e}")
    console.print(f"results: {exp_dir}/results  (scaf-al report {exp_dir})")
    return 1 if errors else 0


def _cmd_status(args: argparse.Namespace) -> int:
    import json

    from orchestrator.results import read_table

    exp = Path(args.dir)
    info_file = exp / "experiment.json"
    if not info_file.exists():
        raise UserError(f"{exp} is not an experiment folder (no experiment.json)")
    info = json.loads(info_file.read_text())
    rep = read_table(str(exp), "rounds")
    done: dict[str, int] = {}
    for cid in rep.table.column("cell_id").to_pylist():
        done[cid] = done.get(cid, 0) + 1
    total = sum(info["rounds_per_cell"].values())
    finished = sum(min(done.get(c, 0), n) for c, n in info["rounds_per_cell"].items())
    complete = sum(done.get(c, 0) >= n for c, n in info["rounds_per_cell"].items())
    console.print(f"{info['name']}: {finished}/{total} trial-rounds, "
                  f"{complete}/{len(info['rounds_per_cell'])} cells complete")
    for path, why in rep.skipped:
        console.print(f"[yellow]skipped[/] {path}: {why}")
    return 0


def _cmd_config_show(args: argparse.Namespace) -> int:
    from orchestrator.spec import preset_text

    sys.stdout.write(preset_text(args.preset))
    return 0


def _cmd_acquisitions(args: argparse.Namespace) -> int:
    import acquisition

    avail = acquisition.available()
    items = avail.items() if isinstance(avail, dict) else avail
    for name, desc in items:
        console.print(f"[bold]{name}[/]  {desc}", highlight=False)
    return 0


def _delegate(module: str, func: str) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        import importlib

        return int(getattr(importlib.import_module(module), func)(args) or 0)

    return run


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="scaf-al", description=__doc__.split("\n")[0])
    p.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = p.add_subparsers(dest="command", required=True)

    r = sub.add_parser("run", help="run an experiment spec (default: the built-in quickstart)")
    r.add_argument("config", nargs="?", help="spec TOML file or preset name")
    r.add_argument("--out", help="experiment folder (default scaf-al-runs/<name>)")
    r.add_argument("--address", help="join a running Ray cluster ('auto' or host:port)")
    r.add_argument("--resume", action="store_true", help="resume if --out holds this experiment")
    r.add_argument("--expose", action="store_true",
                   help="let the local Ray node listen on all interfaces (default 127.0.0.1)")
    r.add_argument("--plain", action="store_true", help="plain progress lines")
    r.set_defaults(func=_cmd_run)

    rs = sub.add_parser("resume", help="continue an experiment whose driver stopped")
    rs.add_argument("dir")
    rs.add_argument("--address")
    rs.add_argument("--expose", action="store_true")
    rs.add_argument("--plain", action="store_true")
    rs.set_defaults(func=_cmd_resume)

    st = sub.add_parser("status", help="rounds finished per cell")
    st.add_argument("dir")
    st.set_defaults(func=_cmd_status)

    cfg = sub.add_parser("config", help="spec presets")
    cfg_sub = cfg.add_subparsers(dest="config_command", required=True)
    show = cfg_sub.add_parser("show", help="print a preset's full TOML")
    show.add_argument("preset", nargs="?", default="quickstart")
    show.set_defaults(func=_cmd_config_show)

    acq = sub.add_parser("acquisitions", help="list registered acquisition functions")
    acq.set_defaults(func=_cmd_acquisitions)

    _add_optional_commands(sub)
    return p


def _add_optional_commands(sub: argparse._SubParsersAction) -> None:
    """Commands implemented in their own modules (report, watch, gallery, data, bench)."""
    rep = sub.add_parser("report", help="paper-style tables, significance, plots")
    rep.add_argument("dir")
    rep.add_argument("--format", choices=["terminal", "markdown", "csv", "latex"],
                     default="terminal")
    rep.add_argument("--plots", help="write learning-curve PNG + SVG into this folder")
    rep.add_argument("--split", help="test split for the main table")
    rep.set_defaults(func=_delegate("orchestrator.report", "cli_report"))

    w = sub.add_parser("watch", help="live view of an experiment folder")
    w.add_argument("dir")
    w.add_argument("--interval", type=float, default=2.0)
    w.add_argument("--once", action="store_true", help="print one snapshot and exit")
    w.set_defaults(func=_delegate("orchestrator.watch", "cli_watch"))

    g = sub.add_parser("gallery", help="top-ranked pool images of a cell and round")
    g.add_argument("dir")
    g.add_argument("--cell", help="cell id (default: the first with a score-based acquisition)")
    g.add_argument("--round", type=int, default=0)
    g.add_argument("--top", type=int, default=5)
    g.add_argument("--out", help="PNG file (default <dir>/gallery-<cell>-r<round>.png)")
    g.set_defaults(func=_delegate("orchestrator.gallery", "cli_gallery"))

    ds = sub.add_parser("datasets", help="data set tools")
    ds_sub = ds.add_subparsers(dest="datasets_command", required=True)
    chk = ds_sub.add_parser("check", help="what a downloaded data folder holds, per split")
    chk.add_argument("name", choices=["300w", "wflw", "folder"])
    chk.add_argument("root")
    chk.add_argument("--strict", action="store_true")
    chk.set_defaults(func=_delegate("orchestrator.cli_data", "cli_datasets_check"))

    pt = sub.add_parser("pretrain", help="unsupervised auto-encoder stage")
    pt.add_argument("--data", default="synthetic", help="synthetic, 300w, wflw or folder")
    pt.add_argument("--root", help="data root (or an image folder for 'folder')")
    pt.add_argument("--input-size", type=int, default=64)
    pt.add_argument("--width", type=float, default=0.25)
    pt.add_argument("--steps", type=int, default=1000)
    pt.add_argument("--batch-size", type=int, default=32)
    pt.add_argument("--out", required=True, help="checkpoint file to write (resumes if present)")
    pt.add_argument("--device", default="auto")
    pt.set_defaults(func=_delegate("orchestrator.cli_data", "cli_pretrain"))

    b = sub.add_parser("bench", help="benchmarks with same-run baselines")
    b.add_argument("--quick", action="store_true")
    b.add_argument("--out", help="JSON file for the records")
    b.set_defaults(func=_delegate("benchmarks.runner", "cli_bench"))


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        console.print("[yellow]interrupted[/]: the experiment state is saved; "
                      "continue with `scaf-al resume DIR`")
        return 130
    except Exception as e:  # noqa: BLE001 - the CLI turns every error into one line
        if args.debug:
            raise
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        console.print(f"[red]error:[/] {msg}", highlight=False, soft_wrap=True)
        return 2


if __name__ == "__main__":
    sys.exit(main())
