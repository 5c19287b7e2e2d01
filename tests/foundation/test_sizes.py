"""Sizes a reader can hold in their head, checked on the source (migrations aside).

- No module of the product (`models_core`, `surveys`, `autogen`) is over `MAX_FILE_LINES`
  lines.
- No function or method is over `MAX_FUNCTION_LINES` lines, from its ``def`` line to its last
  line (decorators left out, its docstring counted), unless its docstring says why it must be
  one piece: it contains the words ``one piece``.

Each failure lists every offender as ``path:line name (n lines)``.
"""

from __future__ import annotations

import ast
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("models_core", "surveys", "autogen")
MAX_FILE_LINES = 650
MAX_FUNCTION_LINES = 80
EXEMPTION = "one piece"


def _sources() -> list[Path]:
    return sorted(
        path
        for package in PACKAGES
        for path in (ROOT / package).rglob("*.py")
        if "migrations" not in path.relative_to(ROOT).parts
    )


SOURCES = _sources()


def _name(path: Path) -> str:
    return str(path.relative_to(ROOT))


def _line_count(text: str) -> int:
    return len(text.splitlines())


def _long_functions(text: str, path: str, limit: int = MAX_FUNCTION_LINES) -> list[str]:
    """``path:line name (n lines)`` for each function over `limit` lines without the
    exemption in its docstring; methods and nested functions are named by their place."""
    found: list[str] = []

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                name = f"{prefix}{child.name}"
                length = (child.end_lineno or child.lineno) - child.lineno + 1
                doc = ast.get_docstring(child) or ""
                if length > limit and EXEMPTION not in " ".join(doc.split()):
                    found.append(f"{path}:{child.lineno} {name} ({length} lines)")
                visit(child, f"{name}.")
            elif isinstance(child, ast.ClassDef):
                visit(child, f"{prefix}{child.name}.")
            else:
                visit(child, prefix)

    visit(ast.parse(text, path), "")
    return found


def test_the_check_sees_every_package():
    for package in PACKAGES:
        assert any(p.relative_to(ROOT).parts[0] == package for p in SOURCES), package
    assert not any("migrations" in p.parts for p in SOURCES)


def test_no_module_is_over_the_line_limit():
    offenders = [
        f"{_name(path)} ({n} lines)"
        for path in SOURCES
        if (n := _line_count(path.read_text(encoding="utf-8"))) > MAX_FILE_LINES
    ]
    assert not offenders, f"over {MAX_FILE_LINES} lines:\n" + "\n".join(offenders)


def test_no_function_is_over_the_line_limit_unless_it_says_why():
    offenders = [
        found
        for path in SOURCES
        for found in _long_functions(path.read_text(encoding="utf-8"), _name(path))
    ]
    assert not offenders, (
        f"over {MAX_FUNCTION_LINES} lines, and no docstring saying why it must be "
        f"{EXEMPTION!r}:\n" + "\n".join(offenders)
    )


def _function(lines: int, doc: str = "", name: str = "f") -> str:
    """A function of exactly `lines` lines, `doc` its one-line docstring if given."""
    docstring = [f'    """{doc}"""'] if doc else []
    body = [f"    x{i} = {i}" for i in range(lines - 1 - len(docstring))]
    return "\n".join([f"def {name}():", *docstring, *body]) + "\n"


def _nested(outer: str, inner: str) -> str:
    return outer + textwrap.indent(inner, "    ")


@pytest.mark.parametrize(
    ("source", "offenders"),
    [
        (_function(80), []),
        (_function(81), ["m.py:1 f (81 lines)"]),
        (_function(81, "It must stay one piece: the loop shares its state."), []),
        (_function(81, "A piece of one kind."), ["m.py:1 f (81 lines)"]),
        (_nested("class C:\n    @staticmethod\n", _function(81)), ["m.py:3 C.f (81 lines)"]),
        (
            _nested("def outer():\n", _function(81)),
            ["m.py:1 outer (82 lines)", "m.py:2 outer.f (81 lines)"],
        ),
    ],
)
def test_the_function_check_counts_def_to_last_line_and_honours_the_exemption(source, offenders):
    assert _function(81).count("\n") == 81
    assert sorted(_long_functions(source, "m.py")) == offenders


def test_the_exemption_may_wrap_across_docstring_lines():
    source = _function(81).replace(
        "def f():\n", 'def f():\n    """Kept in one\n    piece: see why."""\n'
    )
    assert source.count("\n") == 83
    assert _long_functions(source, "m.py") == []
