"""An acquisition from an outside package (entry point) selects in a whole experiment."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

from orchestrator.results.readers import read_rounds, read_selections
from tests.helpers.plugins import install_example_plugin, plugin_env


def test_plugin_acquisition_runs_in_an_experiment(
    tmp_path: Path, write_spec: Callable[..., Path]
) -> None:
    site = tmp_path / "site"
    name = install_example_plugin(site)
    spec = write_spec(acquisitions=[{"name": name}], experiment={"seeds": [0]})
    out = tmp_path / "exp"
    done = subprocess.run(
        [sys.executable, "-m", "orchestrator.cli", "run", str(spec), "--out", str(out),
         "--plain"],
        env=plugin_env(site), capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    rounds = read_rounds(str(out))
    assert set(rounds["acquisition"].to_pylist()) == {name}
    assert rounds.num_rows == 3
    sel = read_selections(str(out))
    assert sel.num_rows == 4  # (12 - 10) + (14 - 12)
    assert np.all(np.isfinite(sel["score"].to_pylist()))
    # Without the plugin on the path the same spec is refused before anything runs.
    other = tmp_path / "exp2"
    refused = subprocess.run(
        [sys.executable, "-m", "orchestrator.cli", "run", str(spec), "--out", str(other)],
        capture_output=True, text=True, timeout=300,
    )
    assert refused.returncode == 2
    assert "acquisitions[0]" in refused.stdout and name in refused.stdout
    assert not other.exists()
