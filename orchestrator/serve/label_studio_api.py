"""The few Label Studio API calls the ML backend makes: read a task and its annotations.

Authentication is the token Label Studio hands the backend in `/setup` (or `serve`'s
`--label-studio-token`): a legacy API token goes in `Authorization: Token <t>`; a personal
access token (a JWT refresh token, three dot-separated parts) is exchanged at
`/api/token/refresh` for an access token sent as `Authorization: Bearer <t>`.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from orchestrator.serve.project_adapter import ServeError

TIMEOUT_S = 30.0


class LabelStudioAPI:
    """A Label Studio server at `url` reached with `token` (see the module docstring)."""

    def __init__(self, url: str, token: str) -> None:
        self.url = url.rstrip("/")
        self.token = token
        self._access: str | None = None

    def _auth(self) -> str:
        if self.token.count(".") != 2:
            return f"Token {self.token}"
        if self._access is None:
            reply = self._request("POST", "/api/token/refresh", {"refresh": self.token},
                                  auth=False)
            self._access = str(reply["access"])
        return f"Bearer {self._access}"

    def _request(self, method: str, path: str, body: dict[str, Any] | None = None, *,
                 auth: bool = True) -> Any:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method)
        req.add_header("Content-Type", "application/json")
        if auth:
            req.add_header("Authorization", self._auth())
        try:
            with urllib.request.urlopen(req, timeout=TIMEOUT_S) as reply:
                return json.loads(reply.read() or b"null")
        except urllib.error.HTTPError as e:
            status = 404 if e.code == 404 else 502
            raise ServeError(f"Label Studio at {self.url} answered {method} {path} with HTTP "
                             f"{e.code}", status) from None
        except (urllib.error.URLError, OSError, ValueError) as e:
            raise ServeError(f"Label Studio at {self.url} unreachable for {method} {path} "
                             f"({e})", 502) from None

    def task(self, task_id: int) -> dict[str, Any]:
        """The task `task_id` with every one of its annotations.

        Raises:
            ServeError: 404 when Label Studio has no such task, 502 when it cannot be asked.
        """
        try:
            task = self._request("GET", f"/api/tasks/{task_id}/")
        except ServeError as e:
            if e.status == 404:
                raise ServeError(f"task {task_id}: Label Studio at {self.url} has no such "
                                 "task", 404) from None
            raise
        annotations = self._request("GET", f"/api/tasks/{task_id}/annotations/")
        if not isinstance(task, dict) or not isinstance(annotations, list):
            raise ServeError(f"task {task_id}: Label Studio at {self.url} sent something "
                             "that is not a task with annotations", 502)
        return {**task, "annotations": annotations}
