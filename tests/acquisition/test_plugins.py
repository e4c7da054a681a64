"""Outside packages add acquisitions through the ``scaf_al.acquisition`` entry-point group."""

from __future__ import annotations

import importlib.metadata
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import acquisition
from acquisition import registry
from tests.helpers.plugins import install_example_plugin, plugin_env

GROUP = acquisition.ENTRY_POINT_GROUP

SELECT_WITH_PLUGIN = """
import json, sys
import numpy as np
import acquisition

name = sys.argv[1]
rng = np.random.default_rng(0)
heatmaps = rng.random((12, 3, 8, 8)).astype(np.float32)
labeled = np.zeros(12, dtype=bool)
labeled[[0, 5]] = True
acq = acquisition.get(name, discard_top=0.1)
scores = acq.score(heatmaps)
picked = acq.select(3, labeled=labeled, scores=scores, rng=rng)
print(json.dumps({
    "available": acquisition.available(),
    "module": type(acq).__module__,
    "file": sys.modules[type(acq).__module__].__file__,
    "params": acq.params,
    "scores": scores.tolist(),
    "picked": picked.tolist(),
}))
"""


@pytest.fixture(scope="module")
def plugin_site(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    site = tmp_path_factory.mktemp("plugin") / "site"
    return site, install_example_plugin(site)


def test_installed_plugin_selects_by_name(plugin_site: tuple[Path, str]) -> None:
    site, name = plugin_site
    done = subprocess.run(
        [sys.executable, "-c", SELECT_WITH_PLUGIN, name],
        env=plugin_env(site),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["available"][name].startswith("Example plugin")
    assert {"random", "nnm", "entropy", "kcenter_greedy"} <= set(result["available"])
    assert Path(result["file"]).is_relative_to(site)
    assert result["params"] == {"discard_top": 0.1}
    # Recompute the plugin's definition here: minus the mean heatmap peak.
    rng = np.random.default_rng(0)
    heatmaps = rng.random((12, 3, 8, 8)).astype(np.float32)
    expected = -heatmaps.max(axis=(2, 3)).astype(np.float64).mean(axis=1)
    np.testing.assert_allclose(result["scores"], expected, rtol=1e-12)
    ranked = [i for i in np.argsort(-expected, kind="stable") if i not in (0, 5)]
    assert result["picked"] == ranked[1:4]  # floor(0.1 * 10) = 1 discarded


def _pytest_with_plugin(site: Path, args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    """Run pytest in a subprocess that sees the example plugin installed in `site`."""
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
                          cwd=cwd, env=plugin_env(site), capture_output=True, text=True,
                          timeout=300, check=False)
    assert done.returncode == 0, done.stdout[-3000:]
    return done


def test_contract_tests_cover_the_installed_plugin(plugin_site: tuple[Path, str]) -> None:
    site, name = plugin_site
    contract = Path(__file__).with_name("test_contract.py")
    done = _pytest_with_plugin(site, [str(contract), "-k", name], contract.parents[2])
    assert " passed" in done.stdout and " failed" not in done.stdout


def test_plugin_package_tests_run_the_conformance_kit(plugin_site: tuple[Path, str]) -> None:
    site, _ = plugin_site
    plugin_tests = Path(__file__).with_name("plugin_pkg") / "tests" / "test_conformance.py"
    done = _pytest_with_plugin(site, ["-s", str(plugin_tests)], plugin_tests.parents[4])
    assert "3 passed" in done.stdout
    assert "conformance of example_low_peak(discard_top=0.1)" in done.stdout
    assert "8 passed, 0 failed" in done.stdout and "us/item" in done.stdout


def test_plugin_is_not_visible_without_its_path() -> None:
    assert "example_low_peak" not in acquisition.available()


def write_module(directory: Path, name: str, body: str) -> None:
    (directory / f"{name}.py").write_text(textwrap.dedent(body))


def entry_point(name: str, value: str) -> importlib.metadata.EntryPoint:
    return importlib.metadata.EntryPoint(name=name, value=value, group=GROUP)


PLUGIN_CLASS = """
    import numpy as np
    import acquisition

    {decorator}
    class Shuffle(acquisition.SetAcquisition):
        \"\"\"Test plugin: a reversed listing of the unlabeled items.\"\"\"

        def select_from(self, k, labeled, features, rng):
            picked = np.flatnonzero(~labeled)[::-1][:k]
            return picked, np.full(k, np.nan)
"""


@pytest.fixture
def plugin_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clean_registry) -> Path:
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def use_entry_points(monkeypatch: pytest.MonkeyPatch, *points: importlib.metadata.EntryPoint):
    monkeypatch.setattr(registry, "_entry_points", lambda: list(points))
    monkeypatch.setattr(registry, "_plugins_loaded", False)


def test_module_entry_point_loaded_lazily_on_first_lookup(
    plugin_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_module(
        plugin_dir, "plug_module_a", PLUGIN_CLASS.format(decorator='@acquisition.register("rev_a")')
    )
    calls = []

    def points() -> list:
        calls.append(1)
        return [entry_point("anything", "plug_module_a")]

    monkeypatch.setattr(registry, "_entry_points", points)
    monkeypatch.setattr(registry, "_plugins_loaded", False)
    assert "plug_module_a" not in sys.modules and not calls
    acq = acquisition.get("rev_a")
    assert acq.select(2, labeled=np.array([False, True, False, False])).tolist() == [3, 2]
    acquisition.available()
    assert calls == [1]  # loaded once


def test_class_entry_point_registers_under_entry_point_name(
    plugin_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_module(plugin_dir, "plug_module_b", PLUGIN_CLASS.format(decorator=""))
    use_entry_points(monkeypatch, entry_point("rev_b", "plug_module_b:Shuffle"))
    assert (
        acquisition.available()["rev_b"]
        == "Test plugin: a reversed listing of the unlabeled items."
    )


def test_name_clash_names_both_modules(plugin_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_module(
        plugin_dir, "plug_module_c", PLUGIN_CLASS.format(decorator='@acquisition.register("nnm")')
    )
    use_entry_points(monkeypatch, entry_point("nnm", "plug_module_c"))
    with pytest.raises(acquisition.AcquisitionRegistryError) as error:
        acquisition.get("random")
    message = str(error.value)
    assert "'nnm' is registered twice" in message
    assert "acquisition.nnm.NNM" in message and "plug_module_c.Shuffle" in message
    # Not swallowed: the next lookup reports it again.
    with pytest.raises(acquisition.AcquisitionRegistryError, match="registered twice"):
        acquisition.available()


def test_broken_plugin_is_reported_with_its_entry_point(
    plugin_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_module(plugin_dir, "plug_module_d", "raise ImportError('missing dependency xyz')\n")
    use_entry_points(monkeypatch, entry_point("broken", "plug_module_d"))
    with pytest.raises(acquisition.AcquisitionRegistryError, match=r"broken = plug_module_d.*xyz"):
        acquisition.get("nnm")


def test_entry_point_to_something_else(plugin_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_module(plugin_dir, "plug_module_e", "def not_a_class():\n    pass\n")
    use_entry_points(monkeypatch, entry_point("odd", "plug_module_e:not_a_class"))
    with pytest.raises(acquisition.AcquisitionRegistryError, match="loaded a function"):
        acquisition.available()


def test_register_refuses_bad_classes(clean_registry) -> None:
    with pytest.raises(ValueError, match="snake_case"):
        acquisition.register("My-Acq")

    class NoDoc(acquisition.SetAcquisition):
        def select_from(self, k, labeled, features, rng):
            return np.flatnonzero(~labeled)[:k], np.full(k, np.nan)

    with pytest.raises(TypeError, match="needs a docstring"):
        acquisition.register("no_doc")(NoDoc)

    class Abstract(acquisition.ScoreAcquisition):
        """Forgot compute_score."""

    with pytest.raises(TypeError, match=r"does not implement \['compute_score'\]"):
        acquisition.register("abstract")(Abstract)


def test_buggy_plugin_selection_is_caught(clean_registry) -> None:
    @acquisition.register("returns_labeled")
    class ReturnsLabeled(acquisition.SetAcquisition):
        """Test plugin that wrongly returns labeled items."""

        def select_from(self, k, labeled, features, rng):
            return np.flatnonzero(labeled)[:k], np.full(k, np.nan)

    with pytest.raises(RuntimeError, match="returns_labeled.*returned labeled indices"):
        acquisition.get("returns_labeled").select(1, labeled=np.array([True, False]))
