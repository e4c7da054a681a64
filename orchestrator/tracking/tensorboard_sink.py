"""The experiment as TensorBoard runs under one folder:

    DIR/<experiment>/            the parent run: the spec, and at the end the report
                                 (markdown text), the learning curves (image) and
                                 artefacts/ (report.html, report.md, the plots)
    DIR/<experiment>/<label>/    one run per cell, e.g. tiny/scaf/nnm(window=3)/b40/s1:
                                 `params` and `tags` as text, one scalar per metric and
                                 round at step = labeled images

Idempotent, keyed by cell and round: what a run's folder holds is read back with
TensorBoard's own reader before anything is written to it, so only missing points are
added. Writes with `torch.utils.tensorboard` (which needs the `tensorboard` package,
`pip install scaf-al[tracking]`).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from orchestrator.tracking.records import CellRecord, ExperimentRecord

ARTEFACTS_DIR = "artefacts"


def _table(values: dict[str, str]) -> str:
    """A markdown table (TensorBoard's text plugin renders it)."""
    rows = "\n".join(f"| {k} | {v} |" for k, v in sorted(values.items()))
    return f"| key | value |\n|---|---|\n{rows}"


def _read_back(run_dir: Path) -> dict[str, set[int]]:
    """tag -> steps of the scalars, texts and images already in a run's folder (that
    folder's own event files; the cells' folders below it are runs of their own)."""
    if not run_dir.is_dir():
        return {}
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(run_dir),
                           size_guidance={"scalars": 0, "tensors": 0, "images": 0})
    acc.Reload()
    tags = acc.Tags()
    out = {t: {e.step for e in acc.Scalars(t)} for t in tags["scalars"]}
    out.update({t: {e.step for e in acc.Tensors(t)} for t in tags["tensors"]})
    out.update({t: {e.step for e in acc.Images(t)} for t in tags["images"]})
    return out


def _text_tag(name: str) -> str:
    """The tag `SummaryWriter.add_text(name, ...)` writes."""
    return f"{name}/text_summary"


class TensorboardSink:
    """Writes an :class:`ExperimentRecord` as TensorBoard event files under one folder."""

    name = "tensorboard"

    def __init__(self, target: str | Path) -> None:
        self.root = Path(target).expanduser().resolve()
        self.target = str(self.root)
        self._writers: dict[Path, Any] = {}
        self._steps: dict[Path, dict[str, set[int]]] = {}  # run folder -> tag -> steps

    def _writer(self, run_dir: Path) -> Any:
        if run_dir not in self._writers:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:
                raise ImportError("the TensorBoard tracker needs tensorboard: pip install "
                                  "'scaf-al[tracking]'") from None
            run_dir.mkdir(parents=True, exist_ok=True)
            self._writers[run_dir] = SummaryWriter(str(run_dir))
        return self._writers[run_dir]

    def _known(self, run_dir: Path) -> dict[str, set[int]]:
        if run_dir not in self._steps:
            self._steps[run_dir] = _read_back(run_dir)
        return self._steps[run_dir]

    def _text_once(self, run_dir: Path, name: str, text: str, step: int = 0) -> None:
        known = self._known(run_dir)
        if step not in known.get(_text_tag(name), set()):
            self._writer(run_dir).add_text(name, text, step)
            known.setdefault(_text_tag(name), set()).add(step)

    def parent_dir(self, rec: ExperimentRecord) -> Path:
        return self.root / rec.name

    def _sync_cell(self, cell: CellRecord, run_dir: Path) -> int:
        self._text_once(run_dir, "params", _table(cell.params))
        self._text_once(run_dir, "tags", _table(cell.tags))
        known = self._known(run_dir)
        rounds = set()
        for p in cell.points:
            for key, value in sorted(p.metrics.items()):
                if p.step not in known.get(key, set()):
                    self._writer(run_dir).add_scalar(key, value, p.step,
                                                     walltime=p.timestamp_ms / 1000)
                    known.setdefault(key, set()).add(p.step)
                    rounds.add(p.round)
        return len(rounds)

    def sync(self, rec: ExperimentRecord) -> int:
        """Write every point the folder lacks; returns the points (rounds) written."""
        parent = self.parent_dir(rec)
        self._text_once(parent, "spec", f"```toml\n{rec.spec_text}\n```")
        written = sum(self._sync_cell(c, parent / c.label) for c in rec.cells if c.points)
        for w in self._writers.values():
            w.flush()
        return written

    def has_artefacts(self, rec: ExperimentRecord) -> bool:
        """The report of this many rounds is already in the parent run."""
        return rec.points() in self._known(self.parent_dir(rec)).get(_text_tag("report"), set())

    def log_artefacts(self, rec: ExperimentRecord, files: list[Path]) -> None:
        """Copy the report and plots into the parent's artefacts/; show the markdown report
        as text and the learning curves as an image (once per number of rounds)."""
        parent = self.parent_dir(rec)
        out = parent / ARTEFACTS_DIR
        out.mkdir(parents=True, exist_ok=True)
        for f in files:
            shutil.copyfile(f, out / f.name)
        step = rec.points()
        for f in files:
            if f.name == "report.md":
                self._text_once(parent, "report", f.read_text(), step)
            elif f.suffix == ".png" and f.stem.startswith("learning_curves"):
                self._image_once(parent, f, step)
        for w in self._writers.values():
            w.flush()

    def _image_once(self, run_dir: Path, png: Path, step: int) -> None:
        import numpy as np
        from PIL import Image

        known = self._known(run_dir)
        if step in known.get(png.stem, set()):
            return
        pixels = np.asarray(Image.open(png).convert("RGB"))
        self._writer(run_dir).add_image(png.stem, pixels, step, dataformats="HWC")
        known.setdefault(png.stem, set()).add(step)

    def close(self) -> None:
        for w in self._writers.values():
            w.close()
        self._writers.clear()
