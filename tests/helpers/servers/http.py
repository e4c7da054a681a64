"""Plain HTTP for the server tests: a free port, JSON calls, and a real uvicorn serving a
`scaf-al serve` backend in a thread of the test process."""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def call(method: str, url: str, body: Any = None, headers: dict[str, str] | None = None,
         timeout: float = 60.0) -> tuple[int, Any]:
    """(HTTP status, parsed JSON body or None) of one request; errors are answers too."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as reply:
            raw, status = reply.read(), reply.status
    except urllib.error.HTTPError as e:
        raw, status = e.read(), e.code
    try:
        return status, json.loads(raw) if raw else None
    except ValueError:
        return status, raw.decode(errors="replace")


def wait_until_up(url: str, timeout: float, what: str) -> None:
    """Poll `url` until it answers 200, or fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if call("GET", url, timeout=5)[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"{what} did not answer {url} within {timeout:.0f} s")


@contextmanager
def running_app(app: Any) -> Iterator[str]:
    """Serve an ASGI app with a real uvicorn on a free 127.0.0.1 port; yields its URL."""
    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(url + "/health", 30, "the backend")
        yield url
    finally:
        server.should_exit = True
        thread.join(10)
