"""Build and install the example acquisition plugin (tests/acquisition/plugin_pkg) for tests.

Usage from another test (for example a whole experiment that selects with the plugin)::

    from tests.acquisition.plugin_fixture import install_example_plugin, plugin_env
    name = install_example_plugin(tmp_path / "site")
    subprocess.run([sys.executable, "-m", ...], env=plugin_env(tmp_path / "site"), check=True)

The plugin is installed with ``pip --target`` into a directory of its own, never into the
project's environment; only a process that has that directory on its path sees it, so run the
code under test in a subprocess with :func:`plugin_env`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

__all__ = ["PLUGIN_NAME", "PLUGIN_SOURCE", "install_example_plugin", "plugin_env"]

PLUGIN_SOURCE = Path(__file__).resolve().parent / "plugin_pkg"
PLUGIN_NAME = "example_low_peak"
_REPO_ROOT = Path(__file__).resolve().parents[2]


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
