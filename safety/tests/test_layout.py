"""The safety engine's layout: its writes in ``safety.services``; the modules that check and read import none.

And no import inside a function (the way a cycle used to be dodged) anywhere in the app.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SAFETY = Path(__file__).resolve().parent.parent
READ_MODULES = ["gate", "risk", "cooldowns", "patterns", "selectors", "ledger", "counters", "decision", "policies"]
# Modules of other apps whose import means writing (services are the writes, by the project's rule).
WRITES = ("safety.services", "accounts.services", "actions.services", "warmup.services")


def _tree(name: str) -> ast.Module:
    return ast.parse((SAFETY / f"{name}.py").read_text())


def _imported_modules(tree: ast.Module) -> set[str]:
    modules: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            modules.add(node.module)
            modules |= {f"{node.module}.{alias.name}" for alias in node.names}
        elif isinstance(node, ast.Import):
            modules |= {alias.name for alias in node.names}
    return modules


@pytest.mark.parametrize("name", READ_MODULES)
def test_a_module_that_checks_or_reads_imports_no_writes(name: str) -> None:
    imported = _imported_modules(_tree(name))
    assert not {module for module in imported if module.startswith(WRITES)}, name


def _function_imports(tree: ast.AST) -> list[int]:
    """Lines of imports inside a function (``if TYPE_CHECKING:`` blocks are at module level and allowed)."""
    lines = []
    for function in ast.walk(tree):
        if isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
            lines += [node.lineno for node in ast.walk(function) if isinstance(node, ast.Import | ast.ImportFrom)]
    return lines


@pytest.mark.parametrize("path", sorted(SAFETY.glob("*.py")), ids=lambda path: path.name)
def test_no_import_inside_a_function(path: Path) -> None:
    assert _function_imports(ast.parse(path.read_text())) == [], path.name
