"""The documentation keeps up with the code: docs/configuration.md lists exactly the environment
variables the product reads, and every relative link in the README and docs/ leads somewhere.

The variables are found by reading the source (ast), not by importing it: a call such as
``env("X")``, ``env.bool("X")``, ``env.int("X")``, ``os.environ.get("X")``, ``os.environ["X"]`` or
``os.getenv("X")``, and a call of a module's own helper that passes its argument on to one of those
(``_required("SECRET_KEY", ...)`` in the settings). A read whose name is not written in the call is
refused, so that no variable can hide from this test.
"""

from __future__ import annotations

import ast
import os
import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CONFIGURATION = ROOT / "docs" / "configuration.md"

# Not the product: the test suites, the benchmarks and the developer tools read their own knobs,
# documented beside them (bench/README.md, docs/operations.md).
NOT_PRODUCT_DIRECTORIES = {".venv", "venv", "node_modules", "tests", "bench", "devtools", "migrations"}
ENVIRON_METHODS = {"get", "setdefault", "pop"}
VARIABLE_CELL = re.compile(r"^`([A-Z][A-Z0-9_]*)`$")


@dataclass(frozen=True)
class UnnamedRead:
    path: str
    line: int


def product_modules() -> list[Path]:
    modules = []
    for directory, subdirectories, files in os.walk(ROOT):
        # Pruned in place: os.walk then never enters the virtualenv, the tests or the benchmarks.
        subdirectories[:] = [
            name for name in subdirectories if name not in NOT_PRODUCT_DIRECTORIES and not name.startswith(".")
        ]
        for name in files:
            if name.endswith(".py") and not name.startswith("test_") and name != "conftest.py":
                modules.append(Path(directory) / name)
    return sorted(modules)


def _is_os_environ(node: ast.expr) -> bool:
    """``os.environ`` (django-environ's module, also named ``environ``, is only used as ``environ.Env``)."""
    if isinstance(node, ast.Attribute):
        return node.attr == "environ" and isinstance(node.value, ast.Name) and node.value.id == "os"
    return False


def _read_argument(node: ast.AST) -> ast.expr | None:
    """The expression naming the variable when ``node`` reads the environment, else None."""
    if isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load) and _is_os_environ(node.value):
        return node.slice
    if not isinstance(node, ast.Call) or not node.args:
        return None
    func = node.func
    if isinstance(func, ast.Name) and func.id == "env":  # env("X") (django-environ)
        return node.args[0]
    if isinstance(func, ast.Attribute):
        if isinstance(func.value, ast.Name) and func.value.id == "env":  # env.bool("X"), env.db("X"), ...
            return node.args[0]
        if func.attr in ENVIRON_METHODS and _is_os_environ(func.value):  # os.environ.get("X")
            return node.args[0]
        if func.attr == "getenv" and isinstance(func.value, ast.Name) and func.value.id == "os":
            return node.args[0]
    return None


def _literal(node: ast.expr) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None


def environment_reads(source: str, path: str) -> tuple[set[str], list[UnnamedRead]]:
    """The variables one module reads, and the reads whose variable this test cannot name."""
    tree = ast.parse(source, filename=path)
    names: set[str] = set()
    unnamed: list[UnnamedRead] = []
    # A helper passes one of its parameters on as the variable's name: helper name -> parameter position.
    helpers: dict[str, int] = {}
    pending: list[tuple[ast.expr, ast.AST]] = []

    for function in ast.walk(tree):
        if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        parameters = [argument.arg for argument in function.args.posonlyargs + function.args.args]
        for node in ast.walk(function):
            argument = _read_argument(node)
            if isinstance(argument, ast.Name) and argument.id in parameters:
                helpers[function.name] = parameters.index(argument.id)
                pending.append((argument, node))

    handled = {id(node) for _, node in pending}
    for node in ast.walk(tree):
        argument = _read_argument(node)
        if argument is not None and id(node) not in handled:
            name = _literal(argument)
            if name is None:
                unnamed.append(UnnamedRead(path, getattr(node, "lineno", 0)))
            else:
                names.add(name)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in helpers:
            position = helpers[node.func.id]
            name = _literal(node.args[position]) if len(node.args) > position else None
            if name is None:
                unnamed.append(UnnamedRead(path, node.lineno))
            else:
                names.add(name)
    return names, unnamed


def product_environment() -> tuple[dict[str, set[str]], list[UnnamedRead]]:
    """Each variable the product reads, with the modules that read it."""
    readers: dict[str, set[str]] = {}
    unnamed: list[UnnamedRead] = []
    for path in product_modules():
        relative = str(path.relative_to(ROOT))
        source = path.read_text(encoding="utf-8")
        if "env" not in source:  # every read spells env(...), env.x(...), os.environ or os.getenv
            continue
        names, unresolved = environment_reads(source, relative)
        unnamed.extend(unresolved)
        for name in names:
            readers.setdefault(name, set()).add(relative)
    return readers, unnamed


