"""click's own words (usage errors, ``--help``'s headings), for ``make messages``: nothing imports this module.

click writes them through the standard library's :mod:`gettext`, which the command line points at our
catalogs (:func:`newsletter.core.i18n.lend_to_gettext`). The words below are those of click 8 that our
commands can print, marked here so that ``make messages`` keeps them in ``messages.po``, translated like ours;
click fills their ``{name}`` placeholders itself.
"""

from __future__ import annotations

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
