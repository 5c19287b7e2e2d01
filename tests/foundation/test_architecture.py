"""The layers of ARCHITECTURE.md, checked on the source: who may import whom.

The graph is read from every ``import`` statement (module level or not) of the product's own
modules, so a cycle hidden in a function-level import counts too; imports for type checkers
alone (``if TYPE_CHECKING:``) never run and do not count. The run-time checks that
``models_core.nn`` and ``surveys.stats`` load no Django module live beside their tests.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("autogen", "models_core", "surveys")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            if "migrations" not in path.parts:
                found[_module_name(path)] = path
    return found


MODULES = _modules()


def _type_checking_only(node: ast.AST) -> bool:
    test = getattr(node, "test", None)
    return isinstance(node, ast.If) and (
        (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING")
        or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")
    )


def _run_time_nodes(tree: ast.AST):
    """Every node of `tree` except the bodies of ``if TYPE_CHECKING:`` blocks."""
    todo = [tree]
    while todo:
        node = todo.pop()
        yield node
        for child in ast.iter_child_nodes(node):
            if _type_checking_only(child):
                todo.extend(child.orelse)
            else:
                todo.append(child)


def _imports(name: str, path: Path) -> set[str]:
    """The product modules that `name` imports (``from a import b`` names a.b if a module)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    targets: set[str] = set()
    for node in _run_time_nodes(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                targets.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base)
    return {t for t in targets if t in MODULES and t != name}


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def _cycle() -> list[str] | None:
    """One import cycle among the product's modules, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(GRAPH[node]):
            if state.get(target) == 1:
                return [*path[path.index(target) :], target]
            if target not in state and (found := visit(target)):
                return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(GRAPH):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_the_import_graph_has_no_cycle():
    assert _cycle() is None, " → ".join(_cycle() or [])


def test_imports_for_type_checkers_alone_do_not_count():
    source = "if TYPE_CHECKING:\n    import a\nelse:\n    import b\nimport c\n"
    names = {
        alias.name
        for node in _run_time_nodes(ast.parse(source))
        if isinstance(node, ast.Import)
        for alias in node.names
    }
    assert names == {"b", "c"}


def test_the_graph_sees_the_modules_it_checks():
    assert "models_core.services.runs" in GRAPH
    assert "models_core.services.enqueue" in GRAPH["models_core.services.runs"]


def _third_party(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and not node.level:
            names.add(node.module or "")
    return names


@pytest.mark.parametrize("prefix", ["models_core.nn", "surveys.stats"])
def test_the_engine_and_the_statistics_import_nothing_from_django(prefix):
    checked = [n for n in MODULES if n == prefix or n.startswith(prefix + ".")]
    assert checked
    for name in checked:
        django = {m for m in _third_party(MODULES[name]) if m.split(".")[0] == "django"}
        assert not django, (name, django)
        product = {t for t in GRAPH[name] if not t.startswith(prefix)}
        assert not product, (name, product)  # nor from the Django layers around them


def test_renderers_import_no_models():
    renderers = [n for n in MODULES if n.startswith("surveys.reports.render")]
    assert renderers
    for name in renderers:
        imported = GRAPH[name] | _third_party(MODULES[name])
        models = {m for m in imported if m.endswith(".models") or m.startswith("django.db")}
        assert not models, (name, models)


def test_services_never_import_tasks():
    for name in MODULES:
        if name.startswith("models_core.services"):
            assert "models_core.tasks" not in GRAPH[name], name
