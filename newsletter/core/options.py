"""The one vocabulary of option errors: typed reading of one table of ``newsletter.toml``.

``config`` reads its tables (``[web]``, ``[schedule]``…) and every delivery adapter its
``[delivery.NAME]`` table through :class:`Options`, so the same mistake gets the same words
wherever it is made. Each error is a :class:`~newsletter.errors.ConfigError` whose message names
the file, the table, the key and what it must be (and what was written), and whose hint says how
to fix it::

    newsletter.toml: [web] port must be a whole number, got the text "8080"
      hint: write it without quotes: port = 8080
    newsletter.toml: [delivery.smtp] has an unknown key 'hots'; did you mean 'host'? known keys: host, port…
      hint: rename it, or remove it from [delivery.smtp] in newsletter.toml
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path
from typing import Any, Mapping, Sequence

from newsletter.errors import ConfigError

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def shown(value: object) -> str:
    """A TOML value as the person wrote it, to quote back in an error."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'the text "{value}"'
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a table"
    return f"a {type(value).__name__}"


def suggestion(word: str, choices: Sequence[str]) -> str:
    """``did you mean 'x'? known keys: …`` for a key that is not one of ``choices``."""
    near = difflib.get_close_matches(word, choices, n=1)
    known = f"known keys: {', '.join(choices)}" if choices else "it takes no keys"
    return f"did you mean '{near[0]}'? {known}" if near else known


def _numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


class Options:
    """Typed access to one table of a TOML file; every error names the file, the table and the key.

    :param path: the file (its name starts each message, the hint names it).
    :param table: the table's name as written between brackets (``web``, ``delivery.smtp``).
    :param data: the table as parsed (None when absent).
    :param known: the keys it may hold; any other is refused with a suggestion.
    :raises ConfigError: when ``data`` is not a table or holds an unknown key.
    """

    def __init__(self, path: Path, table: str, data: Any, known: Sequence[str]) -> None:
        self.path = path
        self.table = table
        if data is None:
            data = {}
        if not isinstance(data, Mapping):
            raise self.error(f"[{table}] must be a table, e.g. a line '[{table}]' followed by keys")
        self.data: Mapping[str, Any] = data
        for key in data:
            if key not in known:
                raise self.error(f"[{table}] has an unknown key '{key}'; {suggestion(key, tuple(known))}",
                                 hint=f"rename it, or remove it from [{table}] in {path.name}")

    def error(self, message: str, *, hint: str = "") -> ConfigError:
        """A :class:`ConfigError` for ``message`` (which starts with ``[table] key``) in this file."""
        return ConfigError(f"{self.path.name}: {message}", hint=hint or f"edit [{self.table}] in {self.path}")

    def wrong(self, key: str, expected: str, value: object, *, example: object = None, hint: str = "") -> ConfigError:
        """``[table] key must be EXPECTED, got VALUE``; ``example`` is a right value for the hint: the
        text itself when it is the right value without its quotes (``port = "8080"``)."""
        if not hint and example is not None:
            hint = f"write it without quotes: {key} = {example}" if isinstance(value, str) and str(example) == \
                value.strip() else f"for example: {key} = {example}"
        return self.error(f"[{self.table}] {key} must be {expected}, got {shown(value)}", hint=hint)

    def _get(self, key: str, default: Any, required: bool, example: str) -> Any:
        if key not in self.data:
            if required:
                raise self.error(f"[{self.table}] {key} is required",
                                 hint=f"add {key} = {example} under [{self.table}] in {self.path.name}")
            return default
        return self.data[key]

    def text(self, key: str, default: str = "", *, required: bool = False, single_line: bool = True,
             strip: bool = True) -> str:
        """Text in quotes; stripped, one line without control characters, unless told otherwise."""
        value = self._get(key, default, required, '"…"')
        if not isinstance(value, str):
            raise self.wrong(key, "text in quotes", value, example='"…"')
        if strip:
            value = value.strip()
        if required and not value:
            raise self.error(f"[{self.table}] {key} must not be empty",
                             hint=f'write a value between the quotes: {key} = "…"')
        if single_line and _CONTROL.search(value):
            raise self.error(f"[{self.table}] {key} must be one line without control characters",
                             hint=f"remove the line breaks from {key}")
        return value

    def integer(self, key: str, default: int, *, minimum: int | None = 1, maximum: int | None = None) -> int:
        """A whole number, within ``minimum`` and ``maximum`` when they are given."""
        value = self._get(key, default, False, str(default))
        if isinstance(value, bool) or not isinstance(value, int):
            text = value.strip() if isinstance(value, str) else ""
            example = text if text.isascii() and text.isdigit() else default
            raise self.wrong(key, "a whole number", value, example=example)
        low = minimum is not None and value < minimum
        if low or (maximum is not None and value > maximum):
            bounds = " and".join(part for part in (f" at least {minimum}" if minimum is not None else "",
                                                   f" at most {maximum}" if maximum is not None else "") if part)
            raise self.wrong(key, f"a whole number of{bounds}", value,
                             example=minimum if low and minimum is not None else maximum)
        return value

    def number(self, key: str, default: float, *, positive: bool = True) -> float:
        """A number (whole or decimal), above zero when ``positive``."""
        value = self._get(key, default, False, str(default))
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            example = value.strip() if isinstance(value, str) and _numeric(value) else default
            raise self.wrong(key, "a number", value, example=example)
        if positive and not value > 0:  # also refuses nan
            raise self.wrong(key, "a positive number", value, example=default)
        return float(value)

    def boolean(self, key: str, default: bool) -> bool:
        """``true`` or ``false``, without quotes."""
        value = self._get(key, default, False, "true")
        if not isinstance(value, bool):
            unquoted = isinstance(value, str) and value.strip() in ("true", "false")
            raise self.wrong(key, "true or false", value,
                             example=value.strip() if unquoted and isinstance(value, str) else "true")
        return value

    def choices(self, key: str, choices: Sequence[str], default: Sequence[str] = ()) -> tuple[str, ...]:
        """A list of some of ``choices`` (text in quotes, each once)."""
        value = self._get(key, list(default), False, "[]")
        example = "[" + ", ".join(f'"{c}"' for c in choices[-2:]) + "]"
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise self.wrong(key, "a list of texts in quotes", value, example=example)
        for item in value:
            if item not in choices:
                raise self.wrong(key, "a list of " + ", ".join(f'"{c}"' for c in choices), value, example=example)
        return tuple(dict.fromkeys(value))

    def choice(self, key: str, choices: Sequence[str], default: str) -> str:
        """One of ``choices`` (text)."""
        value = self.text(key, default, strip=False, single_line=False)
        if value not in choices:
            listed = ", ".join(f'"{c}"' for c in choices[:-1]) + f' or "{choices[-1]}"' if len(choices) > 1 \
                else f'"{choices[0]}"'
            raise self.wrong(key, listed, value, example=f'"{default or choices[0]}"')
        return value
