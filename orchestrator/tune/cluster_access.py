"""Joining a running Ray cluster as Ray intends, token authentication included.

Ray 2.52+ clusters may require a token (`RAY_AUTH_MODE=token` on their nodes; `ray start
--head` turns it on by itself when a token exists, e.g. `~/.ray/auth_token` written by `ray
get-auth-token --generate` or by an earlier local `ray.init()`). A driver joining with an
explicit address does not turn it on itself: it spends about 20 s retrying
`InvalidAuthToken` and then fails with "Failed to connect". A driver in token mode cannot
use a cluster *without* tokens either (the cluster's workers cannot call back into it).

So before `ray.init` the driver asks the cluster, from a short-lived child process (Ray's
token settings are process-wide and cached, and a token file that cannot be read aborts the
process): first without a token; when the cluster wants one, with the token Ray's own
loader would pick (`RAY_AUTH_TOKEN`, else the file `RAY_AUTH_TOKEN_PATH`, else
`~/.ray/auth_token`). The answer is one of: no tokens (join in `disabled` mode), the token
works (join in `token` mode with it), or one line naming what to set.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

AUTH_VARS = ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH")
HOW_TO_GET = "`ray get-auth-token` on the head node prints it"
PROBE_TIMEOUT_S = 30.0

# Run as `python -c`: resolve the address as ray.init would ("auto", RAY_ADDRESS), check
# that something listens there, then make one GCS call. Prints one JSON line.
_PROBE = r"""
import json, socket, sys
out = {"address": sys.argv[1], "status": "error", "message": ""}
try:
    from ray._private.services import canonicalize_bootstrap_address_or_die
    out["address"] = canonicalize_bootstrap_address_or_die(sys.argv[1])
    host, _, port = out["address"].rpartition(":")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=5).close()
    except OSError as e:
        out.update(status="unreachable", message=str(e))
    else:
        import ray._raylet
        from ray import exceptions
        try:
            ray._raylet.GcsClient(address=out["address"]).internal_kv_get(
                b"scaf-al-probe", None, timeout=10)
            out["status"] = "ok"
        except Exception as e:
            auth = getattr(exceptions, "AuthenticationError", ())
            out.update(status="auth" if isinstance(e, auth) else "error",
                       message=str(e).strip().splitlines()[0] if str(e).strip() else "")
except Exception as e:
    out["message"] = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
print("PROBE" + json.dumps(out), flush=True)
"""


class ClusterAccessError(ConnectionError):
    """The cluster cannot be joined as things are set here (one line saying what to set)."""


@dataclass(frozen=True)
class Token:
    value: str = field(repr=False)
    source: str  # what set it, as the error messages name it


@dataclass(frozen=True)
class ClusterAccess:
    """How to join the cluster at `address` (as resolved; "auto" becomes host:port)."""

    address: str
    token: Token | None  # None: the cluster does not use token authentication

    def env(self) -> dict[str, str | None]:
        """The driver's auth environment for `ray.init` (None: unset the variable)."""
        if self.token is None:
            return {"RAY_AUTH_MODE": "disabled", "RAY_AUTH_TOKEN": None,
                    "RAY_AUTH_TOKEN_PATH": None}
        return {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": self.token.value,
                "RAY_AUTH_TOKEN_PATH": None}


def find_token(environ: dict[str, str] | None = None, home: Path | None = None
               ) -> Token | None:
    """The token Ray's loader would use, in its order: `RAY_AUTH_TOKEN`, the file named by
    `RAY_AUTH_TOKEN_PATH`, `~/.ray/auth_token` (surrounding whitespace dropped, as Ray does).

    Raises:
        ClusterAccessError: `RAY_AUTH_TOKEN_PATH` names a file that cannot be read or is empty
            (Ray aborts the process on that).
    """
    env = os.environ if environ is None else environ
    if env.get("RAY_AUTH_TOKEN", "").strip():
        return Token(env["RAY_AUTH_TOKEN"].strip(), "RAY_AUTH_TOKEN")
    if env.get("RAY_AUTH_TOKEN_PATH"):
        path = Path(env["RAY_AUTH_TOKEN_PATH"]).expanduser()
        try:
            value = path.read_text().strip()
        except OSError as e:
            raise ClusterAccessError(f"RAY_AUTH_TOKEN_PATH={path}: cannot read the token file "
                                     f"({e.strerror or e})") from None
        if not value:
            raise ClusterAccessError(f"RAY_AUTH_TOKEN_PATH={path}: the token file is empty")
        return Token(value, f"RAY_AUTH_TOKEN_PATH={path}")
    default = (home or Path(env.get("HOME") or Path.home())) / ".ray" / "auth_token"
    try:
        value = default.read_text().strip()
    except OSError:
        return None
    return Token(value, str(default)) if value else None


