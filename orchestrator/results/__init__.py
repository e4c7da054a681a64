"""The result store: Parquet tables of rounds and selections under `<DIR>/results/`.

The public reading API for users' scripts lives here (`orchestrator.results.read_rounds`,
`read_selections`, `read_table`, `metric_splits`); the modules of this package hold the
schema, the file I/O, the writer, the readers' cache and compaction.
"""

from orchestrator.results.readers import ReadReport, read_rounds, read_selections, read_table
from orchestrator.results.schema import TABLES, metric_splits
from orchestrator.results.writer import ResultWriter

__all__ = ["TABLES", "ReadReport", "ResultWriter", "metric_splits", "read_rounds",
           "read_selections", "read_table"]
