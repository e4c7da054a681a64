"""A data set from an outside package (entry point `scaf_al.datasets`) runs through
`datasets list`, `plan`, `run` and `report` without a line of the project changed.

The fixture package (tests/fixtures/dataset_plugin) reads one CSV of image paths and 68
landmarks; the faces are the synthetic generator's, written out as PNG files.
"""

from __future__ import annotations

import csv
import json
import math
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import tomli_w
from PIL import Image

from orchestrator.results.readers import read_rounds
from tests.helpers.plugins import install_dataset_plugin, plugin_env
from trainers.datasets.builtin.synthetic import SyntheticConfig, render_face

N_TRAIN, N_TEST = 24, 6


def _write_faces(root: Path) -> None:
    """`faces.csv` and one PNG per face (the generator's faces at 64 px)."""
    cfg = SyntheticConfig(input_size=64, outlier_fraction=0.0)
    root.mkdir(parents=True)
    header = ["image", "split", *(f"{a}{i}" for i in range(68) for a in ("x", "y"))]
    with (root / "faces.csv").open("w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow(header)
        for split, n, source in (("train", N_TRAIN, "pool"), ("test", N_TEST, "test")):
            for i in range(n):
                image, points, _ = render_face(cfg, source, i)
                name = f"images/{split}-{i:03d}.png"
                (root / name).parent.mkdir(exist_ok=True)
                Image.fromarray(image).save(root / name)
                out.writerow([name, split, *(f"{v:.3f}" for v in points.reshape(-1))])


def _scaf_al(args: list[str], env: dict[str, str] | None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "orchestrator.cli", *args], env=env,
                          capture_output=True, text=True, timeout=600)


def test_outside_dataset_runs_plan_run_and_report(
    tmp_path: Path, spec_doc: Callable[..., dict[str, Any]]
) -> None:
    site, root = tmp_path / "site", tmp_path / "faces"
    assert install_dataset_plugin(site) == "csv_faces"
    _write_faces(root)
    doc = spec_doc(experiment={"seeds": [0]}, budgets=[{"final": 14, "step": 4}],
                   acquisitions=[{"name": "nnm", "window": 3}])
    doc["data"] = {"name": "csv_faces", "root": str(root)}
    spec = tmp_path / "csv.toml"
    spec.write_text(tomli_w.dumps(doc))
    env = plugin_env(site)

    listed = _scaf_al(["datasets", "list"], env)
    assert listed.returncode == 0, listed.stdout + listed.stderr
    assert "csv_faces" in listed.stdout and "CSV faces" in listed.stdout

    planned = _scaf_al(["plan", str(spec), "--json"], env)
    assert planned.returncode == 0, planned.stdout + planned.stderr
    plan = json.loads(planned.stdout)
    # One cell, rounds at 10 and 14 labeled; the pool (24) is counted in the opened
    # folder; NNM streams the 14 unlabeled images once; 2 rounds x 6 test faces.
    assert (plan["cells"], plan["trial_rounds"]) == (1, 2)
    assert (plan["scored_images"], plan["eval_images"]) == (N_TRAIN - 10, 2 * N_TEST)

    out = tmp_path / "exp"
    ran = _scaf_al(["run", str(spec), "--out", str(out), "--plain"], env)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    rounds = read_rounds(str(out))
    assert rounds["dataset"].to_pylist() == ["csv_faces"] * 2
    assert sorted(rounds["n_labeled"].to_pylist()) == [10, 14]
    assert all(math.isfinite(v) and 0 < v < 1 for v in rounds["nme_test"].to_pylist())
    labeled = max(rounds["labeled_indices"].to_pylist(), key=len)
    assert len(set(labeled)) == 14 and set(labeled) <= set(range(N_TRAIN))

    reported = _scaf_al(["report", str(out), "--format", "markdown"], env)
    assert reported.returncode == 0, reported.stdout + reported.stderr
    assert "NME (%) on CSV faces" in reported.stdout
    assert "CSV test" in reported.stdout  # the plugin's own split title
    assert np.isfinite(rounds["final_loss"].to_numpy(zero_copy_only=False)).all()


def test_without_the_plugin_the_data_set_is_refused_by_name(tmp_path: Path) -> None:
    spec = tmp_path / "csv.toml"
    spec.write_text(tomli_w.dumps({"data": {"name": "csv_faces", "root": str(tmp_path)}}))
    refused = _scaf_al(["plan", str(spec)], None)
    assert refused.returncode == 2
    assert "data.name" in refused.stdout and "'csv_faces' is not a data set" in refused.stdout
    assert "synthetic" in refused.stdout  # the registered names are listed
