"""Starting and stopping Ray: a local cluster of our own, or joining an existing one.

A local cluster binds to 127.0.0.1 (node address, no dashboard), caps the object store for
small machines, and is shut down on exit and on SIGTERM/SIGHUP, so a killed driver does not
leave Ray processes behind. It keeps Ray's own token authentication (`ray.init` turns it
on, with `~/.ray/auth_token`). Joining a cluster uses the auth settings that
:mod:`orchestrator.tune.cluster_access` found for it. Either way the process's `RAY_AUTH_*`
variables are as they were once the session ends.
"""

from __future__ import annotations

import atexit
import os
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from orchestrator.tune.cluster_access import ClusterAccess

# Quiet, file-based Tune: our dashboard and result store are the interface.
_ENV_DEFAULTS = {
    "TUNE_DISABLE_AUTO_CALLBACK_LOGGERS": "1",
    "TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S": "0",
    "RAY_AIR_NEW_OUTPUT": "0",  # legacy reporter + verbose=0: Tune prints nothing itself
    "RAY_DEDUP_LOGS": "1",
    "RAY_USAGE_STATS_ENABLED": "0",
    "RAY_ENABLE_UV_RUN_RUNTIME_ENV": "0",
}


def set_env_defaults() -> None:
    """Set the environment Ray's nodes start with here (quiet, no usage stats), leaving any
    value the user set; everything that starts a node in this process calls it first."""
    for k, v in _ENV_DEFAULTS.items():
        os.environ.setdefault(k, v)


_CLUSTER_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"


@contextmanager
def loopback_only() -> Iterator[None]:
    """Make a local Ray node use 127.0.0.1 for every socket it opens, inside the block.

    Ray on Linux picks the host's routable address for its node (GCS, raylet and workers
    all listen on it) and ignores `_node_ip_address`; with its cluster mode off, as on
    macOS and Windows, it binds to loopback. The setting is restored afterwards, so a
    later multi-node cluster in the same process is unaffected.
    """
    from ray._private import ray_constants

    old_env, old_flag = os.environ.get(_CLUSTER_ENV), ray_constants.ENABLE_RAY_CLUSTER
    os.environ[_CLUSTER_ENV] = "0"  # read by the GCS / raylet processes Ray spawns
    ray_constants.ENABLE_RAY_CLUSTER = False
    try:
        yield
    finally:
        ray_constants.ENABLE_RAY_CLUSTER = old_flag
        if old_env is None:
            os.environ.pop(_CLUSTER_ENV, None)
        else:
            os.environ[_CLUSTER_ENV] = old_env


def _refresh_ray_auth() -> None:
    """Make Ray re-read `RAY_AUTH_*` (its config and token are cached per process)."""
    from ray import _raylet

    loader = getattr(_raylet, "AuthenticationTokenLoader", None)  # Ray >= 2.52
    if loader is not None:
        _raylet.Config.initialize("")  # type: ignore[attr-defined]  # (not in Ray's stubs)
        loader.instance().reset_cache()


@contextmanager
def auth_env(settings: dict[str, str | None]) -> Iterator[None]:
    """Inside the block, `RAY_AUTH_*` as `settings` says (None unsets); afterwards as before,
    also when Ray itself changed them (a local `ray.init` sets RAY_AUTH_MODE=token)."""
    from orchestrator.tune.cluster_access import AUTH_VARS

    before = {k: os.environ.get(k) for k in AUTH_VARS}
    _apply_env(settings)
    if settings:
        _refresh_ray_auth()
    try:
        yield
    finally:
        _apply_env(before)
        _refresh_ray_auth()


def _apply_env(values: dict[str, str | None]) -> None:
    for k, v in values.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


def _terminate(signum: int, _frame: Any) -> None:
    # Turn SIGTERM / SIGHUP into KeyboardInterrupt: Tune then saves its experiment state
    # and our `finally` shuts Ray down.
    raise KeyboardInterrupt(f"signal {signum}")


@contextmanager
def ray_session(
    address: str | None = None,
    *,
    num_cpus: int | None = None,
    num_gpus: float | None = None,
    object_store_mb: int = 512,
    expose: bool = False,
    access: ClusterAccess | None = None,
) -> Iterator[dict[str, Any]]:
    """Start (or join) Ray for the duration of the block; always shut it down after.

    Args:
        address: None starts a local cluster; "auto" or "host:port" joins one.
        num_cpus / num_gpus: logical resources of the local cluster (None = detect).
        object_store_mb: object store size of the local cluster (we pass no big objects).
        expose: bind the local node to all interfaces instead of 127.0.0.1 (opt in).
        access: how to join the cluster at `address` (`cluster_access(address)`, asked here
            when not given).

    Yields:
        ray.cluster_resources() of the cluster.
    """
    set_env_defaults()
    import ray

    kwargs: dict[str, Any] = {"log_to_driver": False, "configure_logging": True,
                              "logging_level": "error", "include_dashboard": False}
    local_only = address is None and not expose
    if address is None:
        # "local": always a new cluster of our own. Without it ray.init() joins any cluster
        # already running on this machine (another `scaf-al run`, a `ray start`) and then
        # fails on our resource settings, or worse, shares it.
        kwargs.update(address="local", num_cpus=num_cpus,
                      object_store_memory=object_store_mb * 1024 * 1024)
        if num_gpus is not None:
            kwargs["num_gpus"] = num_gpus
        if local_only:
            kwargs["_node_ip_address"] = "127.0.0.1"
    else:
        kwargs["address"] = address
        access = access or _cluster_access(address)
    previous = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGHUP)}
    for s in previous:
        signal.signal(s, _terminate)
    atexit.register(_shutdown_quietly)
    try:
        # Ray is shut down before the auth settings are put back: its threads still read them.
        with auth_env(access.env() if access else {}):
            try:
                with loopback_only() if local_only else nullcontext():
                    ray.init(**kwargs)
                    yield ray.cluster_resources()
            finally:
                _shutdown_quietly()
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def _cluster_access(address: str) -> ClusterAccess:
    from orchestrator.tune.cluster_access import cluster_access

    return cluster_access(address)


def _shutdown_quietly() -> None:
    import ray

    if ray.is_initialized():
        try:
            ray.shutdown()
        except Exception as e:  # noqa: BLE001 - shutting down must not mask the real error
            print(f"warning: ray.shutdown() failed: {e}", file=sys.stderr)
