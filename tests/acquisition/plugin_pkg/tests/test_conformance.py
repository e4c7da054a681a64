"""The example plugin's own tests: scaf-al's conformance kit on the installed entry point.

A plugin author copies this file: install the package (``pip install -e .``), then run
``pytest tests``. The same check is ``scaf-al acquisitions check example_low_peak``.
"""

from __future__ import annotations

import pytest

import acquisition
from acquisition.testing import check_acquisition


@pytest.mark.parametrize("params", [{}, {"discard_top": 0.1}])
def test_passes_the_conformance_kit(params: dict) -> None:
    report = check_acquisition("example_low_peak", **params)
    print(report.format())  # shown with pytest -s: every check and the per-item cost
    assert report.ok, report.format()


def test_is_found_through_the_entry_point() -> None:
    acq = acquisition.get("example_low_peak")
    assert type(acq).__module__ == "scaf_al_example_acquisition"
    assert acq.needs == {"heatmaps"} and acq.is_score_based
