"""`scaf-al datasets check` and `scaf-al pretrain`: the data-side commands.

    scaf-al datasets check 300w ~/data/300W [--strict]
    scaf-al pretrain --out ae.pt                           # synthetic faces, 64 px, tiny
    scaf-al pretrain --data 300w --root ~/data/300W --input-size 256 --width 1 --out ae.pt

`pretrain` resumes when `--out` already holds a run of the same size (run it again with a
larger --steps to train further); its checkpoint is what `model.pretrained` in a spec and
`trainers.models.load_pretrained` read.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from rich.console import Console

__all__ = ["cli_datasets_check", "cli_pretrain", "pretrain_images"]

# The split the unsupervised stage trains on, per data set (folder: every image).
PRETRAIN_SPLIT = {"300w": "train", "wflw": "train", "folder": "all", "synthetic": "pool"}


def cli_datasets_check(args: argparse.Namespace) -> int:
    """Print what a data folder holds, split by split.

    Returns:
        0 when every split opened (warnings allowed unless --strict), else 1.
    """
    from trainers.datasets.check import check_dataset, render_check

    console = Console()
    root = Path(args.root).expanduser()
    rows = check_dataset(args.name, root)
    render_check(rows, title=f"{args.name} at {root}", console=console)
    failing = {"error", "warning"} if args.strict else {"error"}
    bad = [r["split"] for r in rows if r["status"] in failing]
    if bad:
        why = "errors or warnings (--strict)" if args.strict else "errors"
        console.print(f"[red]{len(bad)} split(s) with {why}:[/] {', '.join(bad)}",
                      highlight=False)
        return 1
    console.print(f"[green]ok[/]: {sum(r['faces'] for r in rows)} faces in {len(rows)} splits")
    return 0


def _cache_dir() -> Path:
    env = os.environ.get("SCAF_AL_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "scaf-al"


def pretrain_images(data: str, root: str | None, input_size: int) -> Any:
    """The CropSet the unsupervised stage trains on.

    Args:
        data: "synthetic", "300w", "wflw" or "folder".
        root: the data root (for synthetic: an optional folder to cache the generated
            faces in; None keeps them in memory).
        input_size: network input side.

    Raises:
        ValueError: unknown data set, or a missing --root for a real one.
    """
    key = data.lower()
    if key not in PRETRAIN_SPLIT:
        raise ValueError(f"--data {data!r} is not a data set; choose one of "
                         f"{', '.join(PRETRAIN_SPLIT)}")
    if key == "synthetic":
        from trainers.datasets.synthetic import SyntheticFaces

        return SyntheticFaces(root, "pool", input_size=input_size).to_cropset()
    if not root:
        raise ValueError(f"--data {key} needs --root (the folder holding the download)")
    from trainers.datasets import build_cropset, open_dataset

    ds = open_dataset(key, Path(root).expanduser(), PRETRAIN_SPLIT[key])
    return build_cropset(ds, input_size=input_size, cache_dir=_cache_dir() / "crops")


def cli_pretrain(args: argparse.Namespace) -> int:
    """Run (or resume) the unsupervised auto-encoder stage with a progress bar."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    from trainers.models import read_checkpoint
    from trainers.pretrain import PretrainConfig, pretrain_autoencoder

    console = Console()
    config = PretrainConfig(
        input_size=args.input_size, width=args.width, steps=args.steps,
        batch_size=args.batch_size, device=args.device,
        # A progress call costs a host sync on a GPU: about every 10 steps is enough.
        log_every=max(1, min(10, args.steps // 20)),
    )
    out = Path(args.out).expanduser()
    start = 0
    if out.exists():
        start = int(read_checkpoint(out).extra.get("step", 0))
    images = pretrain_images(args.data, args.root, args.input_size)
    console.print(f"[bold]pretrain[/] {args.data}: {len(images)} images at {args.input_size} "
                  f"px, width {args.width:g} -> {out}", highlight=False)
    if start >= config.steps:
        console.print(f"{out} already holds {start} steps (>= --steps {config.steps}); "
                      "nothing to do")
        return 0
    if start:
        console.print(f"resuming from step {start}")
    out.parent.mkdir(parents=True, exist_ok=True)
    columns = (TextColumn("[progress.description]{task.description}"), BarColumn(),
               TextColumn("{task.completed}/{task.total}"), TextColumn("{task.fields[info]}"),
               TimeRemainingColumn())
    with Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task("pretrain", total=config.steps, completed=start, info="")

        def progress(report: dict) -> None:
            info = f"loss {report['loss']:.4g}  {report['images_per_s']:.1f} img/s"
            bar.update(task, completed=report["step"], info=info)

        pretrain_autoencoder(images, config, out, progress=progress, resume=True)
    console.print(f"[green]done[/]: {out} (use it as model.pretrained in a spec)")
    return 0
