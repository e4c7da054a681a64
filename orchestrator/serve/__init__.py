"""`scaf-al serve`: a Label Studio ML backend for an annotation project (needs the `serve`
extra: FastAPI and uvicorn). `app` holds the HTTP side, `backend` the protocol,
`label_studio_api` the calls back to Label Studio and `project_adapter` every contact with
the project's internals."""
