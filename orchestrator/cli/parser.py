"""The `scaf-al` argument parser: each sub-command's flags, bound to the typed function it
calls.

Defaults have one home: the signatures of the functions in :mod:`orchestrator.cli.commands`.
`_bind` gives each flag the default of the parameter it fills (help texts show it with
`%(default)s`) and calls the function with the parsed flags by name. Global flags
(`--debug`) are accepted before or after the sub-command. Commands from other packages
(the benchmarks' `bench`) join through the entry-point group ``scaf_al.commands``.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import inspect
from collections.abc import Callable
from types import ModuleType
from typing import Any

COMMAND_GROUP = "scaf_al.commands"
FORMATS = ("terminal", "markdown", "csv", "latex", "html", "json")

#: Adds one sub-command: `add(name, help=...)` returns its parser (global flags included).
AddCommand = Callable[..., argparse.ArgumentParser]
#: A parameter filled from the flags: the flag's dest, or a function of the namespace.
Source = str | Callable[[argparse.Namespace], Any]


def _bind(p: argparse.ArgumentParser, func: Callable[..., int], **sources: Source) -> None:
    """Call `func` with the parsed flags, each parameter from the flag of its name (or the
    flag / function `sources` names), and give each flag its parameter's default."""
    params = inspect.signature(func).parameters
    dest_of = {name: sources.get(name, name) for name in params}
    for action in p._actions:
        for name, source in dest_of.items():
            if source == action.dest and params[name].default is not inspect.Parameter.empty:
                action.default = params[name].default

    def handler(a: argparse.Namespace) -> int:
        args = {name: (source(a) if callable(source) else getattr(a, source))
                for name, source in dest_of.items()
                if callable(source) or hasattr(a, source)}
        return func(**args)

    p.set_defaults(handler=handler)


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
    p.add_argument("--interval", type=float,
                   help="seconds between plain-text progress snapshots (default %(default)s)")


def _view_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--cells", action="store_true",
                   help="one row per cell instead of the grid view (filters below)")
    p.add_argument("--acquisition", help="--cells: only this acquisition (name or label)")
    p.add_argument("--state", help="--cells: only cells in this state (running, error, ...)")


def _view(a: argparse.Namespace) -> object:
    from orchestrator.cli.watch import ViewOptions

    return ViewOptions(cells=a.cells, acquisition=a.acquisition, state=a.state,
                       plain=getattr(a, "plain", False))


def _experiment_commands(add: AddCommand, c: ModuleType) -> None:
    r = add("run", help="run an experiment spec (default: the built-in quickstart)")
    r.add_argument("spec", nargs="?", help="spec TOML file or preset name (default quickstart)")
    r.add_argument("--out", help="experiment folder (default scaf-al-runs/<name>)")
    r.add_argument("--resume", action="store_true", help="resume if --out holds this experiment")
    _run_flags(r)
    _bind(r, c.run)

    rs = add("resume", help="continue an experiment whose driver stopped")
    rs.add_argument("dir", help="experiment folder")
    _run_flags(rs)
    _bind(rs, c.resume_experiment, experiment_dir="dir")

    ex = add("extend", help="add a spec's new cells (or more seeds) to an experiment and "
                            "run only those")
    ex.add_argument("dir", help="experiment folder")
    ex.add_argument("spec", nargs="?", help="spec TOML file or preset name whose cells join")
    ex.add_argument("--seeds", type=int,
                    help="raise every configuration to N seeds (the next seed numbers)")
    _run_flags(ex)
    _bind(ex, c.extend, experiment_dir="dir")

    st = add("status", help="progress by the grid's axes (or per cell with --cells)")
    st.add_argument("dir", help="experiment folder")
    _view_flags(st)
    _bind(st, c.status, experiment_dir="dir", view=_view)

    rep = add("report", help="paper-style tables, significance, plots")
    rep.add_argument("dir", help="experiment folder")
    rep.add_argument("--format", choices=FORMATS, help="output format (default %(default)s)")
    rep.add_argument("--plots", help="write learning-curve PNG + SVG into this folder")
    rep.add_argument("--split", help="test split for the main table")
    rep.add_argument("--out", help="--format html: the file to write (default DIR/report.html)")
    _bind(rep, c.report, experiment_dir="dir", fmt="format")

    w = add("watch", help="live view of an experiment folder")
    w.add_argument("dir", help="experiment folder")
    w.add_argument("--interval", type=float, help="seconds between refreshes "
                                                  "(default %(default)s)")
    w.add_argument("--once", action="store_true", help="print one snapshot and exit")
    _view_flags(w)
    w.add_argument("--plain", action="store_true", help="plain text even on a terminal")
    w.add_argument("--html", help="rewrite this self-contained HTML page every interval "
                                  "instead of printing (the page reloads itself)")
    _bind(w, c.watch, experiment_dir="dir", view=_view)

    g = add("gallery", help="top-ranked pool images of a cell and round")
    g.add_argument("dir", help="experiment folder")
    g.add_argument("--cell", help="cell id (default: the first with a score-based acquisition)")
    g.add_argument("--round", type=int, help="round (default %(default)s)")
    g.add_argument("--top", type=int, help="images per row (default %(default)s)")
    g.add_argument("--out", help="PNG file (default <dir>/gallery-<cell>-r<round>.png)")
    _bind(g, c.gallery, experiment_dir="dir", round_="round")


