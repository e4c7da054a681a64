"""The `scaf-al` argument parser: each sub-command's flags, and the typed function it calls.

Defaults live here once (argparse fills them in); each handler passes the parsed flags to
the function of :mod:`orchestrator.cli.commands` as typed arguments. Global flags (`--debug`) are
accepted before or after the sub-command.
"""

from __future__ import annotations

import argparse
from types import ModuleType
from typing import Protocol

FORMATS = ("terminal", "markdown", "csv", "latex", "html")
DATA_SETS = ("300w", "wflw", "folder")


class _AddCommand(Protocol):
    """`build_parser`'s `add`: a sub-command's parser, with the global flags as a parent."""

    def __call__(self, name: str, *, help: str) -> argparse.ArgumentParser: ...


def _global_flags(default: object) -> argparse.ArgumentParser:
    """The flags every (sub-)command takes. Sub-commands suppress the default so that a
    flag given before the sub-command is not reset by the sub-parser."""
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--debug", action="store_true", default=default,
                   help="show tracebacks on errors")
    return p


def _run_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--address", help="join a running Ray cluster ('auto' or host:port)")
    p.add_argument("--expose", action="store_true",
                   help="let the local Ray node listen on all interfaces (default 127.0.0.1)")
    p.add_argument("--plain", action="store_true",
                   help="plain-text progress (the default when output is not a terminal)")
    p.add_argument("--interval", type=float, default=30.0,
                   help="seconds between plain-text progress snapshots (default 30)")


def _view_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--cells", action="store_true",
                   help="one row per cell instead of the grid view (filters below)")
    p.add_argument("--acquisition", help="--cells: only this acquisition (name or label)")
    p.add_argument("--state", help="--cells: only cells in this state (running, error, ...)")


def _view(a: argparse.Namespace) -> object:
    from orchestrator.cli.watch import ViewOptions

    return ViewOptions(cells=a.cells, acquisition=a.acquisition, state=a.state,
                       plain=getattr(a, "plain", False))


def _experiment_commands(sub: argparse._SubParsersAction, add: _AddCommand, c: ModuleType) -> None:
    r = add("run", help="run an experiment spec (default: the built-in quickstart)")
    r.add_argument("spec", nargs="?", help="spec TOML file or preset name (default quickstart)")
    r.add_argument("--out", help="experiment folder (default scaf-al-runs/<name>)")
    r.add_argument("--resume", action="store_true", help="resume if --out holds this experiment")
    _run_flags(r)
    r.set_defaults(handler=lambda a: c.run(a.spec, a.out, address=a.address, resume=a.resume,
                                           expose=a.expose, plain=a.plain,
                                           interval=a.interval))

    rs = add("resume", help="continue an experiment whose driver stopped")
    rs.add_argument("dir", help="experiment folder")
    _run_flags(rs)
    rs.set_defaults(handler=lambda a: c.resume_experiment(
        a.dir, address=a.address, expose=a.expose, plain=a.plain, interval=a.interval))

    st = add("status", help="progress by the grid's axes (or per cell with --cells)")
    st.add_argument("dir", help="experiment folder")
    _view_flags(st)
    st.set_defaults(handler=lambda a: c.status(a.dir, _view(a)))

    rep = add("report", help="paper-style tables, significance, plots")
    rep.add_argument("dir", help="experiment folder")
    rep.add_argument("--format", choices=FORMATS, default="terminal")
    rep.add_argument("--plots", help="write learning-curve PNG + SVG into this folder")
    rep.add_argument("--split", help="test split for the main table")
    rep.add_argument("--out", help="--format html: the file to write (default DIR/report.html)")
    rep.set_defaults(handler=lambda a: c.report(a.dir, fmt=a.format, plots=a.plots,
                                                split=a.split, out=a.out))

    w = add("watch", help="live view of an experiment folder")
    w.add_argument("dir", help="experiment folder")
    w.add_argument("--interval", type=float, default=2.0, help="seconds between refreshes")
    w.add_argument("--once", action="store_true", help="print one snapshot and exit")
    _view_flags(w)
    w.add_argument("--plain", action="store_true", help="plain text even on a terminal")
    w.add_argument("--html", help="rewrite this self-contained HTML page every interval "
                                  "instead of printing (the page reloads itself)")
    w.set_defaults(handler=lambda a: c.watch(a.dir, interval=a.interval, once=a.once,
                                             view=_view(a), html=a.html))

    g = add("gallery", help="top-ranked pool images of a cell and round")
    g.add_argument("dir", help="experiment folder")
    g.add_argument("--cell", help="cell id (default: the first with a score-based acquisition)")
    g.add_argument("--round", type=int, default=0)
    g.add_argument("--top", type=int, default=5)
    g.add_argument("--out", help="PNG file (default <dir>/gallery-<cell>-r<round>.png)")
    g.set_defaults(handler=lambda a: c.gallery(a.dir, cell=a.cell, round_=a.round, top=a.top,
                                               out=a.out))


