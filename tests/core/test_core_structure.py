"""The architecture, checked: extensions use the public surface, modules keep their state.

* The plugins import only ``simloop`` and ``simloop.lowlevel`` (and public names from them).
* The checks and the trace recorder, which are extensions shipped with simloop, likewise.
* No module reads or writes another module's private attributes: a private name that a
  module of simloop defines (``self._x = ...``, a ``_x`` method or slot) is touched on other
  objects than ``self`` only in that module. The few exceptions are listed below, each with
  its reason.
* The simulated network (``simloop/net``) is one component built on the public surface: its
  modules share its private state, and touch none of the core's.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LIBRARY = ROOT / "simloop"
NETWORK = LIBRARY / "net"
PLUGINS = ROOT / "plugins"

#: Modules of simloop that are extensions built on the public surface.
EXTENSIONS = ("_checks.py", "_recorder.py")

#: (module, private name): the module may touch the name defined elsewhere, because...
ALLOWED = {
    # The hot paths inline ReadyLanes.take/add_lane over the lane handles' own slots (see
    # simloop/_lanes.py, and tests/core/test_core_lanes.py, which checks both agree).
    ("_kernel.py", "_next"),
    ("_kernel.py", "_pos"),
    ("_kernel.py", "_older"),
    ("_kernel.py", "_younger"),
}


def _sources(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*.py") if "__pycache__" not in p.parts)


def _core_sources() -> list[Path]:
    """simloop's modules but the network's, which names its private state on its own."""
    return [p for p in _sources(LIBRARY) if NETWORK not in p.parents]


def _is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _owned_names(tree: ast.AST) -> set[str]:
    """Private names a module defines: attributes set on ``self``/``cls``, methods and
    class-level names of its classes, and the slots they declare."""
    owned: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            if isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"):
                owned.add(node.attr)
        elif isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    owned.add(item.name)
                elif isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
                    owned.add(item.target.id)
                elif isinstance(item, ast.Assign):
                    for target in item.targets:
                        if isinstance(target, ast.Name):
                            owned.add(target.id)
                            if target.id == "__slots__" and isinstance(
                                item.value, (ast.Tuple, ast.List)
                            ):
                                owned.update(
                                    e.value
                                    for e in item.value.elts
                                    if isinstance(e, ast.Constant) and isinstance(e.value, str)
                                )
    return {name for name in owned if _is_private(name)}


def _foreign_touches(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, name) of every private attribute touched on something other than self/cls."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and _is_private(node.attr):
            value = node.value
            if isinstance(value, ast.Name) and value.id in ("self", "cls"):
                continue
            if isinstance(value, ast.Call) and getattr(value.func, "id", None) == "super":
                continue
            found.append((node.lineno, node.attr))
    return found


def _parsed(path: Path) -> ast.AST:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def _owners() -> dict[str, set[str]]:
    """Private name -> the simloop modules (the network's aside) that define it."""
    owners: dict[str, set[str]] = defaultdict(set)
    for path in _core_sources():
        for name in _owned_names(_parsed(path)):
            owners[name].add(path.name)
    return owners


def _violations(paths: list[Path], *, exempt: set[str]) -> list[str]:
    owners = _owners()
    problems = []
    for path in paths:
        tree = _parsed(path)
        for line, name in _foreign_touches(tree):
            defined_in = owners.get(name, set())
            if not defined_in or path.name in defined_in or name in exempt:
                continue
            if path.parent == LIBRARY and (path.name, name) in ALLOWED:
                continue
            where = path.relative_to(ROOT)
            problems.append(f"{where}:{line} touches {name}, owned by {sorted(defined_in)}")
    return problems


def test_no_module_touches_another_modules_private_state() -> None:
    assert _violations(_core_sources(), exempt=set()) == []


def test_the_network_touches_no_private_state_of_the_core() -> None:
    network_owned: set[str] = set()
    for path in _sources(NETWORK):
        network_owned |= _owned_names(_parsed(path))
    assert _violations(_sources(NETWORK), exempt=network_owned) == []


def test_the_network_imports_only_simloop_and_lowlevel() -> None:
    own = _sources(NETWORK)
    problems = [
        problem
        for problem in _private_imports(own)
        if not problem.split(" imports ")[1].startswith("simloop.net.")
    ]
    assert problems == []


def test_the_plugins_touch_no_private_state_of_simloop() -> None:
    plugin_owned: set[str] = set()
    for path in _sources(PLUGINS):
        plugin_owned |= _owned_names(_parsed(path))
    assert _violations(_sources(PLUGINS), exempt=plugin_owned) == []


def _simloop_imports(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, "module" or "module.name") of every import from simloop."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [
                (node.lineno, a.name) for a in node.names if a.name.split(".")[0] == "simloop"
            ]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "simloop":
            found += [(node.lineno, f"{node.module}.{a.name}") for a in node.names]
    return found


def _private_imports(paths: list[Path]) -> list[str]:
    problems = []
    for path in paths:
        for line, name in _simloop_imports(_parsed(path)):
            parts = name.split(".")
            # simloop, a public name of simloop, simloop.lowlevel or a name of it.
            allowed = len(parts) <= 2 or (parts[1] == "lowlevel" and len(parts) == 3)
            if any(_is_private(part) for part in parts) or not allowed:
                problems.append(f"{path.relative_to(ROOT)}:{line} imports {name}")
    return problems


def test_the_plugins_import_only_simloop_and_lowlevel() -> None:
    assert _private_imports(_sources(PLUGINS)) == []


@pytest.mark.parametrize("module", EXTENSIONS)
def test_the_shipped_extensions_use_only_the_public_surface(module: str) -> None:
    assert _private_imports([LIBRARY / module]) == []


def test_the_checks_above_can_fail() -> None:
    """Each rule catches what it is meant to (on made-up sources)."""
    tree = ast.parse(
        "from simloop._loop import SimLoop\n"
        "import simloop._trace\n"
        "from simloop.lowlevel import choose\n"
        "from simloop import _stdlib\n"
        "def f(loop):\n    return loop._now_ns\n"
    )
    assert [name for _, name in _simloop_imports(tree)] == [
        "simloop._loop.SimLoop",
        "simloop._trace",
        "simloop.lowlevel.choose",
        "simloop._stdlib",
    ]
    assert _foreign_touches(tree) == [(6, "_now_ns")]
    assert "_now_ns" in _owners()
    owned = _owned_names(
        ast.parse("class A:\n    __slots__ = ('_a',)\n    def _b(self):\n        self._c = 1\n")
    )
    assert owned == {"_a", "_b", "_c"}
