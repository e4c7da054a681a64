"""Many tiny cells on a 4-node cluster that loses a node halfway (`benchmarks.scale`): every
cell x round lands in the store exactly once and the driver's memory stays flat.

The test runs 100 cells (about a minute on 2 cores); `scaf-al bench` runs the full
1,000 (see benchmarks/README.md).
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.usefixtures("no_ray_left")

CELLS = 100


@pytest.mark.slow
def test_grid_of_many_cells_survives_a_lost_node_with_each_key_once(tmp_path: Path) -> None:
    from benchmarks.scale import FLAT_TARGET, run_scale

    out = run_scale(CELLS, tmp_path)
    assert out.errors == []
    assert out.trial_rounds == 2 * CELLS
    assert out.keys_exact and out.rows == out.trial_rounds
    # The node went away mid-run, not before the first or after the last row.
    assert out.removed_at_rows is not None and 0 < out.removed_at_rows < out.trial_rounds
    # Every finished cell was compacted by its trial: no superseded row is left to drop.
    assert out.duplicates_dropped == 0
    assert out.peak_rss_quarter_mb is not None
    assert out.peak_rss_end_mb <= FLAT_TARGET * out.peak_rss_quarter_mb
