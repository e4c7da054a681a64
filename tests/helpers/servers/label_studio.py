"""A real Label Studio for the round-trip tests, started from its own virtual environment
(`.venv-labelstudio`, made by scripts/setup-labelstudio.sh; `$SCAF_AL_LABEL_STUDIO` names
another `label-studio` executable) on 127.0.0.1 with a SQLite data folder in a temporary
directory, a user and a legacy API token made at start (`label-studio start --username
--password --user-token --enable-legacy-api-token`).

The first start migrates an empty database (about 6 minutes on 2 cores); a copy of the
fresh data folder (user and token made, nothing else) is then kept in the test cache
(`$SCAF_AL_TEST_CACHE`, keyed by the Label Studio version), and later sessions start from a
copy of it in their temporary folder (about 20 s).

Both servers run on 127.0.0.1, so Label Studio's guards against requests to local
addresses are turned off for the ML backend and its webhooks (`ML_BLOCK_LOCAL_IP`,
`SSRF_PROTECTION_ENABLED`), as the README says a user running both on one machine must.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.photos.menpo import photo_cache_dir
from tests.helpers.servers.http import call, free_port, wait_until_up

REPO = Path(__file__).resolve().parents[3]
START_TIMEOUT_S = 600  # the first start migrates an empty database: minutes on 2 cores
TOKEN = "scafaltesttoken0123456789"


def label_studio_executable() -> Path:
    """The `label-studio` of `.venv-labelstudio` (or `$SCAF_AL_LABEL_STUDIO`)."""
    path = Path(os.environ.get("SCAF_AL_LABEL_STUDIO")
                or REPO / ".venv-labelstudio" / "bin" / "label-studio")
    if not path.is_file():
        raise AssertionError(f"{path}: no Label Studio; run scripts/setup-labelstudio.sh")
    return path


def _template(executable: Path) -> Path:
    """Where the fresh data folder of this Label Studio version is kept."""
    venv = executable.resolve().parent.parent
    dist = sorted(venv.glob("lib/python*/site-packages/label_studio-*.dist-info"))
    version = dist[0].name.removesuffix(".dist-info") if dist else "label_studio-unknown"
    return photo_cache_dir() / f"{version}-fresh-data"


def _keep_template(data: Path, template: Path) -> None:
    """Copy the just-started, untouched data folder into the cache (atomically)."""
    template.parent.mkdir(parents=True, exist_ok=True)
    work = template.with_name(f".{template.name}.{os.getpid()}")
    shutil.copytree(data, work)
    try:
        work.rename(template)
    except OSError:  # another session kept one first
        shutil.rmtree(work, ignore_errors=True)


@dataclass
class LabelStudio:
    """A running Label Studio: its URL, the user's token, and its log file."""

    url: str
    token: str
    log: Path

    def api(self, method: str, path: str, body: Any = None) -> Any:
        """One API call with the token; fails the test on anything but 2xx."""
        status, reply = call(method, self.url + path, body,
                             {"Authorization": f"Token {self.token}"})
        assert 200 <= status < 300, f"{method} {path}: HTTP {status}: {reply}"
        return reply


@contextmanager
def running_label_studio(tmp: Path) -> Iterator[LabelStudio]:
    """Start Label Studio on a free port with its data in `tmp`; stop it afterwards."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    executable = label_studio_executable()
    template, data = _template(executable), tmp / "data"
    if template.is_dir():
        shutil.copytree(template, data)
    env = {**os.environ, "ML_BLOCK_LOCAL_IP": "false", "SSRF_PROTECTION_ENABLED": "false",
           "LABEL_STUDIO_HOST": url, "LATEST_VERSION_CHECK": "false",
           "COLLECT_ANALYTICS": "false", "SENTRY_DSN": "", "FRONTEND_SENTRY_DSN": ""}
    log = tmp / "label-studio.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [str(executable), "start", "--host", "127.0.0.1", "-p", str(port),
             "--data-dir", str(data), "--no-browser", "--username", "annotator@scaf.al",
             "--password", "scaf-al-tests", "--user-token", TOKEN, "--enable-legacy-api-token"],
            stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        wait_until_up(url + "/health", START_TIMEOUT_S, f"Label Studio (log: {log})")
        if not template.is_dir():
            _keep_template(data, template)
        yield LabelStudio(url, TOKEN, log)
    finally:
        with suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)  # its own session: only what it started
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            with suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
