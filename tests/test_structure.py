"""The shape of the house, checked on the code as it is: rooms import one way, no module
imports itself round a loop (imports inside functions count), folders and modules stay
small, and only the rooms that docs/architecture.md names import Ray.

The import graph is read here with `ast` (independently of the project's code): an edge
A -> B for every `import B` / `from B import x` in A, wherever it stands in A.
"""

from __future__ import annotations

import ast
import functools
from collections.abc import Iterable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ROOMS = ("benchmarks", "orchestrator", "trainers", "acquisition")  # the one direction
CHECKED = (*ROOMS, "tests")
MAX_MODULES, MAX_LINES, MAX_FUNCTION = 15, 400, 60
# Where Ray may be imported: the Tune glue, and the benchmarks that time it.
RAY_ROOMS = ("orchestrator/tune/", "benchmarks/")


def _modules(root: Path, rooms: Iterable[str]) -> dict[str, Path]:
    out = {}
    for room in rooms:
        for path in sorted((root / room).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join(parts)] = path
    return out


def _imported(module: str, path: Path, node: ast.Import | ast.ImportFrom) -> list[str]:
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    base = node.module or ""
    if node.level:
        package = module.split(".")
        if path.name != "__init__.py":
            package = package[:-1]
        package = package[: len(package) - node.level + 1]
        base = ".".join([*package, base] if base else package)
    return [f"{base}.{a.name}" for a in node.names] + [base]


def import_graph(root: Path, rooms: Iterable[str]) -> dict[str, set[str]]:
    """{module: the modules of `rooms` it imports}, imports inside functions included."""
    modules = _modules(root, rooms)
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for module, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Import | ast.ImportFrom):
                continue
            names = _imported(module, path, node)
            if isinstance(node, ast.ImportFrom):
                # `from pkg import sub` imports the module pkg.sub when there is one.
                names = [n for n in names[:-1] if n in modules] or names[-1:]
            for name in names:
                while name and name not in modules:
                    name = name.rpartition(".")[0]
                if name and name != module:
                    graph[module].add(name)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)


def test_the_checker_finds_a_cycle_hidden_in_a_function(tmp_path: Path) -> None:
    _write(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/a.py": "from pkg.b import f\n",
        "pkg/b.py": "def f():\n    from pkg import a\n    return a\n",
        "pkg/c.py": "from . import a\n",
    })
    graph = import_graph(tmp_path, ["pkg"])
    assert graph == {"pkg": set(), "pkg.a": {"pkg.b"}, "pkg.b": {"pkg.a"}, "pkg.c": {"pkg.a"}}
    assert cycles(graph) == [["pkg.a", "pkg.b"]]


@functools.cache
def checked_graph() -> dict[str, set[str]]:
    """The import graph of every checked room (read once per session)."""
    return import_graph(ROOT, CHECKED)


def test_no_import_cycle_between_modules() -> None:
    assert cycles(checked_graph()) == []


def test_rooms_import_one_way() -> None:
    """benchmarks -> orchestrator -> trainers -> acquisition: never back up."""
    rank = {room: i for i, room in enumerate(ROOMS)}
    against = sorted(
        f"{m} -> {d}" for m, deps in checked_graph().items() for d in deps
        if m.split(".")[0] in rank and d.split(".")[0] in rank
        and rank[d.split(".")[0]] < rank[m.split(".")[0]]
    )
    assert against == []


def test_no_room_imports_the_tests() -> None:
    """`tests` is not shipped: nothing the wheel holds may import it, benchmarks included."""
    graph = checked_graph()
    into_tests = sorted(f"{m} -> {d}" for m, deps in graph.items() if not m.startswith("tests")
                        for d in deps if d.split(".")[0] == "tests")
    assert into_tests == []


def _ray_users(rooms: Iterable[str]) -> list[str]:
    return sorted(
        path.relative_to(ROOT).as_posix() for path in _modules(ROOT, rooms).values()
        if any(name == "ray" or name.startswith("ray.")
               for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
               if isinstance(node, ast.Import | ast.ImportFrom)
               for name in ([a.name for a in node.names] if isinstance(node, ast.Import)
                            else [node.module or ""])))


def test_only_the_named_rooms_import_ray() -> None:
    """What docs/architecture.md says: the shipped rooms import Ray in orchestrator/tune/ and
    benchmarks/ only; of the tests, only those of the orchestrator."""
    users = _ray_users(ROOMS)
    assert users and all(u.startswith(RAY_ROOMS) for u in users), users
    tests = _ray_users(["tests"])
    assert tests and all(u.startswith("tests/orchestrator/") for u in tests), tests
    doc = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    assert all(f"`{room}`" in doc for room in (*RAY_ROOMS, "tests/orchestrator/"))


@pytest.mark.parametrize("room", CHECKED)
def test_folders_modules_and_functions_stay_small(room: str) -> None:
    too_big = []
    for folder in [ROOT / room, *(p for p in (ROOT / room).rglob("*") if p.is_dir())]:
        count = len(list(folder.glob("*.py")))
        if count > MAX_MODULES:
            too_big.append(f"{folder.relative_to(ROOT)}/: {count} modules")
    for path in (ROOT / room).rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        if text.count("\n") > MAX_LINES:
            too_big.append(f"{path.relative_to(ROOT)}: {text.count(chr(10))} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > MAX_FUNCTION:
                    too_big.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name}: "
                                   f"{length} lines")
    assert too_big == []
