"""The hub's import graph: no cycle (imports under `if TYPE_CHECKING:` and inside
functions included), and hub.app, the wiring, imported only by the CLI and the demo.

A cycle means two rooms each need the other, so neither can be read (or tested) alone;
a room importing hub.app would reach back into the wiring instead of being handed the
narrow interface it uses (README, "Layout").
"""

from __future__ import annotations

import ast
from pathlib import Path

HUB = Path(__file__).resolve().parent.parent / "hub"
# Only these may import the wiring: they build a Hub (`pingan-hub run`, `./dev demo`).
MAY_IMPORT_APP = {"hub.cli", "hub.demo"}


def module_name(path: Path, root: Path) -> str:
    """hub/services/alarms.py -> hub.services.alarms; hub/web/__init__.py -> hub.web."""
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(tree: ast.Module, name: str, is_package: bool, known: set[str]) -> set[str]:
    """Every hub module `tree` imports, wherever the import statement is."""
    found: set[str] = set()
    package = name if is_package else name.rpartition(".")[0]
    for node in ast.walk(tree):  # every statement, in TYPE_CHECKING blocks and functions too
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the package, one level up per extra dot
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            # `from hub.web import pages` imports the module hub.web.pages.
            targets = [f"{base}.{alias.name}" for alias in node.names] + [base]
        else:
            continue
        for target in targets:
            # `from hub.x import Name`: Name is no module, hub.x is; the nearest known
            # module is the one imported (a package's __init__ is a module of its own).
            module = target
            while module and module not in known:
                module = module.rpartition(".")[0]
            if module and module != name:
                found.add(module)
    return found


def import_graph(root: Path) -> dict[str, set[str]]:
    """Module -> the hub modules it imports, for every .py file under `root`."""
    files = {module_name(p, root): p for p in sorted(root.rglob("*.py"))}
    known = set(files)
    graph = {}
    for name, path in files.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        graph[name] = imported_modules(tree, name, path.name == "__init__.py", known)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a path (first == last), or None."""
    done: set[str] = set()
    stack: list[str] = []
    on_stack: set[str] = set()

    def visit(node: str) -> list[str] | None:
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt in on_stack:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in done:
                cycle = visit(nxt)
                if cycle:
                    return cycle
        stack.pop()
        on_stack.discard(node)
        done.add(node)
        return None

    for start in sorted(graph):
        if start not in done:
            cycle = visit(start)
            if cycle:
                return cycle
    return None


def test_the_hub_has_no_import_cycle() -> None:
    cycle = find_cycle(import_graph(HUB))
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_only_the_cli_and_the_demo_import_the_wiring() -> None:
    graph = import_graph(HUB)
    importers = sorted(n for n, deps in graph.items() if "hub.app" in deps)
    assert set(importers) <= MAY_IMPORT_APP, f"hub.app imported by {importers}"


def test_the_check_finds_a_cycle_hidden_under_type_checking(tmp_path: Path) -> None:
    """The checks above can fail: a cycle through a TYPE_CHECKING import is found, and so
    is a room importing the wiring."""
    pkg = tmp_path / "hub"
    (pkg / "services").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "services" / "__init__.py").write_text("")
    (pkg / "app.py").write_text("from hub.services.alarms import AlarmService\n")
    (pkg / "services" / "alarms.py").write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from hub.app import Hub\n"
        "class AlarmService: ...\n"
    )
    graph = import_graph(pkg)
    assert find_cycle(graph) == [
        "hub.app",
        "hub.services.alarms",
        "hub.app",
    ]
    assert "hub.app" in graph["hub.services.alarms"]
