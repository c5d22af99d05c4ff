"""The rules for a subscriber's name fields, shared by the CSV import, `subscribers add`, the web form and the store.

A name goes into a ``To:`` header and into the greeting: no control characters (a CR or LF
would fold or break the header), no spreadsheet formula trigger at the start, and at most
:data:`MAX_NAME` characters (the column's size).
"""

from __future__ import annotations

import re

from newsletter.core.i18n import Quoted
from newsletter.errors import N_, UsageError

MAX_NAME = 200
SPACES = " \t\u00a0\u202f\ufeff"
#: C0 and C1 controls, DEL, and the Unicode line and paragraph separators.
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
FORMULA_START = "=+-@\t\r"


def clean_name(value: str) -> str:
    """The import's cleaning: controls removed, formula triggers dropped, cut to :data:`MAX_NAME`."""
    value = CONTROL.sub("", value.strip(SPACES))
    # A spreadsheet would run "=HYPERLINK(…)" as a formula: keep the text, never the trigger.
    value = value.lstrip(FORMULA_START + SPACES)
    return value[:MAX_NAME]


def checked_name(value: str, option: str) -> str:
    """A name typed on the command line: refused when it holds a line break or control character or
    is too long (nothing is cut silently), otherwise cleaned like an imported one.

    :raises UsageError: naming the option and the fix.
    """
    bad = CONTROL.search(value.strip(SPACES))
    if bad:
        raise UsageError(N_("%(option)s contains a control character (%(char)s at position %(position)d); a name is "
                            "one line of text"), hint=N_("retype the name without line breaks or tabs"),
                         values={"option": option, "char": Quoted(bad.group()), "position": bad.start() + 1})
    if len(value.strip(SPACES)) > MAX_NAME:
        raise UsageError(N_("%(option)s is %(length)s characters long; a name has at most %(limit)d"),
                         hint=N_("shorten it"),
                         values={"option": option, "length": f"{len(value.strip(SPACES)):,}", "limit": MAX_NAME})
    return clean_name(value)