def _tool_commands(sub: argparse._SubParsersAction, add: _AddCommand, c: ModuleType,
                   flags: argparse.ArgumentParser) -> None:
    cfg = add("config", help="spec presets")
    show = cfg.add_subparsers(dest="config_command", required=True).add_parser(
        "show", parents=[flags], help="print a preset's full TOML")
    show.add_argument("preset", nargs="?", default="quickstart")
    show.set_defaults(handler=lambda a: c.config_show(a.preset))

    acq = add("acquisitions", help="list registered acquisition functions (or check one)")
    acq.set_defaults(handler=lambda a: c.acquisitions())
    chk_acq = acq.add_subparsers(dest="acquisitions_command").add_parser(
        "check", parents=[flags], help="run the plugin conformance kit on an acquisition")
    chk_acq.add_argument("name")
    chk_acq.add_argument("--param", action="append", metavar="K=V",
                         help="a parameter (TOML/JSON value), repeatable")
    chk_acq.set_defaults(handler=lambda a: c.acquisitions_check(a.name, a.param))



def _model_commands(add: _AddCommand, c: ModuleType, flags: argparse.ArgumentParser) -> None:
    pl = add("plan", help="what a grid costs before it runs (counts; --probe measures)")
    pl.add_argument("spec", help="spec TOML file or preset name")
    pl.add_argument("--probe", action="store_true",
                    help="time a few real training steps per model configuration here")
    pl.add_argument("--json", action="store_true", help="one JSON object")
    pl.add_argument("--device", help="device for --probe (default: auto)")
    pl.set_defaults(handler=lambda a: c.plan(a.spec, probe=a.probe, as_json=a.json,
                                             device=a.device))

    cp = add("compact", help="merge each cell's per-round result files into one")
    cp.add_argument("dir", help="experiment folder")
    cp.set_defaults(handler=lambda a: c.compact(a.dir))

    pr = add("predict", help="landmarks of new images with a saved model, into a CSV")
    pr.add_argument("inputs", nargs="+", metavar="IMAGE_OR_DIR")
    pr.add_argument("--model", required=True, help="a saved model (round-NNN/model.pt)")
    pr.add_argument("--out", required=True, help="CSV to write: image,x0,y0,x1,y1,...")
    pr.add_argument("--boxes", help="CSV image,x_min,y_min,x_max,y_max (pixels)")
    pr.add_argument("--overlay", help="folder for each image with its landmarks drawn")
    pr.add_argument("--device", default="auto")
    pr.add_argument("--batch-size", type=int, default=32)
    pr.set_defaults(handler=lambda a: c.predict(a.model, a.inputs, a.out, boxes=a.boxes,
                                                overlay=a.overlay, device=a.device,
                                                batch_size=a.batch_size))

    ex = add("export", help="the landmark network as ONNX or TorchScript")
    ex.add_argument("model", help="a saved model (round-NNN/model.pt)")
    ex.add_argument("--format", required=True, choices=("onnx", "torchscript"))
    ex.add_argument("--out", required=True, help="file to write")
    ex.set_defaults(handler=lambda a: c.export(a.model, a.format, a.out))

    _propose_command(add, c)

    ds = add("datasets", help="data set tools")
    chk = ds.add_subparsers(dest="datasets_command", required=True).add_parser(
        "check", parents=[flags], help="what a downloaded data folder holds, per split")
    chk.add_argument("name", choices=DATA_SETS)
    chk.add_argument("root")
    chk.add_argument("--strict", action="store_true", help="warnings fail too")
    chk.set_defaults(handler=lambda a: c.datasets_check(a.name, a.root, strict=a.strict))

    pt = add("pretrain", help="unsupervised auto-encoder stage")
    pt.add_argument("--data", default="synthetic", help="synthetic, 300w, wflw or folder")
    pt.add_argument("--root", help="data root (or an image folder for 'folder')")
    pt.add_argument("--input-size", type=int, default=64)
    pt.add_argument("--width", type=float, default=0.25)
    pt.add_argument("--steps", type=int, default=1000)
    pt.add_argument("--batch-size", type=int, default=32)
    pt.add_argument("--out", required=True, help="checkpoint file to write (resumes if present)")
    pt.add_argument("--device", default="auto")
    pt.set_defaults(handler=lambda a: c.pretrain(
        a.out, data=a.data, root=a.root, input_size=a.input_size, width=a.width,
        steps=a.steps, batch_size=a.batch_size, device=a.device))

    b = add("bench", help="benchmarks with same-run baselines")
    b.add_argument("--quick", action="store_true")
    b.add_argument("--out", help="JSON file for the records")
    b.set_defaults(handler=lambda a: c.bench(quick=a.quick, out=a.out))