def _tool_commands(add: AddCommand, c: ModuleType, flags: argparse.ArgumentParser) -> None:
    cfg = add("config", help="spec presets")
    show = cfg.add_subparsers(dest="config_command", required=True).add_parser(
        "show", parents=[flags], help="print a preset's full TOML")
    show.add_argument("preset", nargs="?", help="preset name (default %(default)s)")
    _bind(show, c.config_show)

    acq = add("acquisitions", help="list registered acquisition functions (or check one)")
    _bind(acq, c.acquisitions)
    chk_acq = acq.add_subparsers(dest="acquisitions_command").add_parser(
        "check", parents=[flags], help="run the plugin conformance kit on an acquisition")
    chk_acq.add_argument("name")
    chk_acq.add_argument("--param", action="append", metavar="K=V",
                         help="a parameter (TOML/JSON value), repeatable")
    _bind(chk_acq, c.acquisitions_check, params="param")

    ds = add("datasets", help="registered data sets, and what a downloaded folder holds")
    ds_sub = ds.add_subparsers(dest="datasets_command", required=True)
    lst = ds_sub.add_parser("list", parents=[flags], help="registered data sets and splits")
    _bind(lst, c.datasets_list)
    chk = ds_sub.add_parser("check", parents=[flags],
                            help="what a downloaded data folder holds, per split")
    chk.add_argument("name", help="a data set read from disk (see `scaf-al datasets list`)")
    chk.add_argument("root")
    chk.add_argument("--strict", action="store_true", help="warnings fail too")
    _bind(chk, c.datasets_check)

    pt = add("pretrain", help="unsupervised auto-encoder stage")
    pt.add_argument("--data", help="a registered data set (default %(default)s)")
    pt.add_argument("--root", help="data root (or an image folder for 'folder')")
    pt.add_argument("--input-size", type=int, help="network input side (default %(default)s)")
    pt.add_argument("--width", type=float, help="width multiplier (default %(default)s)")
    pt.add_argument("--steps", type=int, help="training steps (default %(default)s)")
    pt.add_argument("--batch-size", type=int, help="images per step (default %(default)s)")
    pt.add_argument("--out", required=True, help="checkpoint file to write (resumes if present)")
    pt.add_argument("--device", help="auto, cpu, cuda, cuda:1 (default %(default)s)")
    _bind(pt, c.pretrain)


def _model_commands(add: AddCommand, c: ModuleType) -> None:
    pl = add("plan", help="what a grid costs before it runs (counts; --probe measures)")
    pl.add_argument("spec", help="spec TOML file or preset name")
    pl.add_argument("--probe", action="store_true",
                    help="time a few real training steps per model configuration here")
    pl.add_argument("--json", action="store_true", help="one JSON object")
    pl.add_argument("--device", help="device for --probe (default: the spec's)")
    pl.add_argument("--against", metavar="DIR",
                    help="count only the cells experiment DIR does not hold yet")
    pl.add_argument("--seeds", type=int,
                    help="with --against: and the seeds `extend DIR SPEC --seeds N` adds")
    _bind(pl, c.plan, as_json="json")

    cp = add("compact", help="merge each cell's per-round result files into one")
    cp.add_argument("dir", help="experiment folder")
    _bind(cp, c.compact, experiment_dir="dir")

    pr = add("predict", help="landmarks of new images with a saved model, into a CSV")
    pr.add_argument("inputs", nargs="+", metavar="IMAGE_OR_DIR")
    pr.add_argument("--model", required=True, help="a saved model (round-NNN/model.pt)")
    pr.add_argument("--out", required=True,
                    help="CSV to write: image,face,x_min,y_min,x_max,y_max,x0,y0,...")
    pr.add_argument("--boxes", help="CSV image,x_min,y_min,x_max,y_max (pixels), one row per "
                                    "face (default: faces are detected)")
    pr.add_argument("--min-face", type=int, metavar="PX",
                    help="leave out detected faces smaller than PX pixels (default %(default)s)")
    pr.add_argument("--whole-image", action="store_true",
                    help="each image is one face crop already (no detection)")
    pr.add_argument("--overlay", help="folder for each image with its landmarks drawn")
    pr.add_argument("--device", help="auto, cpu, cuda, cuda:1 (default %(default)s)")
    pr.add_argument("--batch-size", type=int, help="images per batch (default %(default)s)")
    _bind(pr, c.predict)

    ex = add("export", help="the landmark network as ONNX or TorchScript")
    ex.add_argument("model", help="a saved model (round-NNN/model.pt)")
    ex.add_argument("--format", required=True, choices=("onnx", "torchscript"))
    ex.add_argument("--out", required=True, help="file to write")
    _bind(ex, c.export, fmt="format")


