"""The architecture that docs/architecture.md describes, checked on the code itself.

1. Layers: every module of ``newsletter/`` belongs to one layer; a module imports only from its
   own layer or from layers below it. The front ends (command line, web service, scheduler, desk) are
   separate components at the top that reach the library (and the foundation) and nothing else;
   the command line also launches the others, through their entry modules only (``LAUNCHERS``).
2. SQL lives in ``newsletter/store/`` only (no sqlalchemy, no ``.execute()``/``.session()``, no
   SQL text, no ``store.engine`` elsewhere), and the PostgreSQL/SQLite switch in
   ``newsletter/store/dialect.py`` only.
3. No import circle: no module imports, directly or through others, a module that imports it back.

All read the source with :mod:`ast` (nothing is imported or run), and all are proved on planted
violations in a synthetic package, so that they can fail.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest

from tests.conftest import REPO
from tests.helpers.layers import LAUNCHERS

PACKAGE = "newsletter"

#: Bottom to top; a module's layer is its longest matching prefix. Keep in step with docs/architecture.md.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("foundation", ("newsletter", "newsletter.errors", "newsletter.config", "newsletter.core", "newsletter.brand",
                    "newsletter.frontends.http", "newsletter.frontends.hardening")),
    ("content", ("newsletter.content",)),
    ("render", ("newsletter.render",)),
    ("store", ("newsletter.store",)),
    ("audience", ("newsletter.audience",)),
    ("check", ("newsletter.services.check",)),
    ("transports", ("newsletter.delivery", "newsletter.providers", "newsletter.services.notify")),
    ("engine", ("newsletter.delivery.engine",)),
    ("services", ("newsletter.services", "newsletter.schedule", "newsletter.doctor", "newsletter.feedback",
                  # each provider's webhook (its send adapter is a transport)
                  *(f"newsletter.providers.{events.parent.name}.events"
                    for events in sorted((REPO / PACKAGE / "providers").glob("*/events.py"))))),
    ("library", ("newsletter.library",)),
    ("front ends", ("newsletter.frontends", "newsletter.__main__")),
]
#: The front ends call the library and nothing below it but the foundation (errors, config…).
FRONT_END_REACH = {"foundation", "library"}
#: Each front end is its own component: one never imports another.
FRONT_ENDS = {"newsletter.frontends.cli": "cli", "newsletter.__main__": "cli", "newsletter.frontends.web": "web",
              "newsletter.frontends.scheduler": "scheduler", "newsletter.frontends.desk": "desk"}
#: The package's ``__init__`` is the public face (``from newsletter import Newsletter``): it re-exports
#: from any layer, and importing ``newsletter`` itself (for ``__version__``) counts as the foundation.
FACADE = "newsletter"


# -- reading the package ------------------------------------------------------------------


@dataclass(frozen=True)
class Module:
    name: str
    path: Path
    tree: ast.Module


def modules(root: Path, package: str = PACKAGE) -> Iterator[Module]:
    """Every module under ``root`` (the package folder), parsed."""
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        name = ".".join((package, *parts))
        yield Module(name, path, ast.parse(path.read_text(encoding="utf-8"), filename=str(path)))


def _exists(root: Path, package: str, name: str) -> bool:
    relative = Path(*name.split(".")[1:]) if name != package else Path()
    return (root / relative).with_suffix(".py").is_file() or (root / relative / "__init__.py").is_file()


def imports(module: Module, root: Path, package: str = PACKAGE) -> Iterator[tuple[str, int]]:
    """The package's modules that ``module`` imports (anywhere: top level, functions, TYPE_CHECKING), with lines."""
    is_package = module.path.name == "__init__.py"
    for node in ast.walk(module.tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == package or alias.name.startswith(package + "."):
                    yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.name.split(".")
                base = base[:len(base) - node.level + (1 if is_package else 0)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target != package and not target.startswith(package + "."):
                continue
            for alias in node.names:  # `from newsletter.store import ledger` imports the module ledger
                sub = f"{target}.{alias.name}"
                yield (sub if _exists(root, package, sub) else target), node.lineno


def layer_of(name: str) -> tuple[int, str] | None:
    """(index, name) of the layer holding module ``name``; the package's own name holds only itself."""
    best: tuple[int, int, str] | None = None
    for index, (layer, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            inside = name == prefix or (prefix != PACKAGE and name.startswith(prefix + "."))
            if inside and (best is None or len(prefix) > best[0]):
                best = (len(prefix), index, layer)
    return (best[1], best[2]) if best else None


def _component(name: str) -> str:
    for prefix, component in FRONT_ENDS.items():
        if name == prefix or name.startswith(prefix + "."):
            return component
    return ""


def layer_violations(root: Path, package: str = PACKAGE) -> list[str]:
    """Imports that go up or sideways, as ``path:line: a imports b (why)``."""
    found: list[str] = []
    for module in modules(root, package):
        where = layer_of(module.name)
        if where is None:
            found.append(f"{module.path}: {module.name} belongs to no layer; add it to LAYERS (and the README)")
            continue
        if module.name == FACADE:
            continue
        level, layer = where
        for target, line in sorted(set(imports(module, root, package)), key=lambda hit: (hit[1], hit[0])):
            into = layer_of(target)
            if into is None:
                continue  # reported as a module of its own
            why = ""
            if into[0] > level:
                why = f"up from {layer} to {into[1]}"
            elif layer == "front ends" and into[1] == "front ends" and _component(module.name) != _component(target):
                if _component(module.name) == "cli" and target in LAUNCHERS:
                    continue  # the command line starts the other front ends through their entry modules
                why = f"sideways between front ends ({_component(module.name)} → {_component(target)})"
            elif layer == "front ends" and into[1] not in FRONT_END_REACH | {"front ends"}:
                why = f"a front end reaching {into[1]} past the library"
            if why:
                found.append(f"{module.path}:{line}: {module.name} imports {target} ({why})")
    return found


# -- import circles ---------------------------------------------------------------------------


def _type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or \
        (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _at_run_time(module: Module) -> Module:
    """``module`` without its ``if TYPE_CHECKING:`` blocks (their ``else:`` kept): those imports never run."""

    class Drop(ast.NodeTransformer):
        def visit_If(self, node: ast.If) -> ast.AST | list[ast.stmt]:
            if _type_checking(node.test):
                return [self.visit(n) for n in node.orelse]
            self.generic_visit(node)
            return node

    return Module(module.name, module.path, Drop().visit(ast.parse(ast.unparse(module.tree))))


def import_graph(root: Path, package: str = PACKAGE) -> dict[str, set[str]]:
    """Module → the package's modules it imports when it runs: at the top level and inside functions alike
    (a function's import runs when it is called, and then it closes a circle as surely), but not under
    ``if TYPE_CHECKING:``. Importing ``a.b`` also runs ``a/__init__``; that implied step is not an arrow
    here (the parent is always loaded first, so it closes no circle of its own)."""
    graph: dict[str, set[str]] = {}
    for module in modules(root, package):
        graph[module.name] = {target for target, _ in imports(_at_run_time(module), root, package)} - {module.name}
    return graph


def import_cycles(root: Path, package: str = PACKAGE) -> list[list[str]]:
    """The circles of imports, each as the sorted modules of one strongly connected component (Tarjan)."""
    graph = import_graph(root, package)
    order: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(name: str) -> None:  # the package has a few hundred modules: recursion is deep enough
        order[name] = low[name] = len(order)
        stack.append(name)
        for target in sorted(graph[name]):
            if target not in graph:
                continue
            if target not in order:
                visit(target)
                low[name] = min(low[name], low[target])
            elif target in stack:
                low[name] = min(low[name], order[target])
        if low[name] == order[name]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == name:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for name in sorted(graph):
        if name not in order:
            visit(name)
    return sorted(cycles)


def shortest_circle(graph: dict[str, set[str]], members: list[str]) -> list[str]:
    """One shortest path of imports from the first of ``members`` back to itself (where to cut)."""
    start, inside = members[0], set(members)
    came: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for name in frontier:
            for target in sorted(graph[name] & inside):
                if target == start:
                    path = [name]
                    while path[-1] != start:
                        path.append(came[path[-1]])
                    return [start, *reversed(path[:-1]), start] if len(path) > 1 else [start, name, start]
                if target not in came:
                    came[target] = name
                    following.append(target)
        frontier = following
    return members


# -- SQL outside the store ------------------------------------------------------------------

#: SQL text as people write it in strings: the statement's keywords in capitals.
SQL_TEXT = re.compile(r"\b(SELECT\b.+\bFROM|INSERT\s+INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM|CREATE\s+(TABLE|INDEX)|"
                      r"ALTER\s+TABLE|DROP\s+TABLE|TRUNCATE|PRAGMA\s+\w+)\b", re.DOTALL)
#: Calls that run statements or open the store's transactions.
SQL_CALLS = {"execute", "exec_driver_sql", "executemany", "session"}


def _docstrings(tree: ast.Module) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                ids.add(id(first.value))
    return ids


def sql_violations(root: Path, package: str = PACKAGE) -> list[str]:
    """SQL outside ``<package>.store`` and dialect switches outside ``<package>.store.dialect``."""
    store, dialect = f"{package}.store", f"{package}.store.dialect"
    found: list[str] = []
    for module in modules(root, package):
        in_store = module.name == store or module.name.startswith(store + ".")
        docstrings = _docstrings(module.tree)
        hits: list[tuple[int, str]] = []
        for node in ast.walk(module.tree):
            if isinstance(node, ast.Attribute) and node.attr == "name" and isinstance(node.value, ast.Attribute) \
                    and node.value.attr == "dialect" and module.name != dialect:
                hits.append((node.lineno, "switches on the database dialect (use newsletter.store.dialect)"))
            if in_store:
                continue
            if isinstance(node, ast.ImportFrom) and node.module and \
                    (node.module == "sqlalchemy" or node.module.startswith("sqlalchemy.")):
                hits.append((node.lineno, f"imports {', '.join(a.name for a in node.names)} from {node.module}"))
            elif isinstance(node, ast.Import) and any(a.name.split(".")[0] == "sqlalchemy" for a in node.names):
                hits.append((node.lineno, "imports sqlalchemy"))
            elif isinstance(node, ast.Attribute) and node.attr == "engine" and (
                    (isinstance(node.value, ast.Name) and node.value.id == "store")
                    or (isinstance(node.value, ast.Attribute) and node.value.attr == "store")):
                hits.append((node.lineno, "reaches the store's database engine"))
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in SQL_CALLS:
                hits.append((node.lineno, f"calls .{node.func.attr}()"))
            elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings \
                    and SQL_TEXT.search(node.value):
                hits.append((node.lineno, f"holds SQL text {node.value[:40]!r}"))
        found.extend(f"{module.path}:{line}: {module.name} {what}" for line, what in sorted(hits))
    return found


# -- the project's own code ---------------------------------------------------------------------


def test_no_module_imports_up_or_sideways_across_layers() -> None:
    found = layer_violations(REPO / PACKAGE)
    assert found == [], "\n".join(found)


def test_no_sql_outside_the_store() -> None:
    found = sql_violations(REPO / PACKAGE)
    assert found == [], "\n".join(found)


def test_no_import_circle() -> None:
    cycles = import_cycles(REPO / PACKAGE)
    graph = import_graph(REPO / PACKAGE)
    assert cycles == [], "\n".join(f"a circle of {len(c)} modules ({', '.join(c)}), e.g. "
                                   + " → ".join(shortest_circle(graph, c)) for c in cycles)


def test_every_launcher_is_a_module_of_the_package() -> None:
    missing = sorted(name for name in LAUNCHERS if not _exists(REPO / PACKAGE, PACKAGE, name))
    assert missing == [], f"LAUNCHERS names modules that do not exist: {missing}"


def test_every_layer_is_in_the_architecture_page() -> None:
    page = (REPO / "docs" / "architecture.md").read_text(encoding="utf-8")
    section = page.split("\n## ", 1)[0]
    listed = re.findall(r"^\d+\. \*\*([^*]+)\*\*", section, re.MULTILINE)
    assert listed == [layer for layer, _ in LAYERS]


# -- the checks catch what they are for -----------------------------------------------------------


def _package(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "newsletter"
    for name, text in {"__init__.py": "", "errors.py": "", "content/__init__.py": "",
                       "store/__init__.py": "", "store/database.py": "", "frontends/__init__.py": "",
                       "frontends/web/__init__.py": "", **files}.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


@pytest.mark.parametrize(("files", "expected"), [
    ({"content/load.py": "from newsletter.store.database import Store\n"}, "up from content to store"),
    ({"content/load.py": "def f():\n    from newsletter.store import database\n"}, "up from content to store"),
    ({"content/load.py": "from ..store import database\n"}, "up from content to store"),
    ({"content/load.py": "import newsletter.store.database\n"}, "up from content to store"),
    ({"store/database.py": "from newsletter.library import Newsletter\n", "library/__init__.py": ""},
     "up from store to library"),
    ({"frontends/cli.py": "from newsletter.frontends.web import app\n", "frontends/web/app.py": ""}, "sideways between front ends (cli → web)"),
    ({"frontends/web/app.py": "from newsletter.store.database import Store\n"}, "a front end reaching store past the library"),
    ({"mystery.py": ""}, "belongs to no layer"),
    ({"library/__init__.py": "def serve():\n    from newsletter.frontends.web.server import web_server\n", "frontends/web/server.py": ""},
     "up from library to front ends"),
    ({"frontends/cli.py": "from newsletter.frontends.web.app import create_app\n", "frontends/web/app.py": "", "frontends/web/server.py": ""},
     "sideways between front ends (cli → web)"),
    ({"frontends/web/server.py": "from newsletter.frontends.cli import main\n", "frontends/cli.py": ""}, "sideways between front ends (web → cli)"),
])
def test_the_layer_check_catches_a_planted_violation(tmp_path: Path, files: dict[str, str], expected: str) -> None:
    found = layer_violations(_package(tmp_path, files))
    assert len(found) == 1 and expected in found[0], found


@pytest.mark.parametrize("files", [
    {"content/load.py": "from newsletter.errors import NewsletterError\n"},
    {"store/database.py": "from newsletter.content import load\n", "content/load.py": ""},
    {"frontends/web/app.py": "from newsletter.library import Newsletter\nfrom newsletter import errors\n", "library/__init__.py": ""},
    {"__init__.py": "from newsletter.library import Newsletter\n", "library/__init__.py": ""},
    {"frontends/web/app.py": "from newsletter.library.web import Archive\n", "library/__init__.py": "", "library/web.py": ""},
    {"frontends/cli.py": "def serve():\n    from newsletter.frontends.web.server import web_server\n"
               "    from newsletter.frontends.web.preview import preview_server\n",
     "frontends/web/server.py": "", "frontends/web/preview.py": ""},
])
def test_the_layer_check_lets_downward_imports_through(tmp_path: Path, files: dict[str, str]) -> None:
    assert layer_violations(_package(tmp_path, files)) == []


@pytest.mark.parametrize(("files", "expected"), [
    ({"content/a.py": "from newsletter.content import b\n", "content/b.py": "from newsletter.content.a import x\n"},
     [["newsletter.content.a", "newsletter.content.b"]]),
    ({"content/a.py": "def f():\n    from newsletter.store import database\n",
      "store/database.py": "import newsletter.content.a\n"}, [["newsletter.content.a", "newsletter.store.database"]]),
    ({"content/a.py": "from . import b\n", "content/b.py": "from .c import y\n", "content/c.py": "from .a import z\n"},
     [["newsletter.content.a", "newsletter.content.b", "newsletter.content.c"]]),
    ({"errors.py": "from newsletter import __version__\n", "__init__.py": "from newsletter.errors import E\n"},
     [["newsletter", "newsletter.errors"]]),
])
def test_the_circle_check_catches_a_planted_circle(tmp_path: Path, files: dict[str, str],
                                                   expected: list[list[str]]) -> None:
    assert import_cycles(_package(tmp_path, files)) == expected


def test_the_circle_check_names_one_path_to_cut(tmp_path: Path) -> None:
    root = _package(tmp_path, {"content/a.py": "from . import b\nfrom . import c\n", "content/b.py": "from . import c\n",
                               "content/c.py": "def f():\n    from . import a\n"})
    (members,) = import_cycles(root)
    assert shortest_circle(import_graph(root), members) == [
        "newsletter.content.a", "newsletter.content.c", "newsletter.content.a"]


@pytest.mark.parametrize("files", [
    {"content/a.py": "from newsletter.content import b\n", "content/b.py": "from newsletter.errors import E\n"},
    {"content/a.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from newsletter.content.b import B\n",
     "content/b.py": "from newsletter.content.a import A\n"},
    {"content/a.py": "import typing\nif typing.TYPE_CHECKING:\n    import newsletter.content.b\n",
     "content/b.py": "import newsletter.content.a\n"},
    {"content/a.py": "import newsletter.content.a\n"},
])
def test_the_circle_check_lets_a_tree_and_type_only_imports_through(tmp_path: Path, files: dict[str, str]) -> None:
    assert import_cycles(_package(tmp_path, files)) == []


@pytest.mark.parametrize(("source", "expected"), [
    ("from sqlalchemy import select\n", "imports select from sqlalchemy"),
    ("import sqlalchemy as sa\n", "imports sqlalchemy"),
    ("def f(store):\n    with store.session() as s:\n        pass\n", "calls .session()"),
    ("def f(conn, q):\n    conn.execute(q)\n", "calls .execute()"),
    ("QUERY = 'SELECT id FROM subscribers'\n", "holds SQL text"),
    ("Q = \"\"\"UPDATE deliveries\n   SET status = 'sent'\"\"\"\n", "holds SQL text"),
    ("def f(engine):\n    return engine.dialect.name == 'sqlite'\n", "switches on the database dialect"),
    ("def f(self):\n    return Jobs(self.store.engine)\n", "reaches the store's database engine"),
])
def test_the_sql_check_catches_a_planted_statement(tmp_path: Path, source: str, expected: str) -> None:
    found = sql_violations(_package(tmp_path, {"frontends/web/app.py": source}))
    assert len(found) == 1 and expected in found[0], found


@pytest.mark.parametrize(("name", "source"), [
    ("store/day_claims.py", "from sqlalchemy import select\ndef f(s):\n    s.execute(select(1))\n"),
    ("store/dialect.py", "def f(engine):\n    return engine.dialect.name\n"),
    ("frontends/web/app.py", '"""Select the items from the list; delete from memory; update the set."""\n'),
    ("frontends/web/app.py", "MESSAGE = 'Sélectionnez vos infos, puis mettez à jour'\n"),
])
def test_the_sql_check_lets_the_store_and_plain_words_through(tmp_path: Path, name: str, source: str) -> None:
    assert sql_violations(_package(tmp_path, {name: source})) == []
