"""What a person types, checked before any operation uses it: an address, a name, the reason for a
send without approval, and who they are when they give no name.
"""

from __future__ import annotations

import os
from typing import Mapping

from newsletter.errors import N_, NewsletterError, UsageError

#: The longest reason accepted for a send without approval.
REASON_MAX = 500


def checked_address(text: str, label: str = "address") -> str:
    """An address typed by a person, in canonical form; ``label`` names the field in the error.

    :raises UsageError: when it is not a usable address.
    """
    from newsletter.core.addresses import canonical

    try:
        return canonical(text)
    except UsageError:
        raise
    except NewsletterError as err:
        raise UsageError(N_("%(label)s %(error)s"), values={"label": label, "error": err},
                         hint=err.hint or N_("write a full address, e.g. camille@example.org")) from None


def checked_name(text: str, label: str) -> str:
    """A first or last name typed by a person: one line, 200 characters at most, cleaned as an import's.

    :raises UsageError: naming ``label``.
    """
    from newsletter.core.names import checked_name as check

    return check(text, label)


def checked_reason(text: str) -> str:
    """The reason given for a send without approval, on one line.

    :raises UsageError: when it is empty or longer than :data:`REASON_MAX` characters.
    """
    reason = " ".join(text.split())
    if not reason or len(reason) > REASON_MAX:
        raise UsageError(N_("give the reason in one sentence (%(limit)d characters at most), e.g. "
                            "--without-approval \"the editor is away; read by phone\""), values={"limit": REASON_MAX})
    return reason


def login_name(environ: Mapping[str, str] | None = None) -> str:
    """Who runs the program, as the system knows them (a container may have no name for the uid)."""
    import getpass

    env = os.environ if environ is None else environ
    for variable in ("LOGNAME", "USER", "LNAME", "USERNAME"):  # getpass's own order, read from ``environ``
        if env.get(variable):
            return env[variable]
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid {os.getuid()}"
