"""One vocabulary of option errors (``newsletter/core/options.py``): the same mistake in a table of
``newsletter.toml`` (``[web]``, ``[newsletter]``) and in an adapter's ``[delivery.NAME]`` gets the same
words: the message names the file, the table and the key, and the hint says how to fix it."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Callable

import pytest
import tomlkit

from newsletter.config import load_settings
from newsletter.delivery.base import make_adapter
from newsletter.errors import ConfigError
from tests.fakes import environment

Edit = Callable[[Any], None]


def _set(table: str, key: str, value: object) -> Edit:
    def edit(doc: Any) -> None:
        node = doc
        for part in table.split("."):
            if part not in node:
                node[part] = tomlkit.table()
            node = node[part]
        node[key] = value
    return edit


def _drop(table: str, key: str) -> Edit:
    def edit(doc: Any) -> None:
        node = doc
        for part in table.split("."):
            node = node[part]
        del node[key]
    return edit


def _adapter(name: str) -> Edit:
    return _set("delivery", "adapter", name)


#: (mistake, where, table, key, edits, what the hint must say)
CASES: list[tuple[str, str, str, str, list[Edit], str]] = [
    ("missing", "config", "newsletter", "name", [_drop("newsletter", "name")], 'add name = "…" under [newsletter]'),
    ("missing", "adapter", "delivery.mailgun", "domain", [_adapter("mailgun"), _set("delivery.mailgun", "region", "eu")],
     'add domain = "…" under [delivery.mailgun]'),
    ("wrong type", "config", "web", "port", [_set("web", "port", "8080")], "write it without quotes: port = 8080"),
    ("wrong type", "adapter", "delivery.smtp", "port", [_adapter("smtp"), _set("delivery.smtp", "port", "8080")],
     "write it without quotes: port = 8080"),
    ("out of range", "config", "web", "port", [_set("web", "port", 0)], "for example: port = 1"),
    ("out of range", "adapter", "delivery.smtp", "connections", [_adapter("smtp"), _set("delivery.smtp", "connections", 0)],
     "for example: connections = 1"),
    ("unknown key", "config", "web", "prot", [_set("web", "prot", 8080)], "rename it, or remove it from [web]"),
    ("unknown key", "adapter", "delivery.smtp", "prot", [_adapter("smtp"), _set("delivery.smtp", "prot", 8080)],
     "rename it, or remove it from [delivery.smtp]"),
]


def _refusal(project: Path, where: str, edits: list[Edit]) -> ConfigError:
    path = project / "newsletter.toml"
    original = path.read_text(encoding="utf-8")
    doc = tomlkit.parse(original)
    for edit in edits:
        edit(doc)
    path.write_text(tomlkit.dumps(doc), encoding="utf-8")
    try:
        with pytest.raises(ConfigError) as caught:
            settings = load_settings(project)
            assert where == "adapter", "the configuration was accepted"
            adapter = settings.delivery.adapter
            make_adapter(settings, environment(adapter) if adapter != "smtp" else {})
    finally:
        path.write_text(original, encoding="utf-8")
    return caught.value


def _said(err: ConfigError, table: str, key: str) -> str:
    """The message with the table, the key and the values taken out: what both kinds must share."""
    text = str(err).replace(f"[{table}]", "[T]").replace(f"'{key}'", "'K'").replace(f" {key} ", " K ")
    return re.sub(r" and at most \d+", "", re.sub(r"did you mean '[a-z_]+'\? known keys: .*", "did you mean …", text))


@pytest.mark.parametrize(("mistake", "where", "table", "key", "edits", "fix"), CASES,
                         ids=[f"{c[0]}-{c[1]}" for c in CASES])
def test_the_message_names_the_table_the_key_and_the_fix(project: Path, mistake: str, where: str, table: str, key: str,
                                                        edits: list[Edit], fix: str) -> None:
    err = _refusal(project, where, edits)
    assert str(err).startswith(f"newsletter.toml: [{table}] ")
    assert f" {key} " in str(err) or f"'{key}'" in str(err)
    assert fix in err.hint
    assert "\n" not in str(err)


@pytest.mark.parametrize("mistake", sorted({c[0] for c in CASES}))
def test_the_same_mistake_gets_the_same_words_in_a_config_table_and_an_adapter_table(project: Path,
                                                                                     mistake: str) -> None:
    said = []
    for _, where, table, key, edits, _fix in [c for c in CASES if c[0] == mistake]:
        err = _refusal(project, where, edits)
        said.append((_said(err, table, key), err.hint.replace(f"[{table}]", "[T]").replace(key, "K")
                     .split(" in ")[0]))
    assert said[0] == said[1]