def _project_commands(add: AddCommand, c: ModuleType) -> None:
    pp = add("propose", help="which of your own face images to annotate next (one round)")
    pp.add_argument("project", help="the project folder (created by the first call)")
    pp.add_argument("--images", required=True, help="your image folder (searched recursively; "
                                                    "an image with a .pts beside it is labeled)")
    pp.add_argument("--k", type=int, required=True, help="how many images to propose")
    pp.add_argument("--spec", help="spec TOML ([model], [trainer], [[acquisitions]], ...; "
                                   "default: the paper's settings, slow on a CPU)")
    pp.add_argument("--boxes", help="CSV image,x_min,y_min,x_max,y_max (pixels), one row per "
                                    "face (default: faces are detected)")
    pp.add_argument("--min-face", type=int, metavar="PX",
                    help="leave out detected faces smaller than PX pixels (default %(default)s)")
    pp.add_argument("--whole-image", action="store_true",
                    help="each image is one face crop already (no detection)")
    pp.add_argument("--cold-start", choices=("kcenter", "random"),
                    help="how to pick while fewer than L0 images are labeled "
                         "(default %(default)s)")
    pp.add_argument("--skip-bad", action="store_true",
                    help="leave bad files out (listed) instead of stopping")
    pp.add_argument("--device", help="auto, cpu, cuda, cuda:1 (default: the spec's)")
    _bind(pp, c.propose)

    sv = add("serve", help="a Label Studio ML backend for an annotation project")
    sv.add_argument("project", help="the project folder (made by `scaf-al propose`)")
    sv.add_argument("--images", required=True, help="the project's image folder; /predict "
                                                    "refuses images outside it")
    sv.add_argument("--host", help="address to bind (default %(default)s; 0.0.0.0 exposes "
                                   "the backend to every network this machine is on)")
    sv.add_argument("--port", type=int, help="port (default %(default)s)")
    sv.add_argument("--boxes", help="the face-box CSV the project's rounds use")
    sv.add_argument("--k", type=int, help="images per training round (default: the last "
                                          "round's)")
    sv.add_argument("--device", help="auto, cpu, cuda, cuda:1 (default: the spec's)")
    sv.add_argument("--label-studio-url", help="Label Studio's URL until /setup gives one "
                                               "(default $LABEL_STUDIO_URL)")
    sv.add_argument("--label-studio-token", help="its API token until /setup gives one "
                                                 "(default $LABEL_STUDIO_API_KEY)")
    _bind(sv, c.serve)


def _tracking_commands(add: AddCommand, c: ModuleType) -> None:
    tr = add("track", help="write an experiment into MLflow / TensorBoard (what they lack)")
    tr.add_argument("dir", help="experiment folder")
    tr.add_argument("--mlflow", metavar="URI",
                    help="an MLflow tracking server (http://host:5000) or a local folder")
    tr.add_argument("--tensorboard", metavar="DIR", help="a TensorBoard log folder")
    _bind(tr, c.track, experiment_dir="dir")


def _plugin_commands(add: AddCommand, taken: set[str]) -> None:
    """Sub-commands that other packages add (entry-point group ``scaf_al.commands``: each
    names a function `register(add)` that adds its commands and binds their handlers)."""
    for entry_point in importlib.metadata.entry_points(group=COMMAND_GROUP):
        if entry_point.name in taken:
            raise ValueError(f"command {entry_point.name!r} of entry point "
                             f"'{entry_point.value}' ({COMMAND_GROUP}) is a built-in command")
        entry_point.load()(add)
        taken.add(entry_point.name)


def build_parser(commands: ModuleType) -> argparse.ArgumentParser:
    """The parser; `commands` is the module holding the typed command functions."""
    p = argparse.ArgumentParser(prog="scaf-al", parents=[_global_flags(False)],
                                description="Active-learning experiments for face alignment")
    sub = p.add_subparsers(dest="command", required=True)
    flags = _global_flags(argparse.SUPPRESS)

    def add(name: str, **kw: Any) -> argparse.ArgumentParser:
        return sub.add_parser(name, parents=[flags], **kw)

    _experiment_commands(add, commands)
    _tool_commands(add, commands, flags)
    _model_commands(add, commands)
    _project_commands(add, commands)
    _tracking_commands(add, commands)
    _plugin_commands(add, set(sub.choices))
    return p
