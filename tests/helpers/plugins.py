"""The example acquisition plugin (tests/acquisition/plugin_pkg): installing it into a
scratch folder and the environment of a subprocess that sees it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

_TESTS_DIR = Path(__file__).resolve().parents[1]
_REPO_ROOT = _TESTS_DIR.parent


# The example plugin packages; install one with `install_example_plugin(target)` (an
# acquisition) or `install_dataset_plugin(target)` (a data set) and run the code under test
# in a subprocess with `plugin_env(target)`: pip installs it into `target` only, never into
# the project's environment, so only a process with that directory on its path sees it.
PLUGIN_SOURCE = _TESTS_DIR / "acquisition" / "plugin_pkg"
PLUGIN_NAME = "example_low_peak"
DATASET_PLUGIN_SOURCE = _TESTS_DIR / "fixtures" / "dataset_plugin"
DATASET_PLUGIN_NAME = "csv_faces"


def install_package(source: Path, target: Path) -> None:
    """pip-install the package folder `source` into `target` (created if missing).

    Raises:
        RuntimeError: if pip fails (the message carries pip's output).
    """
    target = Path(target)
    target.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        # Build from a copy so setuptools' build/ and *.egg-info never land in the source tree.
        copy = Path(scratch) / source.name
        skip = shutil.ignore_patterns("build", "*.egg-info", "__pycache__")
        shutil.copytree(source, copy, ignore=skip)
        command = [
            sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation",
            "--no-index", "--no-cache-dir", "--disable-pip-version-check", "--quiet",
            "--target", str(target), str(copy),
        ]  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        raise RuntimeError(
            f"installing {source.name} into {target} failed ({done.returncode}):\n"
            f"{done.stdout}\n{done.stderr}"
        )


def install_example_plugin(target: Path) -> str:
    """pip-install the example acquisition plugin into `target` (put it on PYTHONPATH);
    return the name it registers, "example_low_peak"."""
    install_package(PLUGIN_SOURCE, target)
    return PLUGIN_NAME


def install_dataset_plugin(target: Path) -> str:
    """pip-install the example data-set plugin (a CSV of image paths and landmarks) into
    `target`; return the name it registers, "csv_faces"."""
    install_package(DATASET_PLUGIN_SOURCE, target)
    return DATASET_PLUGIN_NAME


def plugin_env(target: Path) -> dict[str, str]:
    """Environment for a subprocess that sees the plugin in ``target`` and this repository."""
    env = dict(os.environ)
    paths = [str(target), str(_REPO_ROOT)]
    if env.get("PYTHONPATH"):
        paths.append(env["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(paths)
    return env
