"""`scaf-al datasets check` and `scaf-al pretrain`: the data-side commands.

    scaf-al datasets check 300w ~/data/300W [--strict]
    scaf-al pretrain --out ae.pt                           # synthetic faces, 64 px, tiny
    scaf-al pretrain --data 300w --root ~/data/300W --input-size 256 --width 1 --out ae.pt

`pretrain` resumes when `--out` already holds a run of the same size (run it again with a
larger --steps to train further); its checkpoint is what `model.pretrained` in a spec and
`trainers.models.load_pretrained` read.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.markup import escape
from rich.table import Table

if TYPE_CHECKING:  # the data and training modules load only when a command runs
    from rich.console import JustifyMethod

    from trainers.datasets.check import SplitCheck
    from trainers.datasets.cropset import CropSet
    from trainers.training.pretrain import PretrainConfig

__all__ = [
    "check_table",
    "datasets_check",
    "pretrain",
    "pretrain_images",
    "render_check",
]

STATUS_COLOURS = {"ok": "green", "warning": "yellow", "error": "red"}
SHOWN_PROBLEMS = 5  # per split in the table; the rest are counted


def check_table(rows: list[SplitCheck], title: str = "") -> Table:
    """The rows of `check_dataset` as a rich Table, one line per split."""
    table = Table(title=escape(title) or None)
    columns: tuple[tuple[str, JustifyMethod], ...] = (
        ("split", "left"), ("faces", "right"), ("expected", "right"), ("skipped", "right"),
        ("boxes", "left"), ("box Δ px", "right"), ("status", "left"), ("problems", "left"),
    )
    for col, justify in columns:
        table.add_column(col, justify=justify)
    for r in rows:
        more = len(r.problems) - SHOWN_PROBLEMS
        # Problems quote file names and values: never read them as rich markup.
        shown = "\n".join(escape(p) for p in r.problems[:SHOWN_PROBLEMS])
        shown += f"\n... {more} more" if more > 0 else ""
        table.add_row(
            escape(r.split),
            str(r.faces),
            "" if r.expected is None else str(r.expected),
            str(r.skipped),
            r.boxes,
            "" if r.box_vs_landmarks_px is None else f"{r.box_vs_landmarks_px:.2f}",
            f"[{STATUS_COLOURS[r.status]}]{r.status}[/]",
            shown,
        )
    return table


def render_check(rows: list[SplitCheck], title: str = "", console: Console | None = None) -> None:
    """Print the rows of `check_dataset` as a table (to `console`, default stdout)."""
    (console or Console()).print(check_table(rows, title))


def datasets_check(name: str, root: Path, strict: bool = False,
                   console: Console | None = None) -> int:
    """Print what a data folder holds, split by split.

    Args:
        name: a registered data set read from disk (`scaf-al datasets list`).
        root: the data set root.
        strict: warnings (count mismatches, skipped bad files) fail too.
        console: where to print (default stdout).

    Returns:
        0 when every split opened (warnings allowed unless strict), else 1.
    """
    from trainers.datasets.check import check_dataset, failing_splits

    console = console or Console()
    rows = check_dataset(name, root)
    render_check(rows, title=f"{name} at {root}", console=console)
    bad = failing_splits(rows, strict)
    if bad:
        why = "errors or warnings (--strict)" if strict else "errors"
        console.print(f"[red]{len(bad)} split(s) with {why}:[/] {escape(', '.join(bad))}",
                      highlight=False)
        return 1
    console.print(f"[green]ok[/]: {sum(r.faces for r in rows)} faces in {len(rows)} splits")
    return 0


def pretrain_images(data: str, root: str | None, input_size: int) -> CropSet:
    """The CropSet the unsupervised stage trains on.

    Args:
        data: a registered data set (`scaf-al datasets list`); its pre-training split is
            used (300-W and WFLW: train; folder: every image; synthetic: the pool).
        root: the data root (for generated data: an optional folder to cache the faces
            in; None keeps them in memory).
        input_size: network input side.

    Raises:
        ValueError: unknown data set, or a missing --root for one read from disk.
    """
    from trainers.caches.location import cache_root
    from trainers.datasets import get_dataset, load_cropset

    try:
        info = get_dataset(data)
    except ValueError as e:
        raise ValueError(f"--data: {e}") from e
    if not root and info.needs_root():
        raise ValueError(f"--data {info.name} needs --root (the folder holding the download)")
    return load_cropset(info.name, root or None, info.pretrain_split, input_size,
                        cache_dir=cache_root() / "crops")


def pretrain(
    data: str,
    root: str | None,
    input_size: int,
    out: Path,
    *,
    width: float,
    steps: int,
    batch_size: int,
    device: str,
    console: Console | None = None,
) -> int:
    """Run (or resume) the unsupervised auto-encoder stage with a progress bar.

    Args:
        data: a registered data set (see `pretrain_images`).
        root: the data root (optional for synthetic).
        input_size: network input side.
        out: checkpoint file; a run already there of the same size is resumed.
        width, steps, batch_size, device: as PretrainConfig.
        console: where to print (default stdout).

    Returns:
        0 (errors raise: ValueError for bad arguments, loader errors naming the file).
    """
    from trainers.models import read_checkpoint
    from trainers.training.pretrain import PretrainConfig

    console = console or Console()
    config = PretrainConfig(
        input_size=input_size, width=width, steps=steps, batch_size=batch_size, device=device,
        # A progress call costs a host sync on a GPU: about every 10 steps is enough.
        log_every=max(1, min(10, steps // 20)),
    )
    out = Path(out).expanduser()
    start = int(read_checkpoint(out).extra.get("step", 0)) if out.exists() else 0
    images = pretrain_images(data, root, input_size)
    console.print(f"[bold]pretrain[/] {escape(data)}: {len(images)} images at {input_size} "
                  f"px, width {width:g} -> {escape(str(out))}", highlight=False)
    if start >= config.steps:
        console.print(f"{out} already holds {start} steps (>= --steps {config.steps}); "
                      "nothing to do", markup=False, highlight=False)
        return 0
    if start:
        console.print(f"resuming from step {start}")
    out.parent.mkdir(parents=True, exist_ok=True)
    _train_with_progress(images, config, out, start, console)
    console.print(f"[green]done[/]: {escape(str(out))} (use it as model.pretrained in a spec)",
                  highlight=False)
    return 0


def _train_with_progress(images: CropSet, config: PretrainConfig, out: Path, start: int,
                         console: Console) -> None:
    """`pretrain_autoencoder` from step `start` with a rich progress bar."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    from trainers.training.pretrain import pretrain_autoencoder

    columns = (TextColumn("[progress.description]{task.description}"), BarColumn(),
               TextColumn("{task.completed}/{task.total}"), TextColumn("{task.fields[info]}"),
               TimeRemainingColumn())
    with Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task("pretrain", total=config.steps, completed=start, info="")

        def progress(report: dict) -> None:
            info = f"loss {report['loss']:.4g}  {report['images_per_s']:.1f} img/s"
            bar.update(task, completed=report["step"], info=info)

        pretrain_autoencoder(images, config, out, progress=progress, resume=True)


