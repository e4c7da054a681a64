"""Starting and stopping Ray: a local cluster of our own, or joining an existing one.

A local cluster binds to 127.0.0.1 (node address, no dashboard), caps the object store for
small machines, and is shut down on exit and on SIGTERM/SIGHUP, so a killed driver does not
leave Ray processes behind.
"""

from __future__ import annotations

import atexit
import os
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

# Quiet, file-based Tune: our dashboard and result store are the interface.
_ENV_DEFAULTS = {
    "TUNE_DISABLE_AUTO_CALLBACK_LOGGERS": "1",
    "TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S": "0",
    "RAY_AIR_NEW_OUTPUT": "0",  # legacy reporter + verbose=0: Tune prints nothing itself
    "RAY_DEDUP_LOGS": "1",
    "RAY_USAGE_STATS_ENABLED": "0",
    "RAY_ENABLE_UV_RUN_RUNTIME_ENV": "0",
}


def _set_env_defaults() -> None:
    for k, v in _ENV_DEFAULTS.items():
        os.environ.setdefault(k, v)


def prefer_loopback() -> None:
    """Make a local Ray node use 127.0.0.1 for every socket it opens.

    Ray on Linux picks the host's routable address for its node (GCS, raylet, workers all
    listen on it) and ignores `_node_ip_address`; with cluster mode off, as on macOS and
    Windows, it binds to loopback. Call this before Ray starts a local node.
    """
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    if "ray" in sys.modules:
        from ray._private import ray_constants

        ray_constants.ENABLE_RAY_CLUSTER = False


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
) -> Iterator[dict[str, Any]]:
    """Start (or join) Ray for the duration of the block; always shut it down after.

    Args:
        address: None starts a local cluster; "auto" or "host:port" joins one.
        num_cpus / num_gpus: logical resources of the local cluster (None = detect).
        object_store_mb: object store size of the local cluster (we pass no big objects).
        expose: bind the local node to all interfaces instead of 127.0.0.1 (opt in).

    Yields:
        ray.cluster_resources() of the cluster.
    """
    _set_env_defaults()
    import ray

    kwargs: dict[str, Any] = {"log_to_driver": False, "configure_logging": True,
                              "logging_level": "error", "include_dashboard": False}
    if address is None:
        kwargs.update(num_cpus=num_cpus, object_store_memory=object_store_mb * 1024 * 1024)
        if num_gpus is not None:
            kwargs["num_gpus"] = num_gpus
        if not expose:
            prefer_loopback()
            kwargs["_node_ip_address"] = "127.0.0.1"
    else:
        kwargs["address"] = address
    previous = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGHUP)}
    for s in previous:
        signal.signal(s, _terminate)
    atexit.register(_shutdown_quietly)
    try:
        ray.init(**kwargs)
        yield ray.cluster_resources()
    finally:
        _shutdown_quietly()
        for s, h in previous.items():
            signal.signal(s, h)


def _shutdown_quietly() -> None:
    import ray

    if ray.is_initialized():
        try:
            ray.shutdown()
        except Exception as e:  # noqa: BLE001 - shutting down must not mask the real error
            print(f"warning: ray.shutdown() failed: {e}", file=sys.stderr)
