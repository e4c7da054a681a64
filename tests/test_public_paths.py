"""The import paths and names that users' scripts and plugins use keep working whatever
the rooms inside look like (README: Results, Acquisition functions, Data)."""

from __future__ import annotations

import importlib
import importlib.metadata

import pytest

PUBLIC = [
    ("orchestrator.results", "read_rounds"),
    ("orchestrator.results", "read_selections"),
    ("orchestrator.results", "read_table"),
    ("acquisition", "register"),
    ("acquisition", "ScoreAcquisition"),
    ("acquisition", "get"),
    ("acquisition.testing", "check_acquisition"),
    ("trainers.datasets", "register_dataset"),
    ("trainers.datasets", "open_dataset"),
    ("trainers.models", "build_model"),
    ("orchestrator.cli.commands", "main"),
]


@pytest.mark.parametrize(("module", "name"), PUBLIC)
def test_public_name_imports(module: str, name: str) -> None:
    assert callable(getattr(importlib.import_module(module), name))


def test_entry_point_groups_and_the_command() -> None:
    import acquisition
    from trainers.datasets import registry

    assert acquisition.ENTRY_POINT_GROUP == "scaf_al.acquisition"
    assert registry.ENTRY_POINT_GROUP == "scaf_al.datasets"
    scripts = {e.name: e.value for e in importlib.metadata.entry_points(group="console_scripts")}
    assert scripts["scaf-al"] == "orchestrator.cli.commands:main"
