"""The conformance kit for acquisition authors (`check_acquisition`), its checks and the
seeded synthetic pool they run on; see :mod:`acquisition.testing.kit`."""

from acquisition.testing.kit import (
    CheckResult,
    ConformanceReport,
    check_acquisition,
    parse_params,
    parse_value,
    run_check,
)

__all__ = ["CheckResult", "ConformanceReport", "check_acquisition", "parse_params",
           "parse_value", "run_check"]
