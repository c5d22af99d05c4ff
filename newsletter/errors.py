"""The project's exception hierarchy.

Every error a user can cause descends from :class:`NewsletterError` and carries a
message written for the person who must act on it: it names the file and line,
the configuration key or the address at fault, and says how to fix it.
"""

from __future__ import annotations

import re
from typing import Any, Callable, Mapping, Sequence


class NewsletterError(Exception):
    """Root of every error this package raises on purpose."""

    hint: str = ""
    #: The command's exit code when this error ends it: 1 content or delivery, 2 usage or configuration.
    exit_code: int = 1

    def __init__(self, message: str, *, hint: str = "", values: Mapping[str, Any] | None = None) -> None:
        """``message`` is English; with ``values`` it is a template (``%(name)s``) they fill, so that a
        front end can say it in another language (:meth:`text`; mark the template with ``i18n.N_``)."""
        self.template, self.values = message, dict(values or {})
        message = message % self.values if self.values else message
        super().__init__(message)
        self.message = message
        if hint:
            self.hint = hint

    def text(self, gettext: Callable[[str], str]) -> str:
        """The message in the language of ``gettext`` (English when its catalog does not know it)."""
        said = gettext(self.template)
        if not self.values:
            return said
        return said % {k: v.text(gettext) if hasattr(v, "text") else v for k, v in self.values.items()}

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

    def __init__(self, message: str, problems: list | None = None, *, hint: str = "",
                 values: Mapping[str, Any] | None = None) -> None:
        super().__init__(message, hint=hint, values=values)
        self.problems = list(problems or [])


class IssueNotFoundError(ContentError, LookupError):
    """No folder exists for the requested issue date."""


class RenderError(NewsletterError):
    """A template or the MJML/CSS pipeline failed to produce the email."""


class StoreError(NewsletterError):
    """The database cannot be opened, migrated or written."""


class LocalResourceError(NewsletterError):
    """Our own side cannot go on (a full, read-only or failing disk): the run stops, nothing is counted
    against a recipient, and running it again once the cause is fixed resumes it."""


class StoreUnavailable(StoreError):
    """The database server cannot be reached right now (a restart, a network cut): worth waiting for."""


class DeliveryError(NewsletterError):
    """A message could not be handed to the transport.

    ``provider`` names the transport, ``status`` is its answer's code (HTTP status or SMTP reply
    code, None when no answer came) and ``answer`` its own words, cut to :data:`ANSWER_LIMIT`
    characters: enough to act on, never a whole response (which may echo a message back).
    """

    def __init__(self, message: str, *, provider: str = "", status: int | None = None, answer: str = "",
                 hint: str = "", values: Mapping[str, Any] | None = None) -> None:
        super().__init__(message, hint=hint, values=values)
        self.provider = provider
        self.status = status
        answer = " ".join(answer.split())
        self.answer = answer if len(answer) <= ANSWER_LIMIT else answer[:ANSWER_LIMIT - 1] + "…"


#: The longest provider answer a :class:`DeliveryError` keeps.
ANSWER_LIMIT = 300


class TransientDeliveryError(DeliveryError):
    """A failure worth retrying later: 4xx replies, dropped connections, timeouts, 429."""


class NotSent(TransientDeliveryError):
    """The connection failed before any byte of the request was written (refused, unresolvable,
    unreachable, connect timeout): nothing can have reached the provider, so repeating it is safe."""


class NoAnswer(TransientDeliveryError):
    """The request was written but no answer came (read timeout, connection dropped): the provider
    may have accepted it, so it is in doubt and must not be repeated without an idempotency key."""


class PermanentDeliveryError(DeliveryError):
    """A failure that retrying will not fix: 5xx replies, refused recipients, refused requests."""


class RequestRefused(PermanentDeliveryError):
    """The provider refused a whole request (bad key, unverified sender, malformed call, TLS).

    Nothing in it was sent: the run stops and its messages go back to the queue, untouched.
    Someone must change a setting or the provider account first, hence the exit code of a
    configuration error. ``keys`` are the messages the request carried.
    """

    exit_code = 2

    def __init__(self, message: str, keys: Sequence[int], *, provider: str = "", status: int | None = None,
                 answer: str = "", hint: str = "") -> None:
        super().__init__(message, provider=provider, status=status, answer=answer, hint=hint)
        self.keys = list(keys)


class SendBusyError(NewsletterError):
    """Another run, worker or the scheduler holds the send now: the same command works once it ends.

    Exit code 1, not 2: the command and the configuration are right; the send's state stops it for now.
    """

class UnrecognisedAnswer(PermanentDeliveryError):
    """The provider answered a call with a success status, but not with its acceptance (a proxy's page,
    a cut answer, no message id, a wrong ``base_url``).

    Such an answer may mean "accepted": the call's messages are in doubt, never sent again unless a
    lookup proves they did not arrive, and the run stops, because every further call would end the
    same way. ``keys`` are the messages the call carried.
    """

    def __init__(self, message: str, keys: Sequence[int], *, provider: str = "", status: int | None = None,
                 answer: str = "", hint: str = "") -> None:
        super().__init__(message, provider=provider, status=status, answer=answer, hint=hint)
        self.keys = list(keys)


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
