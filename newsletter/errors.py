"""The project's exception hierarchy: every exception a caller may catch is defined here.

Every error a user can cause descends from :class:`NewsletterError` and carries a
message written for the person who must act on it: it names the file and line,
the configuration key or the address at fault, and says how to fix it.
``tests/test_errors.py`` fails when a public exception is defined elsewhere or outside the root.

The tree (a second base in parentheses)::

    NewsletterError
    ├── ConfigError                     exit 2: newsletter.toml or the environment
    │   ├── BrokenTemplateError         the project's own templates fail the check
    │   ├── LinkedBrandError            newsletter.toml or brand/ is a symbolic link
    │   └── LogoRefusedError            an uploaded logo that is not a small image
    ├── UsageError                      exit 2: a value given on the command line or a form
    │   ├── NotAnImageError             an upload that is not a PNG, JPEG or GIF
    │   ├── NotAnItemError              a name that cannot be an item's file name
    │   ├── UnreadableFileError         (ImportFileError) a missing or unreadable file
    │   ├── FieldRefused                a typed value that cannot be saved; ``field`` names its field
    │   ├── PreferenceError             a reader's choice that is not offered (frequency, pause)
    │   └── CorrectionRefused           a correction of an issue never sent, without a note, or of nothing
    ├── ContentError                    an issue or item cannot be used; ``problems``
    │   ├── IssueNotFoundError          (LookupError) no folder for that date
    │   ├── StaleEditError              a desk save based on an older version of the file
    │   ├── LinkedFolderError           an issue folder that is or holds a symbolic link
    │   └── ApprovalRequiredError       a send of an issue not approved as it is now
    ├── RenderError                     a template or the MJML/CSS pipeline failed
    ├── StoreError                      the database cannot be opened, migrated or written
    │   └── StoreUnavailable            the database server cannot be reached right now
    ├── LocalResourceError              our own disk is full, read-only or failing
    ├── DeliveryError                   a message could not be handed to the transport
    │   ├── TransientDeliveryError      worth retrying later
    │   │   ├── NotSent                 the connection failed before the request was written
    │   │   └── NoAnswer                written, but no answer came: in doubt
    │   └── PermanentDeliveryError      retrying will not fix it
    │       ├── RequestRefused          exit 2: the provider refused a whole request
    │       └── UnrecognisedAnswer      a success status without an acceptance: in doubt
    ├── Stopped                         a stop request found a message not yet begun
    ├── SendBusyError                   another run holds the send now
    ├── ReaderNotFoundError             (LookupError) no subscriber with that address (erased?)
    ├── ImportFileError                 a subscriber file cannot be used
    ├── ScaffoldError                   exit 2: ``init``/``new`` would overwrite files
    ├── BrandConflictError              newsletter.toml changed since the form was shown
    ├── UnsafeFileError                 a file that must not be published
    ├── HeaderInjectionError            (ValueError) a header value with a line break
    ├── AddressError                    (ValueError) an address that cannot be used
    ├── WebhookRefused                  a webhook request not (provably) from the provider
    ├── MailboxError                    the bounce mailbox cannot be read
    ├── DnsUnanswered                   doctor: the DNS gave no usable answer (reported "not checked")
    ├── NoClicksError                   (LookupError) report: an issue with no counted links
    ├── FetchError                      a page or feed could not be fetched or used (draft --from/--feed)
    │   └── FetchRefused                (UsageError) an address that is not fetched: scheme, private network
    └── SpellingUnavailable             check: no spelling library or dictionary (a warning, never a failure)
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence


def N_(template: str) -> str:  # noqa: N802 (the conventional gettext marker)
    """Mark ``template`` for ``make messages`` without translating it: the reader's language is chosen
    later, by whoever shows it (the desk in the newsletter's language, the command line in English)."""
    return template


class NewsletterError(Exception):
    """Root of every error this package raises on purpose."""

    hint: str = ""
    #: The command's exit code when this error ends it: 1 content or delivery, 2 usage or configuration.
    exit_code: int = 1

    def __init__(self, message: str, *, hint: str = "", values: Mapping[str, Any] | None = None) -> None:
        """``message`` is English; with ``values`` it is a template (``%(name)s``) they fill, so that a
        front end can say it in another language (:meth:`text`; mark the template with ``i18n.N_``).
        ``hint`` is translated the same way (:meth:`hint_text`) and filled from ``values`` when it holds a
        ``%(name)s`` placeholder."""
        self.template, self.values = message, dict(values or {})
        message = message % self.values if self.values else message
        super().__init__(message)
        self.message = message
        if hint:
            self.hint_template = hint
            self.hint = self._filled(hint, None)

    def _filled(self, said: str, gettext: Callable[[str], str] | None) -> str:
        if not self.values or "%(" not in said:
            return said
        return said % {k: v.text(gettext) if gettext is not None and hasattr(v, "text") else v
                       for k, v in self.values.items()}

    def hint_text(self, gettext: Callable[[str], str]) -> str:
        """The hint in the language of ``gettext`` (English when its catalog does not know it)."""
        template = getattr(self, "hint_template", self.hint)
        return self._filled(gettext(template), gettext) if template else ""

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


class FieldRefused(UsageError):
    """A value typed for one field that cannot be saved (control characters, too long).

    ``field`` is the field's key; the message names it as ``%(key)s`` (the key itself, or ``key`` given in
    ``values``), and a page that shows the field by its label says it so instead (:meth:`text` with ``labels``).
    """

    def __init__(self, message: str, field: str, *, hint: str = "", values: Mapping[str, Any] | None = None) -> None:
        super().__init__(message, hint=hint, values={"key": field, **(values or {})})
        self.field = field

    def text(self, gettext: Callable[[str], str], labels: Mapping[str, str] | None = None) -> str:
        """The message in the language of ``gettext``; with ``labels`` (field key → label), naming the field
        by its label (« Objet ») rather than by its key (``subject``)."""
        label = (labels or {}).get(self.field)
        if not label:
            return super().text(gettext)
        return gettext(self.template) % {**{k: v.text(gettext) if hasattr(v, "text") else v
                                            for k, v in self.values.items()}, "key": label}


class PreferenceError(UsageError):
    """A reader's choice that is not offered: an unknown frequency, a pause other than 1, 2 or 4 weeks."""


class ReaderNotFoundError(NewsletterError, LookupError):
    """No subscriber has this address (never subscribed, or erased already: an erasure is not replayed)."""


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


# -- configuration and usage ------------------------------------------------------------------


class BrokenTemplateError(ConfigError):
    """The check failed on the project's own templates: the configuration's fault (exit 2), not the issue's.
    ``problems`` are the check's :class:`~newsletter.content.problems.Problem` rows."""

    def __init__(self, message: str, problems: list[Any], *, hint: str = "") -> None:
        super().__init__(message, hint=hint)
        self.problems = list(problems)


class LinkedBrandError(ConfigError):
    """``newsletter.toml`` or the ``brand/`` folder is a symbolic link or holds one."""


class LogoRefusedError(ConfigError):
    """An uploaded logo that is not a small PNG, JPEG or GIF image (or comes without alt text)."""


class BrandConflictError(NewsletterError):
    """``newsletter.toml`` changed since the form was shown: saving would overwrite someone's change."""


class NotAnImageError(UsageError):
    """An upload whose bytes are not a PNG, JPEG or GIF image."""


class NotAnItemError(UsageError):
    """A name that cannot be an item's file name (``NN-words.md``, no control character, 200 bytes at most)."""


# -- content ----------------------------------------------------------------------------------


class StaleEditError(ContentError):
    """A save based on a version of the file that is no longer the current one."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(message, hint="reload the page to see the current text, then make your change again",
                         values={"file": path})
        self.path = path


class LinkedFolderError(ContentError):
    """An issue folder that is a symbolic link or holds one: the desk neither shows nor changes it."""

    def __init__(self, folder: Path, found: list[Path]) -> None:
        named = [folder.name if p == folder else p.relative_to(folder).as_posix() for p in found]
        shown = ", ".join(named[:5]) + (" …" if len(named) > 5 else "")
        super().__init__(N_("the issue folder %(folder)s is or holds a symbolic link (%(links)s); the desk neither "
                            "shows nor changes it: replace each link by a copy of the file itself"),
                         values={"folder": folder.name, "links": shown}, hint="`newsletter check` lists them")
        self.links = named


class ApprovalRequiredError(ContentError):
    """A send was asked for an issue whose required approval is missing, stale or unreadable."""


class UnsafeFileError(NewsletterError):
    """A file that must not be published: a link, a special file, not an image, outside its folder."""


# -- addresses and messages -------------------------------------------------------------------


class AddressError(NewsletterError, ValueError):
    """An address that cannot be used; the message names it and says why."""


class HeaderInjectionError(NewsletterError, ValueError):
    """A header value holds a line break or NUL: refused rather than sent."""


class Stopped(NewsletterError):
    """Raised by an adapter where a stop request finds a message not yet begun for good (SMTP:
    before DATA): nothing of it was sent, and it waits for the next run."""

    def __init__(self, message: str = "stopped before the message began; it waits for the next run") -> None:
        super().__init__(message)


# -- returned mail ----------------------------------------------------------------------------


class WebhookRefused(NewsletterError):
    """A webhook request that is not (provably) from the provider, or not readable: nothing is recorded.

    ``status`` is the HTTP answer; ``reason`` says why in a few words (no secret, no payload).
    """

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class MailboxError(NewsletterError):
    """The mailbox cannot be read or a message cannot be moved aside; what was committed stays committed."""


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


class DnsUnanswered(NewsletterError):
    """The DNS gave no usable answer to one of ``newsletter doctor``'s lookups (timeout, SERVFAIL): the
    check it served cannot say yes or no, and reports "not checked"."""


class NoClicksError(NewsletterError, LookupError):
    """An issue has no counted links to report on: never sent, or sent with ``[analytics] clicks = false``."""


class FetchError(NewsletterError):
    """A page or a feed could not be fetched or read (no answer, too large, not HTML, a loop of redirects);
    the message names the address and nothing was written."""


class FetchRefused(FetchError, UsageError):
    """An address that is not fetched at all: not http(s), malformed, or on a loopback or private network
    (``[sourcing] allow_private_networks`` is false)."""

    exit_code = 2


class CorrectionRefused(UsageError):
    """A correction that cannot be published: the issue was never sent, the note is empty or too long,
    or nothing changed since the version the archive shows."""


class SpellingUnavailable(NewsletterError):
    """The spelling library or the language's dictionary is not installed; the message says which and how
    to install it (``check`` turns it into one warning)."""
