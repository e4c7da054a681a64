"""The commands on a user's own photos: `predict` and `export` with a saved model, and an
annotation project's `propose` round and Label Studio backend (`serve`)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from rich.console import Console
from rich.markup import escape

from orchestrator.projects import COLD_STARTS

console = Console()


def _say(message: str) -> None:
    console.print(f"  {escape(message)}", highlight=False)


def predict(model: str, inputs: list[str], out: str, *, boxes: str | None = None,
            overlay: str | None = None, device: str = "auto", batch_size: int = 32,
            min_face: int = 0, whole_image: bool = False) -> int:
    """`scaf-al predict`: landmarks of every face of new images, in original pixels, into a
    CSV."""
    from trainers.inference.predict import predict_images

    result = predict_images(Path(model), [Path(p) for p in inputs], Path(out),
                            boxes=Path(boxes) if boxes else None,
                            overlay_dir=Path(overlay) if overlay else None, device=device,
                            batch_size=batch_size, min_face=min_face, whole_image=whole_image)
    for image in result.no_face:
        console.print(f"[yellow]no face found:[/] {escape(image)}", highlight=False)
    console.print(escape(f"wrote {result.csv_path} ({len(result.images)} faces in "
                         f"{len(set(result.images))} images)"), highlight=False)
    return 0


def export(model: str, fmt: Literal["onnx", "torchscript"], out: str) -> int:
    """`scaf-al export MODEL.pt --format onnx|torchscript --out FILE`."""
    from trainers.inference.export import export_model

    console.print(escape(f"wrote {export_model(Path(model), fmt, Path(out))}"), highlight=False)
    return 0


def propose(project: str, images: str, k: int, *, spec: str | None = None,
            boxes: str | None = None, cold_start: str = COLD_STARTS[0], skip_bad: bool = False,
            device: str | None = None, min_face: int = 0, whole_image: bool = False) -> int:
    """`scaf-al propose PROJECT --images DIR --k K`: one round of the annotation loop."""
    from orchestrator.projects.propose import propose as run_propose
    from trainers.projects.pool import ProjectInputError

    try:
        outcome = run_propose(Path(project), Path(images), k,
                              spec=Path(spec) if spec else None,
                              boxes=Path(boxes) if boxes else None, cold_start=cold_start,
                              skip_bad=skip_bad, device=device, log=_say,
                              whole_image=whole_image, min_face=min_face)
    except ProjectInputError as e:
        # One line per bad file (main() would show only the first line).
        for path, why in e.bad:
            console.print(f"[red]bad file:[/] {escape(f'{path}: {why}')}", highlight=False,
                          soft_wrap=True)
        console.print(f"[red]error:[/] {len(e.bad)} bad file(s); nothing was started (pass "
                      "--skip-bad to leave them out)", highlight=False)
        return 2
    for path, why in outcome.pool.skipped:
        console.print(f"[yellow]left out:[/] {escape(f'{path}: {why}')}", highlight=False,
                      soft_wrap=True)
    rec = outcome.record
    console.print(f"{outcome.round_dir}: {len(rec.proposed)} faces to annotate "
                  f"({rec.kind}, {len(rec.labeled)} labeled); see to_annotate.csv and "
                  "contact_sheet.png", highlight=False, markup=False)
    return 0


def serve(project: str, images: str, *, host: str = "127.0.0.1", port: int = 9090,
          boxes: str | None = None, k: int | None = None, device: str | None = None,
          label_studio_url: str | None = None, label_studio_token: str | None = None) -> int:
    """`scaf-al serve PROJECT --images DIR`: the project's Label Studio ML backend."""
    try:
        from orchestrator.serve.app import serve as run_serve
    except ImportError as e:
        raise ImportError(f"scaf-al serve needs the serve extra ({e}): "
                          "pip install 'scaf-al[serve]'") from None
    run_serve(Path(project), Path(images), host=host, port=port,
              boxes=Path(boxes) if boxes else None, k=k, device=device,
              label_studio_url=label_studio_url or os.environ.get("LABEL_STUDIO_URL"),
              label_studio_token=label_studio_token or os.environ.get("LABEL_STUDIO_API_KEY"))
    return 0