def _propose_command(add: _AddCommand, c: ModuleType) -> None:
    pp = add("propose", help="which of your own face images to annotate next (one round)")
    pp.add_argument("project", help="the project folder (created by the first call)")
    pp.add_argument("--images", required=True, help="your image folder (searched recursively; "
                                                    "an image with a .pts beside it is labeled)")
    pp.add_argument("--k", type=int, required=True, help="how many images to propose")
    pp.add_argument("--spec", help="spec TOML ([model], [trainer], [[acquisitions]], ...; "
                                   "default: the paper's settings, slow on a CPU)")
    pp.add_argument("--boxes", help="CSV image,x_min,y_min,x_max,y_max (pixels), one row per "
                                    "image")
    pp.add_argument("--cold-start", choices=("kcenter", "random"), default="kcenter",
                    help="how to pick while fewer than L0 images are labeled (default kcenter)")
    pp.add_argument("--skip-bad", action="store_true",
                    help="leave bad files out (listed) instead of stopping")
    pp.add_argument("--device", help="auto, cpu, cuda, cuda:1 (default: the spec's)")
    pp.set_defaults(handler=lambda a: c.propose(
        a.project, a.images, a.k, spec=a.spec, boxes=a.boxes, cold_start=a.cold_start,
        skip_bad=a.skip_bad, device=a.device))


def build_parser(commands: ModuleType) -> argparse.ArgumentParser:
    """The parser; `commands` is the module holding the typed command functions."""
    p = argparse.ArgumentParser(prog="scaf-al", parents=[_global_flags(False)],
                                description="Active-learning experiments for face alignment")
    sub = p.add_subparsers(dest="command", required=True)
    flags = _global_flags(argparse.SUPPRESS)

    def add(name: str, *, help: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, parents=[flags], help=help)

    _experiment_commands(sub, add, commands)
    _tool_commands(sub, add, commands, flags)
    _model_commands(add, commands, flags)
    return p
