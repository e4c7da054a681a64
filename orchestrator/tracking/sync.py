"""Bringing trackers up to date with the store: which trackers a spec or the command line
names, one pass over them, and the report files shown as the experiment's artefacts.

A pass reads the store once and lets each tracker write what it lacks
(:mod:`orchestrator.tracking.records`); `scaf-al track DIR` is one pass, and a run's driver
makes one after each round arrives (:mod:`orchestrator.tracking.background`).
"""

from __future__ import annotations

import contextlib
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from orchestrator.results.experiment_folder import ExperimentFolder
from orchestrator.spec.tables import SpecError, TrackingTable
from orchestrator.tracking.records import ExperimentRecord, read_experiment


class Sink(Protocol):
    """A tracker: writes what it lacks of an experiment, never a point twice."""

    name: str
    target: str

    def sync(self, rec: ExperimentRecord) -> int: ...

    def has_artefacts(self, rec: ExperimentRecord) -> bool: ...

    def log_artefacts(self, rec: ExperimentRecord, files: list[Path]) -> None: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class Targets:
    """Where to track: an MLflow URI or folder, a TensorBoard folder (None: not used)."""

    mlflow: str | None = None
    tensorboard: str | None = None

    @classmethod
    def from_table(cls, table: TrackingTable, folder: ExperimentFolder) -> Targets:
        """The spec's `[tracking]`: `tensorboard = true` is the folder's tensorboard/."""
        tb = table.tensorboard
        tensorboard = (str(folder.tensorboard_dir) if tb is True
                       else str(tb) if isinstance(tb, str) else None)
        return cls(table.mlflow, tensorboard)

    def sinks(self) -> list[Sink]:
        out: list[Sink] = []
        if self.mlflow is not None:
            from orchestrator.tracking.mlflow_sink import MlflowSink

            out.append(MlflowSink(self.mlflow))
        if self.tensorboard is not None:
            from orchestrator.tracking.tensorboard_sink import TensorboardSink

            out.append(TensorboardSink(self.tensorboard))
        return out


def check_clients(table: TrackingTable) -> None:
    """The client libraries the spec's trackers need are installed (checked before a run).

    Raises:
        SpecError: naming `tracking.mlflow` or `tracking.tensorboard` and the extra.
    """
    import importlib.util

    needs = [("mlflow", table.mlflow is not None, "mlflow"),
             ("tensorboard", table.tensorboard is not False, "tensorboard")]
    for key, used, module in needs:
        if used and importlib.util.find_spec(module) is None:
            raise SpecError(f"tracking.{key}", f"needs the {module} package: "
                                               "pip install 'scaf-al[tracking]'")


def render_artefacts(folder: ExperimentFolder, out_dir: Path) -> list[Path]:
    """The report (HTML and markdown) and the learning curves (PNG, SVG) into `out_dir`."""
    from orchestrator.report.html import write_html
    from orchestrator.report.plots import write_learning_curves
    from orchestrator.report.render import render_markdown
    from orchestrator.report.tables import load_report
    from orchestrator.results.readers import read_rounds

    files = [write_html(folder.path, out_dir / "report.html")]
    md = out_dir / "report.md"
    md.write_text(render_markdown(load_report(folder.path)) + "\n")
    files.append(md)
    with contextlib.suppress(ValueError):  # no NME values yet: nothing to plot
        files += write_learning_curves(read_rounds(folder.store), out_dir)
    return files


@dataclass
class PassResult:
    """What one pass wrote: rounds per tracker, and whether the artefacts went out."""

    written: dict[str, int] = field(default_factory=dict)
    artefacts: bool = False


def sync_once(folder: ExperimentFolder, sinks: list[Sink], *, artefacts: bool | None = None,
              rec: ExperimentRecord | None = None) -> PassResult:
    """One pass: every tracker gets what it lacks; with `artefacts` the report and plots
    too (by default: to the trackers that lack the report of a finished experiment). A
    tracker's error propagates (nothing it confirmed is written again by the next pass)."""
    rec = rec or read_experiment(folder)
    result = PassResult()
    for sink in sinks:
        result.written[sink.name] = sink.sync(rec)
    if artefacts is None:
        takers = [s for s in sinks if rec.complete and not s.has_artefacts(rec)]
    else:
        takers = sinks if artefacts else []
    if takers:
        with tempfile.TemporaryDirectory(prefix="scaf-al-report-") as tmp:
            files = render_artefacts(folder, Path(tmp))
            for sink in takers:
                sink.log_artefacts(rec, files)
        result.artefacts = True
    return result


def track_folder(experiment_dir: str | Path, mlflow: str | None = None,
                 tensorboard: str | None = None) -> list[str]:
    """`scaf-al track DIR`: one pass into the trackers named, or (none named) those of the
    folder's spec; the report and plots too once every cell is done. Returns one line per
    tracker saying what was written.

    Raises:
        SpecError: nothing named and the spec has no `[tracking]`, or a client is missing.
        NotAnExperimentError: the folder holds no experiment.
    """
    folder = ExperimentFolder.open(experiment_dir)
    if mlflow is None and tensorboard is None:
        table = folder.spec().tracking
        if not table.enabled:
            raise SpecError("tracking", f"{folder.spec_file} has no [tracking] table; "
                                        "give --mlflow URI and/or --tensorboard DIR")
        check_clients(table)
        targets = Targets.from_table(table, folder)
    else:
        targets = Targets(mlflow, tensorboard)
    sinks = targets.sinks()
    try:
        result = sync_once(folder, sinks)
    finally:
        for sink in sinks:
            sink.close()
    extra = "; report and learning curves as artefacts" if result.artefacts else ""
    return [f"{s.name} {s.target}: {result.written[s.name]} rounds written{extra}"
            for s in sinks]
