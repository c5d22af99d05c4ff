"""The documentation site (``docs/``, ``mkdocs.yml``, README.md as its first page) against the code.

1. The strict MkDocs build passes, offline, into a temporary folder; and it is strict for real: a
   broken link, a missing anchor or a page left out of the nav fails it.
2. Every command and subcommand of ``newsletter.frontends.cli`` (walked in click's tree), and every option of
   each, is in the command reference.
3. Every table and key that ``newsletter/config.py`` accepts (read from its source: each
   ``Options(path, "TABLE", data, KEYS)``), and every key of each built-in adapter's
   ``[delivery.NAME]`` table, is in the configuration reference.
4. The architecture page's module list names every module and package under ``newsletter/``, and
   nothing that is not there. The list sits between two markers and is regenerated from the file
   tree and the modules' docstrings with ``.venv/bin/python -m tests.test_docs --write-modules``.
"""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import click
import pytest

from tests.conftest import REPO

DOCS = REPO / "docs"
PACKAGE = REPO / "newsletter"
BEGIN = "<!-- modules: begin"
END = "<!-- modules: end -->"


def page(name: str) -> str:
    return (DOCS / name).read_text(encoding="utf-8")


# -- 1. the strict build --------------------------------------------------------------------------


def build(config: Path, site: Path) -> subprocess.CompletedProcess[str]:
    """``mkdocs build --strict`` of ``config`` into ``site``, as ``make docs`` runs it."""
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    return subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file", str(config),
                           "--site-dir", str(site)], cwd=config.parent, env=env, capture_output=True,
                          text=True, timeout=300)


def test_the_site_builds_strict_and_offline(tmp_path: Path) -> None:
    done = build(REPO / "mkdocs.yml", tmp_path / "site")
    assert done.returncode == 0, done.stderr
    index = (tmp_path / "site" / "index.html").read_text(encoding="utf-8")
    assert "make demo" in index and 'href="commands.html"' in index  # README.md is the first page
    assert "fonts.googleapis.com" not in index  # theme.font: false, nothing to fetch
    assert "newsletter.library.Newsletter" in (tmp_path / "site" / "library.html").read_text(encoding="utf-8")


