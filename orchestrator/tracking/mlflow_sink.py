"""The experiment as MLflow runs: one parent run (the spec, and at the end the report and
learning curves as artefacts) and one nested run per cell (named by its label, the config
as params, tags `experiment`, `cell_id`, `arch`, `acquisition`, `seed`, one metric point per
round at step = labeled images).

Idempotent, keyed by cell and round: runs are found again by their tags and each metric's
history by its steps, so only what is missing is written (a resumed, extended or
re-tracked experiment never duplicates a run or a point). Needs `mlflow-skinny`
(`pip install scaf-al[tracking]`).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from orchestrator.tracking.records import CellRecord, ExperimentRecord

#: Tags that find this experiment's runs again.
ROLE_TAG, KEY_TAG = "scaf_al.role", "scaf_al.experiment_key"
PARENT_TAG = "mlflow.parentRunId"
#: MLflow's limits per log_batch call.
MAX_PARAMS, MAX_METRICS = 100, 1000
#: Requests fail fast: the caller retries (and a run never waits on a tracker); and no
#: "View run ... at" line per finished run on stdout (the live view's).
CLIENT_DEFAULTS = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "15",
                   "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true"}


def tracking_uri(target: str) -> str:
    """A URI as given (http://, https://, sqlite://, file://, databricks, ...), or a
    local folder as a file:// URI (MLflow's file store)."""
    if "://" in target or target in ("databricks",):
        return target
    return Path(target).expanduser().resolve().as_uri()


def _client(uri: str) -> Any:
    for name, value in CLIENT_DEFAULTS.items():
        os.environ.setdefault(name, value)
    if uri.startswith("file:"):
        # MLflow 3 keeps its file store for reading and writing only on request.
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    try:
        from mlflow.tracking import MlflowClient
    except ImportError:
        raise ImportError("the MLflow tracker needs mlflow: pip install 'scaf-al[tracking]'"
                          ) from None
    return MlflowClient(tracking_uri=uri)


def _chunks(items: list[Any], size: int) -> list[list[Any]]:
    return [items[i:i + size] for i in range(0, len(items), size)]


class MlflowSink:
    """Writes an :class:`ExperimentRecord` to one MLflow tracking URI."""

    name = "mlflow"

    def __init__(self, target: str) -> None:
        self.target = tracking_uri(target)
        self._client: Any = None
        self._experiment_id = ""
        self._parent = ""
        self._runs: dict[str, str] = {}  # cell id -> run id
        self._steps: dict[str, dict[str, set[int]]] = {}  # cell id -> metric -> steps
        self._finished: set[str] = set()
        self._parent_finished = False  # set once the report went out as artefacts

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = _client(self.target)
        return self._client

    def _key(self, rec: ExperimentRecord) -> str:
        return hashlib.sha1(rec.key.encode()).hexdigest()

    def _connect(self, rec: ExperimentRecord) -> None:
        """Find (or create) the MLflow experiment, the parent run and the cells' runs."""
        if self._parent:
            return
        c = self.client
        self._parent_finished = False
        exp = c.get_experiment_by_name(rec.name)
        eid = exp.experiment_id if exp is not None else c.create_experiment(rec.name)
        key = self._key(rec)
        runs = self._search(eid, f"tags.`{KEY_TAG}` = '{key}'")
        parents = [r for r in runs if r.data.tags.get(ROLE_TAG) == "experiment"]
        if parents:
            parent = parents[0].info.run_id
            self._parent_finished = parents[0].info.status == "FINISHED"
        else:
            parent = c.create_run(eid, run_name=rec.name, tags={
                ROLE_TAG: "experiment", KEY_TAG: key, "experiment": rec.name}).info.run_id
            c.log_text(parent, rec.spec_text, "spec.toml")
        for r in runs:
            cid = r.data.tags.get("cell_id")
            if r.data.tags.get(ROLE_TAG) == "cell" and cid and cid not in self._runs:
                self._runs[cid] = r.info.run_id
                self._add_missing_params(r, rec, cid)
                if r.info.status == "FINISHED":
                    self._finished.add(cid)
        self._experiment_id, self._parent = eid, parent

    def _search(self, eid: str, filter_string: str) -> list[Any]:
        out: list[Any] = []
        token = None
        while True:
            page = self.client.search_runs([eid], filter_string, max_results=1000,
                                           order_by=["attributes.start_time ASC"],
                                           page_token=token)
            out.extend(page)
            token = page.token
            if not token:
                return out

    def _add_missing_params(self, run: Any, rec: ExperimentRecord, cell_id: str) -> None:
        """A run created just before a crash may lack its params: add those missing."""
        cell = next((c for c in rec.cells if c.cell_id == cell_id), None)
        if cell is not None:
            self._log_params(run.info.run_id, cell, set(run.data.params))

    def _log_params(self, run_id: str, cell: CellRecord, have: set[str]) -> None:
        from mlflow.entities import Param

        params = [Param(k, v) for k, v in sorted(cell.params.items()) if k not in have]
        for chunk in _chunks(params, MAX_PARAMS):
            self.client.log_batch(run_id, params=chunk)

    def _run_of(self, cell: CellRecord, rec: ExperimentRecord) -> str:
        if cell.cell_id not in self._runs:
            tags = {**cell.tags, ROLE_TAG: "cell", KEY_TAG: self._key(rec),
                    PARENT_TAG: self._parent}
            run = self.client.create_run(self._experiment_id, run_name=cell.label, tags=tags)
            self._runs[cell.cell_id] = run.info.run_id
            # A new run has no history: nothing to read back.
            self._steps[cell.cell_id] = {k: set() for p in cell.points for k in p.metrics}
            self._log_params(run.info.run_id, cell, set())
        return self._runs[cell.cell_id]

    def _steps_of(self, cell: CellRecord, run_id: str) -> dict[str, set[int]]:
        """The steps each metric already has (read back once per run and metric)."""
        known = self._steps.setdefault(cell.cell_id, {})
        for key in sorted({k for p in cell.points for k in p.metrics} - set(known)):
            history = self.client.get_metric_history(run_id, key)
            known[key] = {int(m.step) for m in history}
        return known

    def _forget(self) -> None:
        """After an error, read everything back again: a write whose answer was lost may
        have gone through."""
        self._parent, self._runs, self._steps = "", {}, {}

    def sync(self, rec: ExperimentRecord) -> int:
        """Write every run and point the tracker lacks; returns the points written."""
        try:
            return self._sync(rec)
        except Exception:
            self._forget()
            raise

    def _sync(self, rec: ExperimentRecord) -> int:
        from mlflow.entities import Metric

        self._connect(rec)
        written = 0
        for cell in rec.cells:
            if not cell.points:
                continue
            run_id = self._run_of(cell, rec)
            steps = self._steps_of(cell, run_id)
            missing = [(k, v, p) for p in cell.points for k, v in sorted(p.metrics.items())
                       if p.step not in steps[k]]
            for chunk in _chunks(missing, MAX_METRICS):
                self.client.log_batch(run_id, metrics=[Metric(k, v, p.timestamp_ms, p.step)
                                                       for k, v, p in chunk])
                for k, _, p in chunk:
                    steps[k].add(p.step)
            written += len({p.round for _, _, p in missing})
            self._parent_finished = self._parent_finished and not missing
            if cell.done and cell.cell_id not in self._finished:
                self.client.set_terminated(run_id, "FINISHED")
                self._finished.add(cell.cell_id)
        return written

    def has_artefacts(self, rec: ExperimentRecord) -> bool:
        """The report went out after the last point was written (the parent is finished)."""
        self._connect(rec)
        return self._parent_finished

    def log_artefacts(self, rec: ExperimentRecord, files: list[Path]) -> None:
        """The report and plots as the parent run's artefacts (replacing earlier copies),
        and the parent marked finished."""
        self._connect(rec)
        for f in files:
            self.client.log_artifact(self._parent, str(f))
        self.client.set_terminated(self._parent, "FINISHED")
        self._parent_finished = True

    def close(self) -> None:
        self._client = None
