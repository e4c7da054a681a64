"""Learning curves from the result store: NME against labeled images, one line per
(architecture, acquisition), a band of +- one standard deviation over seeds, one panel per
test split. Written as PNG and SVG with matplotlib's Agg backend (no display needed)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; must precede pyplot so no GUI backend is tried

import matplotlib.pyplot as plt  # noqa: E402
import pyarrow as pa  # noqa: E402

from orchestrator.report.tables import (  # noqa: E402
    DatasetReport,
    Method,
    build_report,
    dataset_title,
    split_title,
)

# Random sampling is the reference: always the same neutral look.
RANDOM_STYLE = {"color": "0.35", "linestyle": "--", "marker": "o"}
MARKERS = ("s", "^", "D", "v", "P", "X", "*", "<", ">")


def _style(m: Method, i: int) -> dict:
    if m.acquisition == "random":
        return dict(RANDOM_STYLE)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    return {"color": colours[i % len(colours)], "linestyle": "-" if m.arch == "scaf" else ":",
            "marker": MARKERS[i % len(MARKERS)]}


def learning_curve_figure(rep: DatasetReport, title: str | None = None) -> plt.Figure:
    """A figure with one panel per split of a data set's report."""
    k = len(rep.splits)
    width = max(7.0, 4.6 * k + 0.4)  # a single panel still needs room for the legend
    fig, axes = plt.subplots(1, k, figsize=(width, 4.0), squeeze=False,
                             constrained_layout=True)
    # One look per method across panels (random keeps its reference style).
    others = [m for m in rep.methods if m.acquisition != "random"]
    styles = {m: _style(m, others.index(m) if m in others else 0) for m in rep.methods}
    for ax, split in zip(axes[0], rep.splits, strict=True):
        for m in rep.methods:
            found = [(n, rep.stats(m, n, split)) for n in rep.sizes]
            pts = [(n, st) for n, st in found if st is not None]
            if not pts:
                continue
            style = styles[m]
            xs = [n for n, _ in pts]
            mean = [st.mean for _, st in pts]
            sd = [st.std for _, st in pts]
            seeds = max(st.n for _, st in pts)
            ax.plot(xs, mean, label=f"{m.name()} ({seeds} seeds)", markersize=5, linewidth=1.6,
                    **style)
            ax.fill_between(xs, [a - b for a, b in zip(mean, sd, strict=True)],
                            [a + b for a, b in zip(mean, sd, strict=True)],
                            color=style["color"], alpha=0.15, linewidth=0)
        base = rep.baseline.get(split)
        if base is not None:
            lo, hi = ax.get_ylim()
            if base <= hi + 0.5 * (hi - lo):
                ax.axhline(base, color="0.6", linewidth=0.9, linestyle=":",
                           label="mean-shape baseline")
            else:
                # Far above the curves: a line there would flatten them; say it instead.
                ax.text(0.98, 0.97, f"mean-shape baseline {base:.1f}% (off scale)",
                        transform=ax.transAxes, ha="right", va="top", fontsize=8, color="0.4")
        ax.set_title(split_title(rep.dataset, split))
        ax.set_xlabel("labeled images")
        ax.set_ylabel("NME (%)")
        ax.set_xticks(rep.sizes)
        ax.grid(True, alpha=0.3)
    handles, labels = axes[0][0].get_legend_handles_labels()
    # Below the panels, so it never hides a curve.
    fig.legend(handles, labels, fontsize=8, loc="outside lower center",
               ncol=max(1, min(len(labels), int(width // 2.6))), frameon=False)
    fig.suptitle(title or f"Learning curves on {dataset_title(rep.dataset)}"
                 " (mean ± std over seeds)")
    return fig


def write_learning_curves(rounds: pa.Table, out_dir: Path, split: str | None = None,
                          dpi: int = 120) -> list[Path]:
    """Write `learning_curves.png` / `.svg` (per data set `learning_curves-<name>.*` when the
    store holds more than one) into `out_dir`; returns the files written.

    Raises:
        ValueError: the table has no NME values (or `split` is unknown).
    """
    report = build_report(rounds, split)
    if not report.datasets:
        raise ValueError("no NME values in the results; nothing to plot")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    files = []
    for rep in report.datasets:
        stem = "learning_curves" if len(report.datasets) == 1 else f"learning_curves-{rep.dataset}"
        fig = learning_curve_figure(rep)
        try:
            for ext in ("png", "svg"):
                path = out_dir / f"{stem}.{ext}"
                fig.savefig(path, dpi=dpi)
                files.append(path)
        finally:
            plt.close(fig)
    return files