def _copy_of_the_site(tmp_path: Path) -> Path:
    """The site's sources in ``tmp_path``, the API page without mkdocstrings (it is not what is tested)."""
    root = tmp_path / "repo"
    shutil.copytree(DOCS, root / "docs", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("mkdocs.yml", "README.md"):
        shutil.copy(REPO / name, root / name)
    (root / "docs" / "library.md").write_text("# Library API\n", encoding="utf-8")
    return root


@pytest.mark.parametrize(("breakage", "expected"), [
    ("", ""),
    ("See [the desk](no-such-page.md).", "WARNING -  Doc file 'check.md' contains a link 'no-such-page.md'"),
    ("See [the desk](desk.md#no-such-anchor).", "WARNING -  Doc file 'check.md' contains a link "
                                                 "'desk.md#no-such-anchor', but"),
    ("unlisted.md", "WARNING -  The following pages exist in the docs directory, but are not included in the "
                    "\"nav\" configuration:\n  - unlisted.md"),
], ids=["nothing broken", "broken link", "missing anchor", "page not in the nav"])
def test_a_copy_of_the_site_builds_strict_with(tmp_path: Path, breakage: str, expected: str) -> None:
    root = _copy_of_the_site(tmp_path)
    if breakage.endswith(".md"):
        (root / "docs" / breakage).write_text("# A page nobody listed\n", encoding="utf-8")
    elif breakage:
        with (root / "docs" / "check.md").open("a", encoding="utf-8") as file:
            file.write(f"\n{breakage}\n")
    done = build(root / "mkdocs.yml", tmp_path / "site")
    if not breakage:
        assert done.returncode == 0, done.stderr
    else:
        assert done.returncode != 0 and expected in done.stderr, done.stderr


def test_the_readme_is_the_short_first_page() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    lines = readme.splitlines()
    assert len(lines) <= 250
    first_screen = "\n".join(lines[:25])
    assert "make demo" in first_screen and "make test" in first_screen and "sudo apt-get" in first_screen
    linked = set(re.findall(r"\]\(docs/([\w-]+\.md)", readme))
    pages = {path.name for path in DOCS.glob("*.md")}
    assert pages <= linked, f"README.md links to no {sorted(pages - linked)}"


# -- 2. the command reference ---------------------------------------------------------------------


def commands(command: click.Command, path: tuple[str, ...] = ("newsletter",)) -> Iterator[tuple[tuple[str, ...],
                                                                                             click.Command]]:
    yield path, command
    if isinstance(command, click.Group):
        for name, sub in command.commands.items():
            yield from commands(sub, (*path, name))


def sections(text: str, level: str) -> dict[str, str]:
    """Each heading of ``level`` (``###``) and the text under it, up to the next heading of that level or above."""
    found: dict[str, str] = {}
    parts = re.split(rf"^({level} .*)$", text, flags=re.MULTILINE)
    for heading, body in zip(parts[1::2], parts[2::2]):
        found[heading[len(level) + 1:].strip()] = re.split(r"^#{1,%d} " % len(level), body, flags=re.MULTILINE)[0]
    return found


def test_every_command_and_option_is_in_the_command_reference() -> None:
    from newsletter.frontends.cli import cli

    documented = sections(page("commands.md"), "###")
    missing = []
    for path, command in commands(cli):
        name = f"`{' '.join(path)}`"
        if name not in documented:
            missing.append(name)
            continue
        for param in command.params:
            if isinstance(param, click.Option) and param.name != "help":
                long = max(param.opts, key=len)
                if f"`{long}" not in documented[name]:
                    missing.append(f"{name} {long}")
    assert not missing, f"docs/commands.md lacks: {', '.join(missing)}"


# -- 3. the configuration reference ---------------------------------------------------------------


def loader_keys() -> dict[str, set[str]]:
    """Each table ``newsletter/config.py`` reads and its keys, from the source: every ``Options(path, TABLE, data,
    KEYS)``, with KEYS a tuple of literals, module-level names and ``*names`` (``*extra``, the keys of adapters
    from other packages, is local and left out)."""
    import newsletter.config as config

    tree = ast.parse(Path(config.__file__).read_text(encoding="utf-8"))
    tables: dict[str, set[str]] = {}
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "Options"):
            continue
        name, known = node.args[1], node.args[3]
        assert isinstance(name, ast.Constant), ast.dump(name)
        keys = tables.setdefault(name.value, set())
        for element in known.elts if isinstance(known, ast.Tuple) else [ast.Starred(known)]:
            if isinstance(element, ast.Constant):
                keys.add(element.value)
            elif isinstance(element, ast.Starred) and isinstance(element.value, ast.Name):
                keys.update(getattr(config, element.value.id, ()))
            else:
                raise AssertionError(f"config.py: a key list this test cannot read: {ast.unparse(element)}")
    assert set(tables) == set(config._TABLES), "every table config.py accepts is read through Options"
    return tables


def adapter_keys() -> dict[str, set[str]]:
    """The keys of each built-in adapter's ``[delivery.NAME]`` table and of each built-in provider's
    ``[webhooks.NAME]`` table (their ``known_options``)."""
    from newsletter import providers
    from newsletter.delivery.base import BUILT_IN, adapter_class
    from newsletter.feedback.webhooks import webhook_class

    tables = {f"delivery.{name}": set(adapter_class(name).known_options) for name in (*BUILT_IN, *providers.BUILT_IN)}
    tables.update({f"webhooks.{name}": set(webhook_class(name).known_options) for name in providers.BUILT_IN})
    return {table: keys for table, keys in tables.items() if keys}


def test_every_configuration_key_is_in_the_configuration_reference() -> None:
    text = page("configuration.md")
    headings = sections(text, "###") | sections(text, "##")
    missing = []
    for table, keys in {**loader_keys(), **adapter_keys()}.items():
        where = [body for heading, body in headings.items() if f"`[{table}]`" in heading]
        if not where:
            missing.append(f"[{table}]")
            continue
        rows = [line for body in where for line in body.splitlines() if line.startswith("|")]
        missing += [f"[{table}] {key}" for key in sorted(keys)
                    if not any(f"`{key}`" in cell for row in rows for cell in row.split("|")[1:3])]
    assert not missing, f"docs/configuration.md lacks: {', '.join(missing)}"


