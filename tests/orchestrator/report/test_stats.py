"""The numbers behind the report's conclusions, against textbook and published answers."""

from __future__ import annotations

import math

import pytest

from orchestrator.report.stats import (
    aubc,
    holm,
    labels_to_reach,
    paired_t,
    paired_t_power,
    seeds_needed,
)


def test_holm_bonferroni_textbook_example() -> None:
    # m = 4, p = 0.005, 0.01, 0.03, 0.04: 4 * 0.005 = 0.02, 3 * 0.01 = 0.03,
    # 2 * 0.03 = 0.06, 1 * 0.04 = 0.04 -> raised to the running maximum 0.06.
    assert holm([0.005, 0.01, 0.03, 0.04]) == pytest.approx([0.02, 0.03, 0.06, 0.06])
    # In the order given, not sorted; capped at 1.
    assert holm([0.04, 0.005, 0.03, 0.01]) == pytest.approx([0.06, 0.02, 0.06, 0.03])
    assert holm([0.5, 0.6]) == pytest.approx([1.0, 1.0])
    assert holm([]) == []


@pytest.mark.parametrize(("d", "pairs"), [(0.5, 34), (0.8, 15), (1.0, 10)])
def test_seeds_needed_matches_published_paired_t_sample_sizes(d: float, pairs: int) -> None:
    # Cohen (1988) / G*Power: two-sided paired t-test, alpha 0.05, power 0.80.
    assert seeds_needed(d) == pairs
    assert paired_t_power(d, pairs) >= 0.8 > paired_t_power(d, pairs - 1)


def test_seeds_needed_bounds() -> None:
    # No effect: the power never leaves alpha, so the cap; a huge effect: the minimum of 3
    # pairs a verdict needs, even where 2 would have the power.
    assert seeds_needed(0.0) == 100
    assert seeds_needed(0.05, cap=40) == 40
    assert seeds_needed(50.0) == 3
    assert seeds_needed(math.inf) == 3
    # With no effect the power of a two-sided test at 5 % is 5 %.
    assert paired_t_power(0.0, 12) == pytest.approx(0.05)


def test_aubc_trapezoids_over_the_span() -> None:
    # Sizes 10, 20, 40; NME 12, 10, 8: (10 * (12 + 10) / 2 + 20 * (10 + 8) / 2) / 30
    # = (110 + 180) / 30 = 9.6667.
    assert aubc([10, 20, 40], [12.0, 10.0, 8.0]) == pytest.approx(290 / 30)
    # A flat curve is its own mean; one size is its value.
    assert aubc([10, 30, 50], [7.0, 7.0, 7.0]) == pytest.approx(7.0)
    assert aubc([10], [5.5]) == 5.5
    with pytest.raises(ValueError, match="increase strictly"):
        aubc([20, 10], [1.0, 2.0])
    with pytest.raises(ValueError, match="as many sizes as values"):
        aubc([10, 20], [1.0])


def test_labels_to_reach_interpolates_linearly() -> None:
    # Curve 13, 8, 5 at 10, 20, 40; target 7 lies between 20 (8) and 40 (5):
    # 20 + (8 - 7) * 20 / (8 - 5) = 26.667.
    assert labels_to_reach([10, 20, 40], [13.0, 8.0, 5.0], 7.0) == pytest.approx(80 / 3)
    assert labels_to_reach([10, 20], [6.0, 5.0], 7.0) == 10.0  # already there at the start
    assert labels_to_reach([10, 20, 40], [13.0, 10.0, 7.0], 7.0) == 40.0  # exactly at the end
    assert labels_to_reach([10, 20], [13.0, 9.0], 7.0) is None


def test_paired_t_known_p_values() -> None:
    # d = (-1, -2, -1): t = -4, df = 2, p = 1 - 4 / sqrt(18) (see test_report).
    assert paired_t([9, 10, 10], [10, 12, 11]) == pytest.approx(1 - 4 / math.sqrt(18))
    # d = (3.0, 3.2): mean 3.1, sd sqrt(0.02), t = 3.1 / 0.1 = 31, df = 1:
    # p = 1 - 2 atan(31) / pi.
    assert paired_t([13.0, 15.2], [10.0, 12.0]) == pytest.approx(1 - 2 * math.atan(31) / math.pi)
    assert paired_t([1.0], [2.0]) is None
    assert paired_t([3.0, 4.0], [1.0, 2.0]) is None  # constant differences: no t-test
