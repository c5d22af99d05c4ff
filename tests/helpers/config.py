"""Setting options in a project's ``newsletter.toml``: the one way the tests change a configuration.

Edits go through tomlkit (the comments and layout stay), by table and key, so a test never
depends on the sample's exact text: replacing a line that has changed would silently do nothing
and the test would check the defaults. A file that does not parse raises, and so does removing a
key that is not there. :data:`GOOD` is the repository's sample configuration, as text.

Example::

    set_options(project, "delivery", adapter="smtp", rate_per_second=5000)
    set_options(project, "delivery.smtp", host="127.0.0.1", port=2525, security="none")
    remove_option(project, "delivery.smtp", "username")
    merge_options(project, "[webhooks]\\nmailgun_signing_key_env = 'MAILGUN_KEY'\\n")
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import tomlkit
from tomlkit.exceptions import TOMLKitError
from tomlkit.items import Table
from tomlkit.toml_document import TOMLDocument

from tests.conftest import REPO

CONFIG = "newsletter.toml"


def config_file(where: Path) -> Path:
    """``where`` itself when it is a file, else the ``newsletter.toml`` of the project folder ``where``."""
    return where / CONFIG if where.is_dir() else where


def read_config(where: Path) -> TOMLDocument:
    """The parsed file. :raises ValueError: naming the file when it is not valid TOML."""
    path = config_file(where)
    try:
        return tomlkit.parse(path.read_text(encoding="utf-8"))
    except TOMLKitError as err:
        raise ValueError(f"{path} is not valid TOML, so no option can be set in it: {err}") from err


def _table(document: TOMLDocument, name: str, *, create: bool) -> Any:
    """The table ``name`` (dotted: ``delivery.smtp``); created, with its parents, when ``create``."""
    table: Any = document
    for part in name.split("."):
        if part not in table:
            if not create:
                raise KeyError(f"there is no [{name}] table")
            table[part] = tomlkit.table()
        table = table[part]
        if not isinstance(table, (Table, dict)):
            raise ValueError(f"[{name}]: {part!r} is a value, not a table")
    return table


def set_options(where: Path, table: str, **values: Any) -> None:
    """Set each key of ``values`` in ``[table]`` (created when missing), keeping the rest of the file."""
    document = read_config(where)
    target = _table(document, table, create=True)
    for key, value in values.items():
        target[key] = value
    config_file(where).write_text(tomlkit.dumps(document), encoding="utf-8")


def set_option(where: Path, table: str, key: str, value: Any) -> None:
    """Set one key (for keys that are not Python names)."""
    set_options(where, table, **{key: value})


def merge_options(where: Path, text: str) -> None:
    """Set every key of the TOML ``text`` (tables by their full names: ``[delivery.mailgun]``), creating
    the tables missing; what ``text`` does not name stays as it is.

    :raises ValueError: when ``text`` itself is not valid TOML.
    """
    try:
        fragment = tomlkit.parse(text)
    except TOMLKitError as err:
        raise ValueError(f"the options to merge are not valid TOML: {err}\n{text}") from err
    document = read_config(where)

    def merge(source: Any, name: str) -> None:
        target = _table(document, name, create=True) if name else document
        for key, value in source.items():
            if isinstance(value, Table):
                merge(value, f"{name}.{key}" if name else key)
            else:
                target[key] = value

    merge(fragment, "")
    config_file(where).write_text(tomlkit.dumps(document), encoding="utf-8")


def remove_option(where: Path, table: str, key: str, *, missing_ok: bool = False) -> None:
    """Remove ``key`` from ``[table]``.

    :raises KeyError: when it is not there, unless ``missing_ok`` (nothing to remove is usually a mistake).
    """
    document = read_config(where)
    target = _table(document, table, create=False)
    if key not in target:
        if missing_ok:
            return
        raise KeyError(f"[{table}] has no key {key!r}")
    del target[key]
    config_file(where).write_text(tomlkit.dumps(document), encoding="utf-8")


def remove_table(where: Path, table: str) -> None:
    """Remove the whole ``[table]``. :raises KeyError: when it is not there."""
    document = read_config(where)
    *parents, last = table.split(".")
    parent = _table(document, ".".join(parents), create=False) if parents else document
    if last not in parent:
        raise KeyError(f"there is no [{table}] table")
    del parent[last]
    config_file(where).write_text(tomlkit.dumps(document), encoding="utf-8")


#: The repository's ``newsletter.toml``, as text.
GOOD = (REPO / "newsletter.toml").read_text(encoding="utf-8")
