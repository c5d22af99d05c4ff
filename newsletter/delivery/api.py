"""What the mail-API adapters share: one HTTPS session, batching, and the reading of answers.

Each provider module (``mailgun``, ``sendgrid``, ``postmark``, ``brevo``) says how to turn a
batch into one request and how to read the answer; this base does the rest the same way for
all of them:

- one :class:`requests.Session` per connection (kept alive), a timeout on every call, TLS
  verified (``ca_file`` adds a private CA); ``base_url`` must be https except to loopback;
- addresses go with their domain in IDNA A-labels; an address whose local part is not ASCII
  goes only to a provider that documents internationalized addresses (:attr:`ApiAdapter.smtputf8`),
  and otherwise fails alone, permanently, before the call;
- the API key read from the environment variable named by the ``*_env`` option, sent only in
  the request headers, never logged, never put in an error message;
- batches cut to the provider's documented maximum (recipients or messages per call, and
  bytes per call where the provider sets a limit);
- answers mapped to per-message results by one rule: *what may have been accepted is in doubt, never
  "not sent"; what is not recognisably accepted is never recorded sent*. Each provider module says
  what its documented acceptance is (:meth:`ApiAdapter.accepted`); the table:

  ======================================================  ==========================================
  answer                                                  outcome
  ======================================================  ==========================================
  2xx with the provider's documented acceptance and id    :class:`Sent` (with its id)
  2xx with an unreadable, cut or foreign body (a proxy's  :class:`InDoubt`, and the run stops
  HTML page, a truncated answer), or without the id       (:class:`~newsletter.errors.UnrecognisedAnswer`)
  429, 500, 503 (documented as "try again")               :class:`RetryLater` (``Retry-After``, the
                                                          provider's rate-limit reset, or the backoff)
  502, 504 (a gateway lost the provider's answer)         :class:`InDoubt`
  any other 4xx, other 5xx                                refused: the run stops (:class:`RequestRefused`),
                                                          the rows go back to pending, nobody counted
  connection refused, connect timeout (nothing written)   :class:`RetryLater`
  connection reset or read timeout after the request      :class:`InDoubt`
  ======================================================  ==========================================

  Where the provider has an idempotency key (Brevo), a call in doubt is repeated with the same key
  first, and only a call still in doubt after that is recorded so;
- messages in doubt looked up where the provider keeps a record of what it took
  (:meth:`ApiAdapter.settle`; each provider module says how): found, they are sent with the
  provider's id; absent from a search that covered the whole time they could have arrived, once
  the provider's documented recording delay (``lookup_delay``) has passed since, they never arrived
  and are sent again; anything else stays ``uncertain``. A lookup is bounded: at most
  ``lookup_pages`` requests and ``lookup_seconds`` seconds, each request within ``timeout``.
"""

from __future__ import annotations

import abc
import email.utils
import json
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, ClassVar, Iterator, Mapping, Sequence
from urllib.parse import urlsplit

import requests
import urllib3

from newsletter.core.addresses import NO_SMTPUTF8, needs_smtputf8
from newsletter.config import Settings, secret_from_env
from newsletter.core.clock import utc_now
from newsletter.delivery.base import (SHARED_OPTIONS, Adapter, Doubt, Failed, Handover, InDoubt, NeverArrived, Outgoing,
                                      RequestRefused, Result, RetryLater, Sent, Settled, bool_option, choice_option,
                                      int_option, is_loopback, number_option, text_option)
from newsletter.core.version import VERSION
from newsletter.core.i18n import Message
from newsletter.errors import N_, ConfigError, NoAnswer, NotSent, UnrecognisedAnswer
from newsletter.render.mime import Layout

log = logging.getLogger(__name__)


#: Statuses that mean "not accepted, try again later" for every provider here (their documentation says so).
RETRYABLE = frozenset({429, 500, 503})
#: Statuses of a gateway in front of the provider that lost its answer: the provider may have accepted the call.
MAYBE_TAKEN = frozenset({502, 504})
#: How far a lookup's time window reaches beyond ours on each side: the provider's clock is not ours.
CLOCK_SKEW = timedelta(minutes=5)
#: Seconds to wait when a 429 names no delay.
DEFAULT_THROTTLE_WAIT = 10.0
#: A provider's Retry-After is honoured up to this many seconds per wait.
MAX_WAIT = 600.0


