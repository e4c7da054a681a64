"""The data-set registry on its own: plugins found through real distribution metadata
(a `*.dist-info` with an `entry_points.txt` on the path, as pip leaves it), loaded at the
first lookup and once; a name registered twice names both modules; facts that cannot work
are refused at registration with the data set's name and module."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from trainers.datasets import registry
from trainers.datasets.layouts import IBUG_68
from trainers.datasets.registry import (
    DatasetRegistryError,
    dataset_names,
    get_dataset,
    register_dataset,
)


@pytest.fixture
def plugin_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder on sys.path, with the registry as the built-ins left it and plugins unread."""
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    monkeypatch.setattr(registry, "_plugins_loaded", False)
    return tmp_path


def install(folder: Path, dist: str, module: str, body: str, entry: str | None = None) -> None:
    """A module and the metadata of a distribution `dist` naming it in `scaf_al.datasets`."""
    (folder / f"{module}.py").write_text(textwrap.dedent(body), encoding="utf-8")
    info = folder / f"{dist}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(
        f"[scaf_al.datasets]\n{entry or module} = {module}\n", encoding="utf-8")
    sys.modules.pop(module, None)


PLUGIN = """
    from trainers.datasets.registry import register_dataset

    @register_dataset("{name}", title="Plugin faces", splits=("all",), train_split="all",
                      test_splits=("all",), pretrain_split="all")
    def open_plugin(root, split="all", strict=False):
        raise NotImplementedError
"""


def test_a_plugin_is_imported_at_the_first_lookup_and_only_once(plugin_path: Path) -> None:
    install(plugin_path, "lazy-faces", "lazy_faces_plugin", PLUGIN.format(name="lazy_faces"))
    assert "lazy_faces_plugin" not in sys.modules  # importing the registry read nothing
    assert "lazy_faces" in dataset_names()
    module = sys.modules["lazy_faces_plugin"]
    assert get_dataset("lazy_faces").module == "lazy_faces_plugin"
    dataset_names()
    assert sys.modules["lazy_faces_plugin"] is module  # not imported a second time
    sys.modules.pop("lazy_faces_plugin")


def test_a_name_registered_twice_names_both_modules_every_time(plugin_path: Path) -> None:
    install(plugin_path, "clash-faces", "clash_faces_plugin", PLUGIN.format(name="wflw"))
    expected = ("data set 'wflw' is registered twice: by trainers.datasets.builtin.wflw and "
                "by clash_faces_plugin")
    with pytest.raises(DatasetRegistryError) as error:
        get_dataset("a_name_nobody_has")
    assert str(error.value) == expected
    with pytest.raises(DatasetRegistryError) as again:  # not swallowed: the next lookup too
        dataset_names()
    assert str(again.value) == expected
    assert registry._REGISTRY["wflw"].module == "trainers.datasets.builtin.wflw"


def test_a_broken_plugin_names_its_entry_point_group_and_distribution(
    plugin_path: Path,
) -> None:
    install(plugin_path, "broken-faces", "broken_faces_plugin",
            "raise ImportError('no module named xyz_reader')\n", entry="broken")
    with pytest.raises(DatasetRegistryError) as error:
        dataset_names()
    assert str(error.value) == (
        "could not load data set entry point 'broken = broken_faces_plugin' (group "
        "scaf_al.datasets, distribution broken-faces): no module named xyz_reader")


def test_an_unknown_name_lists_the_registered_ones_and_a_close_match() -> None:
    with pytest.raises(DatasetRegistryError) as error:
        get_dataset("wflv")
    message = str(error.value)
    assert message.startswith("unknown data set 'wflv'; registered: 300w, folder, ")
    assert message.endswith("Did you mean 'wflw'?")


def _open(root: Path, split: str = "all", strict: bool = False) -> None:
    raise NotImplementedError


@pytest.mark.parametrize(("facts", "message"), [
    ({"train_split": "pool"}, "split 'pool' is not among its splits all"),
    ({"layout": None}, "give a layout or a landmarks_option"),
    ({"suffixes": (".JPG",)}, "suffixes must be lower-case and start with '.'"),
    ({"colour": "red"}, "unexpected keyword argument 'colour'"),
])
def test_facts_that_cannot_work_are_refused_with_the_name_and_module(
    plugin_path: Path, facts: dict, message: str
) -> None:
    base = {"title": "T", "splits": ("all",), "train_split": "all", "test_splits": ("all",),
            "pretrain_split": "all", "layout": IBUG_68}
    with pytest.raises(DatasetRegistryError) as error:
        register_dataset("odd_faces", **{**base, **facts})(_open)
    assert str(error.value).startswith(f"data set 'odd_faces' ({__name__})")
    assert message in str(error.value)
    assert "odd_faces" not in registry._REGISTRY


def test_a_bad_name_is_refused() -> None:
    with pytest.raises(DatasetRegistryError, match="'Odd-Faces' must be lower-case"):
        register_dataset("Odd-Faces")