# -- 4. the architecture page's module list -------------------------------------------------------


def tree_modules(root: Path = PACKAGE) -> dict[str, Path]:
    """Every package (a folder holding Python files) and module under ``root``, as ``newsletter/…`` names;
    migration scripts (``versions/``) are named by their folder."""
    found: dict[str, Path] = {}
    for path in sorted(root.rglob("*.py")):
        relative = path.relative_to(root.parent)
        if "__pycache__" in relative.parts:
            continue
        if "versions" in relative.parts[:-1]:
            folder = Path(*relative.parts[:relative.parts.index("versions") + 1])
            found[f"{folder.as_posix()}/"] = root.parent / folder
            continue
        found.setdefault(f"{relative.parent.as_posix()}/", path.parent)
        if path.name != "__init__.py":
            found[relative.as_posix()] = path
    return found


def listed_modules(text: str) -> list[str]:
    assert BEGIN in text and END in text, "docs/architecture.md: the module list's markers are gone"
    section = text.split(BEGIN, 1)[1].split(END, 1)[0]
    return re.findall(r"^\| `(newsletter/[^`]*)`", section, re.MULTILINE)


def _summary(path: Path) -> str:
    """The first paragraph of a module's (or a package's ``__init__``) docstring, on one line."""
    source = path / "__init__.py" if path.is_dir() else path
    if path.is_dir() and path.name == "versions":
        return "the database migrations, one script each (Alembic)"
    doc = ast.get_docstring(ast.parse(source.read_text(encoding="utf-8"))) or "" if source.is_file() else ""
    summary = " ".join(doc.split("\n\n")[0].split()).replace("|", "\\|").replace("``", "`")
    summary = re.sub(r":\w+:`~?([^`]+)`", r"`\1`", summary)  # reST roles read as code
    return summary or ("a package: its modules follow" if path.is_dir() else "(no docstring)")


def module_table(root: Path = PACKAGE) -> str:
    rows = [f"| `{name}` | {_summary(path)} |" for name, path in tree_modules(root).items()]
    return "\n".join(["| module | what it is for (its docstring) |", "| --- | --- |", *rows])


def test_the_architecture_page_names_every_module_and_package() -> None:
    listed = listed_modules(page("architecture.md"))
    present = set(tree_modules())
    assert not present - set(listed), f"not in docs/architecture.md: {sorted(present - set(listed))}"
    assert not set(listed) - present, f"docs/architecture.md names what is gone: {sorted(set(listed) - present)}"


def test_the_module_walk_sees_packages_modules_and_migrations(tmp_path: Path) -> None:
    root = tmp_path / "newsletter"
    for name in ("__init__.py", "cli.py", "store/__init__.py", "store/ledger.py", "delivery/smtp.py",
                 "store/migrations/env.py", "store/migrations/versions/0001_first.py", "web/templates/a.html"):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text('"""Does one thing.\n\nMore."""\n', encoding="utf-8")
    assert list(tree_modules(root)) == ["newsletter/", "newsletter/cli.py", "newsletter/delivery/",
                                        "newsletter/delivery/smtp.py", "newsletter/store/",
                                        "newsletter/store/ledger.py", "newsletter/store/migrations/",
                                        "newsletter/store/migrations/env.py",
                                        "newsletter/store/migrations/versions/"]
    assert "| `newsletter/cli.py` | Does one thing. |" in module_table(root)
    assert "| `newsletter/delivery/` | a package: its modules follow |" in module_table(root)


def write_module_list() -> None:
    """Rewrite the module list of docs/architecture.md from the file tree (after moving modules)."""
    path = DOCS / "architecture.md"
    text = path.read_text(encoding="utf-8")
    head, rest = text.split(BEGIN, 1)
    marker, _ = rest.split("\n", 1)
    _, tail = rest.split(END, 1)
    path.write_text(f"{head}{BEGIN}{marker}\n{module_table()}\n{END}{tail}", encoding="utf-8")


if __name__ == "__main__" and sys.argv[1:] == ["--write-modules"]:
    write_module_list()
