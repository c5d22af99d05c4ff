"""The project's exception hierarchy.

Every error a user can cause descends from :class:`NewsletterError` and carries a
message written for the person who must act on it: it names the file and line,
the configuration key or the address at fault, and says how to fix it.
"""

from __future__ import annotations

import re


class NewsletterError(Exception):
    """Root of every error this package raises on purpose."""

    hint: str = ""
    #: The command's exit code when this error ends it: 1 content or delivery, 2 usage or configuration.
    exit_code: int = 1

    def __init__(self, message: str, *, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        if hint:
            self.hint = hint

    def __str__(self) -> str:
        return self.message


class ConfigError(NewsletterError):
    """A setting in ``newsletter.toml`` or the environment is missing or invalid."""

    exit_code = 2


class UsageError(NewsletterError):
    """A value given on the command line is invalid: an address, a name, a file that cannot be opened."""

    exit_code = 2


class ContentError(NewsletterError):
    """An issue or item file cannot be used; ``problems`` lists every reason."""

    def __init__(self, message: str, problems: list | None = None, *, hint: str = "") -> None:
        super().__init__(message, hint=hint)
        self.problems = list(problems or [])


class IssueNotFoundError(ContentError, LookupError):
    """No folder exists for the requested issue date."""


class RenderError(NewsletterError):
    """A template or the MJML/CSS pipeline failed to produce the email."""


class StoreError(NewsletterError):
    """The database cannot be opened, migrated or written."""


class DeliveryError(NewsletterError):
    """A message could not be handed to the transport."""


class TransientDeliveryError(DeliveryError):
    """A failure worth retrying later: 4xx replies, dropped connections, timeouts, 429."""


class PermanentDeliveryError(DeliveryError):
    """A failure that retrying will not fix: 5xx replies, refused recipients."""


class ImportFileError(NewsletterError):
    """A subscriber file cannot be used (not CSV, no email column, an unclosed quote): nothing is imported."""


class UnreadableFileError(ImportFileError, UsageError):
    """The file named on the command line is missing, a folder, or not readable."""

    exit_code = 2


class ScaffoldError(NewsletterError):
    """``init`` or ``new`` would overwrite existing files (the command names the wrong folder or date)."""

    exit_code = 2


_URL = re.compile(r"\b(?:https?|mailto):[^\s'\"<>]+", re.IGNORECASE)


def describe(err: BaseException, limit: int = 200) -> str:
    """A short, safe account of an error for a log or a ledger row.

    Never the ``repr`` of the exception, which may carry a whole message (body and unsubscribe
    URL): only its class and the first line of its text, URLs masked, cut at ``limit`` characters.
    """
    if isinstance(err, NewsletterError):
        text = str(err)
    else:
        lines = str(err).strip().splitlines()
        text = f"{type(err).__name__}: {lines[0]}" if lines else type(err).__name__
    text = _URL.sub("<URL>", text)
    return text if len(text) <= limit else text[:limit - 1] + "…"
