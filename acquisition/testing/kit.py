"""Conformance kit for acquisition authors: does an acquisition honour the contract?

Usage (in a plugin's tests, or ``scaf-al acquisitions check NAME --param window=5``)::

    from acquisition.testing import check_acquisition
    report = check_acquisition("my_acquisition", window=5)   # or the class itself
    assert report.ok, report.format()

The battery runs on a seeded synthetic pool (:mod:`acquisition.testing.synthetic`): declared needs,
reads of undeclared inputs, finite scores, NaN inputs, the selection contract, determinism
from ``rng``, chunk invariance, and the parameters' round trip through a result row. Every
check reports what it expected and what it got; the per-item cost is measured and printed.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from acquisition.base import Acquisition
from acquisition.registry import get, label
from acquisition.testing.conformance import CHECKS, CheckResult, Context, measure_cost, raised, run
from acquisition.testing.synthetic import synthetic_pool

__all__ = [
    "CheckResult",
    "ConformanceReport",
    "check_acquisition",
    "parse_params",
    "parse_value",
    "run_check",
]

_BARE_WORD = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]*$")


@dataclass
class ConformanceReport:
    """What :func:`check_acquisition` found.

    Attributes:
        acquisition: Label of the acquisition checked, e.g. ``nnm(window=5)``.
        checks: Every check, in the order run.
        cost_us_per_item: Microseconds per pool item for ``score`` (score acquisitions) and
            ``select``, on the synthetic pool described by ``pool``.
        pool: The synthetic pool's size and shapes, for the cost line.
    """

    acquisition: str
    checks: list[CheckResult]
    cost_us_per_item: dict[str, float] = field(default_factory=dict)
    pool: str = ""

    @property
    def ok(self) -> bool:
        """True when every check passed."""
        return all(check.passed for check in self.checks)

    @property
    def failures(self) -> list[CheckResult]:
        """The failed checks."""
        return [check for check in self.checks if not check.passed]

    def format(self) -> str:
        """Printable report: one line per check, failures with expected and got, the cost."""
        lines = [f"conformance of {self.acquisition}"]
        for check in self.checks:
            lines.append(f"  {'PASS' if check.passed else 'FAIL'}  {check.name}: {check.got}")
            if not check.passed:
                lines.append(f"        expected: {check.expected}")
        if self.cost_us_per_item:
            costs = ", ".join(f"{k} {v:.2f} us/item" for k, v in self.cost_us_per_item.items())
            lines.append(f"  cost: {costs} ({self.pool})")
        failed = len(self.failures)
        lines.append(f"{len(self.checks) - failed} passed, {failed} failed")
        return "\n".join(lines)

    __str__ = format


def check_acquisition(name_or_class: str | type[Acquisition], **params: Any) -> ConformanceReport:
    """Run the conformance battery on an acquisition.

    Args:
        name_or_class: A registered name, or an :class:`Acquisition` subclass (which must be
            registered for the round-trip check to pass).
        **params: Parameters of the acquisition.

    Returns:
        The report; ``report.ok`` is False if any check failed. Nothing is raised for a
        failing acquisition: every problem becomes a failed check.
    """
    factory, name = _factory(name_or_class, params)
    title = label(name or getattr(name_or_class, "__name__", "?"), params)
    try:
        acq = factory()
    except Exception as error:
        expected = "the acquisition builds with these parameters"
        return ConformanceReport(title, [CheckResult("build", False, expected, raised(error))])
    tta = acq.tta_samples if isinstance(acq.tta_samples, int) and acq.tta_samples > 0 else 2
    context = Context(factory, acq, name, synthetic_pool(tta_samples=tta))
    results = [run(check, context) for check in CHECKS]
    pool = context.pool
    shapes = ", ".join(f"{k} {tuple(v.shape[1:])}" for k, v in pool.items.items() if k != "norm")
    described = f"{pool.n} items, {int(pool.labeled.sum())} labeled; per item {shapes}"
    return ConformanceReport(title, results, measure_cost(context), described)


def run_check(name: str, params: dict[str, Any]) -> tuple[str, bool]:
    """``scaf-al acquisitions check NAME [--param k=v ...]``: printable report and success.

    Args:
        name: Registered acquisition name.
        params: Parameters, e.g. from :func:`parse_params`.

    Returns:
        (report text, True when every check passed); exit non-zero when False.
    """
    report = check_acquisition(name, **params)
    return report.format(), report.ok


def parse_params(pairs: Iterable[str]) -> dict[str, Any]:
    """Parse ``key=value`` strings (``--param`` values) into a parameter dict.

    Raises:
        ValueError: a pair without ``=`` or a value that is not a TOML/JSON literal.
    """
    params: dict[str, Any] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--param {pair!r}: expected key=value, e.g. window=7")
        params[key.strip()] = parse_value(text.strip())
    return params


def parse_value(text: str) -> Any:
    """A parameter value by TOML literal rules (``7``, ``0.1``, ``true``, ``"x"``,
    ``{ name = "nnm", window = 7 }``), then JSON; a bare word such as ``nnm`` is a string.

    Raises:
        ValueError: the text is none of these.
    """
    try:
        return tomllib.loads(f"value = {text}")["value"]
    except tomllib.TOMLDecodeError:
        pass
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        pass
    if _BARE_WORD.match(text):
        return text
    raise ValueError(
        f"cannot read {text!r} as a TOML or JSON value; write strings in quotes, tables as "
        '{ name = "nnm", window = 7 }'
    )


def _factory(
    name_or_class: str | type[Acquisition], params: dict[str, Any]
) -> tuple[Callable[[], Acquisition], str]:
    if isinstance(name_or_class, str):
        return (lambda: get(name_or_class, **params)), name_or_class
    cls = name_or_class
    return (lambda: cls(**params)), getattr(cls, "name", "")