def documented_variables(markdown: str) -> list[str]:
    """The variable of each table row (first cell exactly one `NAME`), in order, repeats included."""
    variables = []
    for line in markdown.splitlines():
        if not line.startswith("|"):
            continue
        first_cell = line.strip("|").split("|")[0].strip()
        match = VARIABLE_CELL.match(first_cell)
        if match:
            variables.append(match.group(1))
    return variables


def test_the_scan_finds_reads_in_settings_helpers_and_other_modules() -> None:
    source = (
        "import os\n"
        "def _required(name, default):\n"
        "    return env.str(name, default='')\n"
        "A = _required('SECRET_KEY', 'x')\n"
        "B = env('PLAIN')\n"
        "C = env.bool('FLAG', default=False)\n"
        "D = os.environ.get('FROM_OS') or os.environ['INDEXED'] or os.getenv('GETENV')\n"
        "os.environ['WRITTEN'] = '1'\n"
        "E = dict(os.environ)\n"
    )
    names, unnamed = environment_reads(source, "example.py")
    assert names == {"SECRET_KEY", "PLAIN", "FLAG", "FROM_OS", "INDEXED", "GETENV"}
    assert unnamed == []

    names, unnamed = environment_reads("import os\nkey = 'X'\nvalue = os.environ.get(key)\n", "hidden.py")
    assert names == set()
    assert unnamed == [UnnamedRead("hidden.py", 3)]


def test_every_variable_read_is_documented_and_every_documented_one_is_read() -> None:
    readers, unnamed = product_environment()
    assert unnamed == [], "reads whose variable is not written in the call (write the name, so it can be documented)"
    # The scan must see the settings and the Graph client, or it proves nothing.
    assert {"DEBUG", "SECRET_KEY", "DATABASE_URL", "REQUESTS_CA_BUNDLE"} <= set(readers)

    documented = documented_variables(CONFIGURATION.read_text(encoding="utf-8"))
    repeated = sorted({name for name in documented if documented.count(name) > 1})
    assert repeated == [], f"documented twice in docs/configuration.md: {repeated}"

    missing = {name: sorted(readers[name]) for name in sorted(set(readers) - set(documented))}
    assert missing == {}, f"read but not documented in docs/configuration.md (add a row): {missing}"
    stale = sorted(set(documented) - set(readers))
    assert stale == [], f"documented in docs/configuration.md but read nowhere (remove the row): {stale}"


# --- Links --------------------------------------------------------------------------------------

LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)|!\[[^\]]*\]\(([^)\s]+)\)")
CODE_SPAN = re.compile(r"`[^`\n]*`")
FENCE = re.compile(r"^(```|~~~).*?^\1", re.MULTILINE | re.DOTALL)


def markdown_files() -> list[Path]:
    files = [ROOT / "README.md", ROOT / "bench" / "README.md"]
    files += sorted((ROOT / "docs").rglob("*.md"))
    return [path for path in files if path.exists()]


def heading_anchors(markdown: str) -> set[str]:
    """GitHub's anchors for the headings of a page (lower case, punctuation dropped, spaces as hyphens)."""
    anchors: set[str] = set()
    seen: dict[str, int] = {}
    for line in FENCE.sub("", markdown).splitlines():
        if not line.startswith("#"):
            continue
        title = line.lstrip("#").strip().lower()
        slug = re.sub(r"[^\w\- ]", "", title).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        anchors.add(slug if count == 0 else f"{slug}-{count}")
    return anchors


def broken_links(path: Path) -> list[str]:
    text = path.read_text(encoding="utf-8")
    prose = CODE_SPAN.sub("", FENCE.sub("", text))
    broken = []
    for match in LINK.finditer(prose):
        target = match.group(1) or match.group(2)
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # https:, mailto:, ...
            continue
        file_part, _, anchor = target.partition("#")
        destination = (path.parent / file_part).resolve() if file_part else path
        if not destination.exists():
            broken.append(f"{target} (no such file)")
            continue
        if anchor and destination.suffix == ".md" and anchor not in heading_anchors(destination.read_text("utf-8")):
            broken.append(f"{target} (no such heading)")
    return broken


def test_link_check_finds_a_missing_file_and_a_missing_heading(tmp_path: Path) -> None:
    (tmp_path / "there.md").write_text("# Here it is\n\n## `code` & more\n")
    page = tmp_path / "page.md"
    page.write_text(
        "[ok](there.md) [ok](there.md#here-it-is) [ok](there.md#code--more) [web](https://example.com)\n"
        "[gone](missing.md) [wrong](there.md#nowhere) `[not a link](nowhere.md)`\n"
    )
    assert broken_links(page) == ["missing.md (no such file)", "there.md#nowhere (no such heading)"]


def test_every_relative_link_in_the_readme_and_docs_leads_somewhere() -> None:
    files = markdown_files()
    assert ROOT / "README.md" in files and CONFIGURATION in files
    broken = {str(path.relative_to(ROOT)): links for path in files if (links := broken_links(path))}
    assert broken == {}