@dataclass
class Call:
    """One HTTP request for a batch: what to post and which messages it carries.

    A JSON body is given as ``json`` (encoded once, on first use) or already ``encoded``;
    a form as ``files`` (multipart/form-data fields).
    """

    items: Sequence[Outgoing]
    json: Any = None
    encoded: bytes | None = None
    files: Any = None
    headers: dict[str, str] = field(default_factory=dict)

    def body(self) -> bytes | None:
        """The JSON body as compact UTF-8 (smaller than the ASCII escapes requests would write)."""
        if self.json is not None:
            self.encoded = json.dumps(self.json, ensure_ascii=False, separators=(",", ":")).encode()
            self.json = None  # only the bytes are needed from now on
        return self.encoded

    def size(self) -> int:
        body = self.body()
        return len(body) if body is not None else sum(len(str(v)) for _, (_, v) in (self.files or []))


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` value (seconds or an HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():  # "²" is a digit to str.isdigit, not to float()
        return min(float(value[:12]), MAX_WAIT)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    current = utc_now().timestamp() if now is None else now
    return max(0.0, when.timestamp() - current)


class ApiAdapter(Adapter, abc.ABC):
    """A mail API over HTTPS. Subclasses set the class attributes and the three hooks."""

    wants_mime = False
    #: The documented maximum of messages (or recipients) in one call (set ``batch_size`` to it too).
    max_batch: ClassVar[int]
    #: The documented maximum size of one request body, when the provider sets one.
    max_request_bytes: ClassVar[int | None] = None
    #: Production endpoint (``base_url`` overrides it).
    default_base_url: ClassVar[str] = ""
    #: Region name → endpoint, the first being the default (``region`` picks one).
    regions: ClassVar[dict[str, str]] = {}
    #: How the provider's template language writes merge slot *n* (``{}`` stands for *n*);
    #: empty when the adapter sends finished messages.
    placeholder: ClassVar[str] = ""
    #: Text the provider's template language would read as markup, refused in an issue.
    reserved: ClassVar[tuple[str, ...]] = ()
    #: The option naming the environment variable of the key, and its default.
    key_option: ClassVar[str] = "api_key_env"
    default_key_env: ClassVar[str]
    #: Whether the provider de-duplicates a repeated call (an idempotency key).
    idempotent: ClassVar[bool] = False
    common_options: ClassVar[tuple[str, ...]] = ("base_url", "lookup", "lookup_delay", "lookup_pages",
                                                 "lookup_seconds", *SHARED_OPTIONS)
    #: Whether messages in doubt are looked up unless ``lookup = false`` (a provider whose search needs a
    #: paid add-on says False: ``lookup = true`` turns it on).
    lookup_by_default: ClassVar[bool] = True
    #: Seconds after which a message's absence from the provider's records proves it never arrived: the
    #: provider's documented delay in recording what it took (``lookup_delay`` overrides it).
    recording_delay: ClassVar[float] = 1800.0
    default_connections = 2
    #: Whether the provider documents delivery to a non-ASCII local part (SMTPUTF8).
    smtputf8: ClassVar[bool] = False

    def __init__(self, settings: Settings, environ: Mapping[str, str] | None = None) -> None:
        super().__init__(settings, environ)
        default_url = self.default_base_url
        if self.regions:
            region = choice_option(self, "region", tuple(self.regions), next(iter(self.regions)))
            default_url = self.regions[region]
        self.base_url = text_option(self, "base_url", default_url).rstrip("/")
        parts = urlsplit(self.base_url)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise ConfigError(f"newsletter.toml: [delivery.{self.name}] base_url must be an https URL "
                              f"(got {self.base_url!r})")
        if parts.scheme == "http" and not is_loopback(parts.hostname):
            raise ConfigError(f"newsletter.toml: [delivery.{self.name}] base_url {self.base_url!r} would send the "
                              "API key in clear text; use https (plain http is allowed only to a loopback address)")
        key_env = text_option(self, self.key_option, self.default_key_env)
        self.key = secret_from_env(key_env, purpose=Message(N_("%(name)s API key"), {"name": self.name}),
                                   environ=environ)
        self.verify: bool | str = str(self.ca_file) if self.ca_file else True
        self.session: requests.Session | None = None
        self.html = self.text = ""  # the masters in the provider's placeholders (see use_layout)
        self.lookup = bool_option(self, "lookup", self.lookup_by_default)
        self.lookup_delay = number_option(self, "lookup_delay", self.recording_delay)
        if self.lookup_delay < 0:
            raise ConfigError(f"newsletter.toml: [delivery.{self.name}] lookup_delay must be a number of seconds "
                              f"(0 or more), got {self.lookup_delay:g}")
        self.lookup_pages = int_option(self, "lookup_pages", 100, minimum=1)
        self.lookup_seconds = number_option(self, "lookup_seconds", 30.0, positive=True)

    # -- what each provider says -------------------------------------------------------

    @abc.abstractmethod
    def auth_headers(self) -> dict[str, str]:
        """The headers that carry the key."""

    @abc.abstractmethod
    def endpoint(self) -> str:
        """The URL batches are posted to."""

    @abc.abstractmethod
    def build(self, items: Sequence[Outgoing], layout: Layout) -> Call:
        """The request carrying ``items`` (at most :attr:`max_batch`)."""

    @abc.abstractmethod
    def accepted(self, call: Call, response: requests.Response) -> list[Result] | None:
        """Per-message results of a 2xx answer that is the provider's documented acceptance; None for any
        other 2xx (a body that cannot be read, a proxy's page, an acceptance without the provider's id),
        whose messages are then in doubt."""

    def look_up(self, rows: Sequence[Doubt], begin: datetime, end: datetime, search: "Search") -> dict[int, str]:
        """Search the provider's records of what it took between ``begin`` and ``end`` for ``rows``.

        Each request goes through ``search`` (:meth:`Search.get`), which bounds them and notes whether
        the search covered the whole window; a provider module that cannot see everything it asked for
        (a page limit, a result cap) calls :meth:`Search.cut`.

        :return: key → the provider's id, for the rows found.
        """
        search.cut(f"{self.name} offers no lookup here")
        return {}

    def error_text(self, response: requests.Response) -> str:
        """The provider's own words from an error answer."""
        try:
            body = response.json()
        except ValueError:
            return " ".join(response.text.split())[:300] or response.reason or ""
        return _first_message(body) or json.dumps(body)[:300]

    def throttle_wait(self, response: requests.Response) -> float | None:
        """How long the provider asks us to wait (``Retry-After`` unless it says otherwise)."""
        return parse_retry_after(response.headers.get("Retry-After"))

    # -- the shared machinery ------------------------------------------------------------

    def use_layout(self, layout: Layout) -> None:
        """Check the issue against the provider's template language; put its placeholders in the masters."""
        for text in self.reserved:
            if text in layout.html or text in layout.text:
                raise ConfigError(f"the issue contains {text!r}, which {self.name}'s template language would read "
                                  "as a placeholder; reword it or use another adapter")
        super().use_layout(layout)
        if self.placeholder:
            self.html = layout.with_placeholders(layout.html, self.placeholder.format)
            self.text = layout.with_placeholders(layout.text, self.placeholder.format)

    def open(self) -> None:
        self.session = self._new_session()

    def _new_session(self) -> requests.Session:
        session = requests.Session()
        session.headers.update({"User-Agent": f"newsletter/{VERSION}", **self.auth_headers()})
        session.verify = self.verify
        return session

    @property
    def looks_up(self) -> bool:
        return self.lookup

    def settle(self, rows: Sequence[Doubt], now: datetime) -> dict[int, Settled]:
        """Look ``rows`` up in the provider's records (:meth:`look_up`): found ones are sent; those absent
        from a complete search at least ``lookup_delay`` seconds after they could last have arrived
        never arrived; the others are left out (uncertain)."""
        if not self.lookup or not rows:
            return {}
        session = self.session or self._new_session()
        search = Search(self, session, pages=self.lookup_pages, seconds=self.lookup_seconds)
        try:
            found = self.look_up(rows, min(row.since for row in rows) - CLOCK_SKEW, now + CLOCK_SKEW, search)
        finally:
            if session is not self.session:
                session.close()
        settled: dict[int, Settled] = {key: Sent(key, provider_id=found[key]) for key in found}
        if search.complete:
            for row in rows:
                if row.key not in found and (now - row.latest).total_seconds() >= self.lookup_delay:
                    settled[row.key] = NeverArrived(
                        row.key, f"not sent: absent from {self.name}'s records {self.lookup_delay:g} s after it could "
                                 "last have arrived ([delivery] lookup_delay), so it never arrived; sent again")
        elif search.why:
            log.warning("%s: the lookup of %d messages in doubt is incomplete: %s", self.name, len(rows), search.why)
        return settled

    def close(self) -> None:
        if self.session is not None:
            self.session.close()
            self.session = None

    def chunks(self, batch: Sequence[Outgoing]) -> Iterator[Sequence[Outgoing]]:
        for start in range(0, len(batch), self.max_batch):
            yield batch[start:start + self.max_batch]

    def send(self, batch: Sequence[Outgoing], handover: Handover) -> Iterator[list[Result]]:
        if self.layout is None:
            raise TypeError("use_layout(layout) must be called before send()")
        if not self.smtputf8:
            supported: list[Outgoing] = []
            unsupported: list[Outgoing] = []
            for item in batch:
                (unsupported if needs_smtputf8(item.personal.email) else supported).append(item)
            if unsupported:
                reason = (f"{NO_SMTPUTF8}, which {self.name} does not document as supported; this recipient can be "
                          "reached only through an SMTP relay that offers SMTPUTF8, or mailgun")
                yield [Failed(item.key, reason) for item in unsupported]
                batch = supported
        for chunk in self.chunks(batch):
            for call in self._fit(self.build(chunk, self.layout)):
                handover(call.items)
                results, unrecognised = self._post(call)
                yield results
                if unrecognised is not None:
                    # Every further call would end the same way: stop, with this call's messages in doubt.
                    raise unrecognised

    def _fit(self, call: Call) -> Iterator[Call]:
        """Split a call whose body is over the provider's size limit."""
        limit = self.max_request_bytes
        if limit is None or len(call.items) == 1 or call.size() <= limit:
            yield call
            return
        half = len(call.items) // 2
        assert self.layout is not None
        for part in (call.items[:half], call.items[half:]):
            yield from self._fit(self.build(part, self.layout))

    def post(self, call: Call) -> requests.Response:
        """Post one call and return the provider's answer, whatever its status.

        :raises RequestRefused: when the provider's certificate cannot be verified (nothing was sent).
        :raises NotSent: when the connection failed before the request was written.
        :raises NoAnswer: when the request was written and no answer came: it is in doubt.
        """
        assert self.session is not None, "open() was not called"
        body = call.body()
        headers = {**call.headers, **({"Content-Type": "application/json"} if body is not None else {})}
        try:
            return self.session.post(self.endpoint(), data=body, files=call.files, headers=headers,
                                     timeout=self.timeout)
        except requests.exceptions.SSLError as err:
            raise RequestRefused(f"the TLS certificate of {self.base_url} cannot be verified: {_reason(err)}",
                                 [item.key for item in call.items], provider=self.name,
                                 hint=f"fix the server, or set [delivery.{self.name}] ca_file") from None
        except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as err:
            if _before_the_request(err):
                raise NotSent(f"cannot reach {self.name}: {_reason(err)}", provider=self.name) from err
            raise NoAnswer(f"{self.name} did not answer ({_reason(err)})", provider=self.name) from err

    def _post(self, call: Call) -> tuple[list[Result], UnrecognisedAnswer | None]:
        """The call's results, and the error that must stop the run after them (an answer not recognised)."""
        attempts = 3 if self.idempotent else 1
        doubt, unrecognised = "", None
        for attempt in range(1, attempts + 1):
            try:
                return self._answer(call, self.post(call)), None
            except NotSent as err:
                return [RetryLater(item.key, str(err)) for item in call.items], None
            except NoAnswer as err:
                doubt, unrecognised = str(err), None
            except _MaybeTaken as err:
                doubt, unrecognised = str(err), None
            except UnrecognisedAnswer as err:
                doubt, unrecognised = str(err), err
            if attempt < attempts:
                log.warning("%s; repeating the call with the same idempotency key", doubt)
        return [InDoubt(item.key, f"{doubt}; the messages may have been accepted, so they are not resent")
                for item in call.items], unrecognised

    def _answer(self, call: Call, response: requests.Response) -> list[Result]:
        """The per-message results of an answer.

        :raises UnrecognisedAnswer: for a 2xx that is not the provider's acceptance.
        :raises RequestRefused: for a refusal of the whole request.
        """
        status = response.status_code
        if 200 <= status < 300:
            results = self.accepted(call, response)
            if results is None:
                raise UnrecognisedAnswer(
                    f"{self.name} answered {status} without its acceptance ({_glimpse(response)}); the "
                    f"{len(call.items)} messages of the call may have been accepted: they are in doubt, not resent",
                    [item.key for item in call.items], provider=self.name, status=status, answer=response.text,
                    hint=f"check [delivery.{self.name}] base_url and any proxy in front of the API; the next run "
                         "looks the messages in doubt up at the provider")
            return results
        answer = self.error_text(response)
        text = f"{self.name} answered {status}: {answer}"
        if status in MAYBE_TAKEN:
            log.warning("%s; %d messages are in doubt", text, len(call.items))
            raise _MaybeTaken(f"{text} (a gateway's answer: the provider may have accepted the call)")
        if status in RETRYABLE:
            wait = self.throttle_wait(response)
            if status == 429 and wait is None:
                wait = DEFAULT_THROTTLE_WAIT
            log.warning("%s; retrying %d messages later", text, len(call.items))
            after = None if wait is None else min(wait, MAX_WAIT)
            return [RetryLater(item.key, text, after) for item in call.items]
        hint = {401: f"check the key in the environment variable [delivery.{self.name}] {self.key_option} names",
                403: "check the key's permissions and that the sender's domain is verified with the provider",
                404: f"check [delivery.{self.name}] (domain, region or base_url)",
                413: "the issue is too large for this provider"}.get(status, "nothing of this call was sent")
        log.error("%s", text)
        raise RequestRefused(text, [item.key for item in call.items], provider=self.name, status=status,
                             answer=answer, hint=hint)


class _MaybeTaken(Exception):
    """A gateway's 502 or 504: the call may have reached the provider."""


class Search:
    """One bounded lookup: at most ``pages`` requests within ``seconds``, each within the adapter's timeout.

    ``complete`` stays True while every request was answered with a readable page and nothing was left
    unread; only a complete search proves an absence.
    """

    def __init__(self, adapter: ApiAdapter, session: requests.Session, *, pages: int, seconds: float) -> None:
        self.adapter, self.session = adapter, session
        self.left = pages
        self.deadline = time.monotonic() + seconds
        self.complete = True
        self.why = ""

    def cut(self, why: str) -> None:
        """The search cannot cover all it was asked (a limit, an answer it cannot read)."""
        if self.complete:
            self.complete, self.why = False, why

    def get(self, url: str, params: Mapping[str, str] | None = None) -> Any:
        """The JSON of one GET on the provider's API, or None (and the search cut) on any failure.

        :param url: must be on the adapter's ``base_url``: the key goes with it.
        """
        remaining = self.deadline - time.monotonic()
        if self.left <= 0 or remaining <= 0:
            self.cut(f"the lookup reached its bound ([delivery.{self.adapter.name}] lookup_pages, lookup_seconds)")
            return None
        if not (url == self.adapter.base_url or url.startswith(self.adapter.base_url + "/")):
            self.cut(f"{self.adapter.name} pointed the lookup to another server ({urlsplit(url).hostname})")
            return None
        self.left -= 1
        try:
            response = self.session.get(url, params=params, timeout=min(self.adapter.timeout, remaining))
        except requests.exceptions.RequestException as err:
            self.cut(f"{self.adapter.name} did not answer the lookup ({_reason(err)})")
            return None
        if response.status_code != 200:
            self.cut(f"{self.adapter.name} answered the lookup with {response.status_code}: "
                     f"{self.adapter.error_text(response)[:200]}")
            return None
        try:
            return response.json()
        except ValueError:
            self.cut(f"{self.adapter.name} answered the lookup with what is not JSON ({_glimpse(response)})")
            return None


def _glimpse(response: requests.Response) -> str:
    """The start of an answer's body, to show in a message."""
    text = " ".join(response.text.split())
    return repr(text[:80] + ("…" if len(text) > 80 else "")) if text else "an empty body"


def _first_message(body: Any) -> str:
    """The first human message in a provider's error body, whatever its shape."""
    if isinstance(body, dict):
        for key in ("message", "Message", "error", "errors"):
            if key in body:
                found = _first_message(body[key])
                if found:
                    return found
        return ""
    if isinstance(body, list):
        return "; ".join(filter(None, (_first_message(b) for b in body[:3])))
    return str(body) if body not in (None, "") else ""


def _reason(err: BaseException) -> str:
    text = str(err)
    return text if len(text) < 200 else text[:200] + "…"


def _before_the_request(err: requests.exceptions.RequestException) -> bool:
    """Whether the connection failed before the request was written, told by the exception's type:
    a connect timeout, or urllib3's failure to open the connection (refused, unresolvable, unreachable)."""
    if isinstance(err, requests.exceptions.ConnectTimeout):
        return True
    cause = err.args[0] if err.args else None
    return isinstance(getattr(cause, "reason", cause), urllib3.exceptions.NewConnectionError)
