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


# The example plugin package (tests/acquisition/plugin_pkg); install it with
# `install_example_plugin(target)` and run the code under test in a subprocess with
# `plugin_env(target)`: pip installs it into `target` only, never into the project's
# environment, so only a process with that directory on its path sees it.
PLUGIN_SOURCE = _TESTS_DIR / "acquisition" / "plugin_pkg"
PLUGIN_NAME = "example_low_peak"


def install_example_plugin(target: Path) -> str:
    """pip-install the example plugin package into ``target``; return its acquisition name.

    Args:
        target: Directory to install into (created if missing); put it on ``PYTHONPATH``.

    Returns:
        The name the plugin registers, ``"example_low_peak"``.

    Raises:
        RuntimeError: if pip fails (the message carries pip's output).
    """
    target = Path(target)
    target.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        # Build from a copy so setuptools' build/ and *.egg-info never land in the source tree.
        source = Path(scratch) / "plugin_pkg"
        skip = shutil.ignore_patterns("build", "*.egg-info", "__pycache__")
        shutil.copytree(PLUGIN_SOURCE, source, ignore=skip)
        command = [
            sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation",
            "--no-index", "--no-cache-dir", "--disable-pip-version-check", "--quiet",
            "--target", str(target), str(source),
        ]  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        raise RuntimeError(
            f"installing the example plugin into {target} failed ({done.returncode}):\n"
            f"{done.stdout}\n{done.stderr}"
        )
    return PLUGIN_NAME


def plugin_env(target: Path) -> dict[str, str]:
    """Environment for a subprocess that sees the plugin in ``target`` and this repository."""
    env = dict(os.environ)
    paths = [str(target), str(_REPO_ROOT)]
    if env.get("PYTHONPATH"):
        paths.append(env["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(paths)
    return env