@dataclass(frozen=True)
class ProbeResult:
    status: str  # "ok", "auth" (refused: token missing or wrong), "unreachable", "error"
    address: str
    message: str = ""


def probe(address: str, token: Token | None, timeout: float = PROBE_TIMEOUT_S) -> ProbeResult:
    """Ask the cluster's GCS once, from a child process, with `token` or without one."""
    env = {k: v for k, v in os.environ.items() if k not in AUTH_VARS}
    env["RAY_AUTH_MODE"] = "disabled" if token is None else "token"
    if token is not None:
        env["RAY_AUTH_TOKEN"] = token.value
    try:
        proc = subprocess.run([sys.executable, "-c", _PROBE, address], env=env, text=True,
                              capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return ProbeResult("error", address, f"no answer within {timeout:.0f} s")
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("PROBE")]
    if not lines:
        tail = (proc.stderr.strip().splitlines() or [f"exit code {proc.returncode}"])[-1]
        return ProbeResult("error", address, tail)
    out = json.loads(lines[-1][len("PROBE"):])
    return ProbeResult(out["status"], out["address"], out["message"])


def _explicit_mode() -> str | None:
    mode = os.environ.get("RAY_AUTH_MODE")
    return mode.strip().lower() if mode else None


def _refuse(address: str, result: ProbeResult) -> ClusterAccessError:
    if result.status == "unreachable":
        return ClusterAccessError(
            f"--address {address}: nothing answers at {result.address} ({result.message}); "
            "is the head node started (`ray start --head`) and the port open?")
    return ClusterAccessError(f"--address {address}: cannot reach the Ray cluster at "
                              f"{result.address}: {result.message}")


def cluster_access(address: str) -> ClusterAccess:
    """How to join the cluster at `address` ("auto" or host:port), found out before anything
    is created.

    Raises:
        ClusterAccessError: one line: nothing listens there, the cluster wants a token and
            none is set here (or the one set is refused), or `RAY_AUTH_MODE` contradicts it.
    """
    plain = probe(address, None)
    if plain.status == "ok":
        if _explicit_mode() == "token":
            raise ClusterAccessError(
                f"--address {address}: the cluster at {plain.address} does not use token "
                "authentication, but RAY_AUTH_MODE=token is set here; unset it (or restart "
                "every node of the cluster with RAY_AUTH_MODE=token)")
        return ClusterAccess(plain.address, None)
    if plain.status != "auth":
        raise _refuse(address, plain)
    where = f"--address {address}: the Ray cluster at {plain.address} uses token authentication"
    if _explicit_mode() == "disabled":
        raise ClusterAccessError(f"{where}, but RAY_AUTH_MODE=disabled is set here; unset it "
                                 f"and set RAY_AUTH_TOKEN to the cluster's token ({HOW_TO_GET})")
    token = find_token()
    if token is None:
        raise ClusterAccessError(
            f"{where} and no token is set here: set RAY_AUTH_TOKEN (or RAY_AUTH_TOKEN_PATH, or "
            f"write ~/.ray/auth_token) to the cluster's token ({HOW_TO_GET})")
    with_token = probe(address, token)
    if with_token.status == "auth":
        raise ClusterAccessError(
            f"{where} and refuses the token from {token.source}: set RAY_AUTH_TOKEN (or "
            f"RAY_AUTH_TOKEN_PATH) to the cluster's token ({HOW_TO_GET})")
    if with_token.status != "ok":
        raise _refuse(address, with_token)
    return ClusterAccess(with_token.address, token)

