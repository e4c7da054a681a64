"""`scaf-al serve`: the ML backend of one annotation project as a FastAPI app on uvicorn.

    GET  /health, /         {"status": "UP", "model_version": ...}
    POST /setup             {"model_version": ...}   (keeps Label Studio's URL and token)
    POST /predict           {"results": [{"result": [...], "score": s, "model_version": v}]}
    POST /webhook           annotation events recorded into the project; START_TRAINING
    POST /train             a propose round in the background
    GET  /is_training       {"is_training": bool, "model_version": ..., "last_error": ...}

Errors answer `{"detail": "<one line>"}` with a 4xx status (a bad request, a refused image,
an unknown task) or 502 (Label Studio unreachable); the server keeps running. The protocol
itself lives in `orchestrator.serve.backend`; `create_app` builds a fresh app around one
backend, so several run side by side without shared state.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated, Any

from fastapi import Body, FastAPI, Request
from fastapi.responses import JSONResponse

from orchestrator.serve.backend import Backend
from orchestrator.serve.project_adapter import ServedProject, ServeError

JsonBody = Annotated[dict[str, Any], Body()]
OptionalJsonBody = Annotated[dict[str, Any] | None, Body()]


def _error_handlers(app: FastAPI) -> None:
    """A ServeError answers its status with its line; anything else 500 with one line."""
    @app.exception_handler(ServeError)
    def _refused(_request: Request, e: ServeError) -> JSONResponse:
        return JSONResponse({"detail": str(e)}, status_code=e.status)

    @app.exception_handler(Exception)
    def _failed(_request: Request, e: Exception) -> JSONResponse:
        # e.g. an unreadable model file: one line for Label Studio's log, and serving on
        first = str(e).strip().splitlines()[0] if str(e).strip() else ""
        return JSONResponse({"detail": f"{type(e).__name__}: {first}"}, status_code=500)


def create_app(backend: Backend) -> FastAPI:
    """The HTTP routes of one backend (module docstring)."""
    app = FastAPI(title="scaf-al ML backend", docs_url=None, redoc_url=None,
                  openapi_url=None)

    _error_handlers(app)

    @app.get("/")
    @app.get("/health")
    def health() -> dict[str, Any]:
        return backend.health()

    @app.post("/setup")
    def setup(body: JsonBody) -> dict[str, Any]:
        return backend.setup(body)

    @app.post("/predict")
    def predict(body: JsonBody) -> dict[str, Any]:
        return backend.predict(body)

    @app.post("/webhook")
    def webhook(body: JsonBody) -> dict[str, Any]:
        return backend.webhook(body)

    @app.post("/train")
    def train(body: OptionalJsonBody = None) -> dict[str, Any]:
        return backend.train()

    @app.get("/is_training")
    def is_training() -> dict[str, Any]:
        return backend.is_training()

    return app


def serve(project: Path, images: Path, *, host: str = "127.0.0.1", port: int = 9090,
          boxes: Path | None = None, k: int | None = None, device: str | None = None,
          label_studio_url: str | None = None, label_studio_token: str | None = None) -> None:
    """Run the backend of `project` until interrupted (blocks).

    Raises:
        ServeError: the folder is not an annotation project of `images`.
    """
    import uvicorn

    served = ServedProject(project, images, boxes=boxes, device=device, k=k)
    backend = Backend(served, label_studio_url=label_studio_url,
                      label_studio_token=label_studio_token)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    uvicorn.run(create_app(backend), host=host, port=port, log_level="info")
