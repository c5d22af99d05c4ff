"""The words of ``--help`` for ``make messages``: click's own (usage errors, headings) and our commands' texts.

click writes its words through the standard library's :mod:`gettext`, which the command line points at our
catalogs (:func:`newsletter.core.i18n.lend_to_gettext`). The words below are those of click 8 that our
commands can print, marked here so that ``make messages`` keeps them in ``messages.po``, translated like ours;
click fills their ``{name}`` placeholders itself.

Our commands' texts are their docstrings and ``help=`` texts in ``frontends/cli.py``, written as plain strings:
:func:`extract_help` (babel.cfg's extractor for that file) finds them. Only babel imports this module
(``make messages`` and the catalog tests, through babel.cfg).
"""

from __future__ import annotations

import ast
import inspect
from typing import IO, Any, Iterator

from newsletter.core.i18n import N_, Count


#: click's messages, as its source writes them (a changed msgid in a later click falls back to English).
WORDS = (
    N_("Usage:"),
    # Translators: click writes a colon right after a heading of --help ("Options:"): end it with a no-break space.
    N_("Options"),
    # Translators: click writes a colon right after a heading of --help ("Commands:"): end it with a no-break space.
    N_("Commands"),
    N_("Show this message and exit."),
    N_("Show the version and exit."),
    N_("default: {default}"),
    N_("Error: {message}"),
    N_("Try '{command} {option}' for help."),
    N_("Invalid value: {message}"),
    N_("Invalid value for {param_hint}: {message}"),
    N_("Missing argument"),
    N_("Missing option"),
    N_("Missing parameter"),
    N_("Missing command."),
    N_("No such option {name!r}."),
    N_("No such command {name!r}."),
    N_("Option {name!r} does not take a value."),
    N_("{value!r} is not a valid {number_type}."),
    N_("{value} is not in the range {range}."),
    N_("file"),
    N_("directory"),
    N_("path"),
    N_("{name} {filename!r} does not exist."),
    N_("{name} {filename!r} is a file."),
    N_("{name} {filename!r} is a directory."),
    N_("{name} {filename!r} is not readable."),
    N_("{name} {filename!r} is not writable."),
    N_("Error: The two entered values do not match."),
    N_("Error: invalid input"),
)
#: click's messages with a plural form (its ``ngettext``).
PLURALS = (
    Count("Did you mean {possibility}?", "(Did you mean one of: {possibilities}?)", 2),
    Count("Got unexpected extra argument ({args})", "Got unexpected extra arguments ({args})", 2),
    Count("Option {name!r} requires an argument.", "Option {name!r} requires {nargs} arguments.", 2),
    Count("{value!r} is not {choice}.", "{value!r} is not one of {choices}.", 2),
    Count("{value!r} does not match the format {format}.", "{value!r} does not match the formats {formats}.", 2),
)


#: Said to translators beside each command's text.
HELP_COMMENT = "Translators: keep the Example lines, commands and options as they are."


def extract_help(fileobj: IO[bytes], keywords: Any, comment_tags: Any, options: Any) -> Iterator[tuple[Any, ...]]:
    """A babel extractor for ``frontends/cli.py``: what babel's Python extractor finds there (``_()``,
    ``ngettext``, ``N_``), then the docstring of every function decorated with ``….command(…)`` or
    ``….group(…)`` and every ``help=``/``short_help=`` string of a call, cleaned as click cleans them (their
    msgids, see ``cli.SpokenCommand``)."""
    from babel.messages.extract import extract_python

    source = fileobj.read()
    fileobj.seek(0)
    yield from extract_python(fileobj, keywords, comment_tags, options)
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef) and any(
                isinstance(d, ast.Call) and isinstance(d.func, ast.Attribute) and d.func.attr in ("command", "group")
                for d in node.decorator_list):
            text = ast.get_docstring(node, clean=True)
            if text:
                yield node.body[0].lineno, "", text, [HELP_COMMENT] if "Example:" in text else []
        elif isinstance(node, ast.Call):
            for keyword in node.keywords:
                if keyword.arg in ("help", "short_help") and isinstance(keyword.value, ast.Constant) \
                        and isinstance(keyword.value.value, str) and keyword.value.value:
                    yield keyword.value.lineno, "", inspect.cleandoc(keyword.value.value), []
