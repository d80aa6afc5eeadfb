"""The layout holds as the code grows: every product module has a place in the layers, and no import hides a cycle.

import-linter (`make lint-imports`, part of `make test`) checks the imports of the modules that
`.importlinter` names; a new module that it does not name would escape the layers, so this test fails
for it. And an import inside a function (the way an import cycle is dodged) fails here too, anywhere in
the product, except where Django wants it: ``AppConfig.ready`` (registering handlers and specs).
"""

from __future__ import annotations

import ast
import configparser
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _config() -> configparser.ConfigParser:
    config = configparser.ConfigParser()
    config.read(ROOT / ".importlinter")
    return config


def _listed(section: str, key: str) -> list[str]:
    value = _config()[section][key]
    return [name.strip() for line in value.splitlines() for name in line.split(":") if name.strip()]


# The product apps: the ones the contract keeps free of the sandbox and devtools.
PRODUCT_APPS = tuple(_listed("importlinter:contract:product-without-devtools", "source_modules"))
# The project's own wiring: settings, the URL map and the admin site import every app by design.
PROJECT_WIRING = (
    "instaforge.apps",
    "instaforge.admin_apps",
    "instaforge.admin_site",
    "instaforge.asgi",
    "instaforge.maintenance",
    "instaforge.management",
    "instaforge.middleware",
    "instaforge.schedules",
    "instaforge.settings",
    "instaforge.test_settings",
    "instaforge.urls",
    "instaforge.wsgi",
)


def _product_modules() -> list[tuple[str, Path]]:
    modules = []
    for app in PRODUCT_APPS:
        for path in sorted((ROOT / app).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            if "tests" in parts or "migrations" in parts or (parts[-1] == "__init__" and len(parts) == 2):
                continue
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            modules.append((name, path))
    return modules


def _covered(module: str, places: list[str]) -> bool:
    return any(module == place or module.startswith(place + ".") for place in places)


def test_every_product_module_has_a_place_in_the_layers() -> None:
    places = [
        *_listed("importlinter:contract:layers", "layers"),
        *_listed("importlinter:contract:helpers", "source_modules"),
        *PROJECT_WIRING,
    ]
    homeless = [name for name, _ in _product_modules() if not _covered(name, places)]
    assert not homeless, f"add these modules to a layer of .importlinter (or to the helpers): {homeless}"


def test_the_layers_name_no_module_that_does_not_exist() -> None:
    names = {name for name, _ in _product_modules()}
    stale = [place for place in _listed("importlinter:contract:layers", "layers") if not _covered_by_any(place, names)]
    assert not stale, f"these layer entries name no module: {stale}"


def _covered_by_any(place: str, names: set[str]) -> bool:
    return any(name == place or name.startswith(place + ".") for name in names)


def _project_imports_inside_functions(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, module) of each import of a project package inside a function other than ``ready``."""
    found = []
    for function in ast.walk(tree):
        if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef) or function.name == "ready":
            continue
        for node in ast.walk(function):
            if isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            found += [(node.lineno, name) for name in names if name.split(".")[0] in (*PRODUCT_APPS, "sandbox")]
    return found


@pytest.mark.parametrize("module", [name for name, _ in _product_modules()])
def test_no_module_imports_the_project_inside_a_function(module: str) -> None:
    path = dict(_product_modules())[module]
    assert _project_imports_inside_functions(ast.parse(path.read_text())) == []


def test_the_checks_can_fail() -> None:
    hidden = ast.parse("def handle():\n    from warmup.services import warmup_plan_start\n")
    assert _project_imports_inside_functions(hidden) == [(2, "warmup.services")]
    ready = ast.parse("class C:\n    def ready(self):\n        from engagement import executors\n")
    assert _project_imports_inside_functions(ready) == []
    assert not _covered("engagement_new.views", ["engagement"])
    assert _covered("accounts.views", ["accounts.views"])
