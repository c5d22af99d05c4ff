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
- answers mapped to per-message results: 2xx accepted; 429 and 5xx not accepted, retried by
  the engine after ``Retry-After`` (or the provider's rate-limit reset); any other 4xx
  refuses the whole request, which stops the run (:class:`RequestRefused`) without counting
  anything against a recipient; a connection that failed before the request was written
  (:class:`~newsletter.errors.NotSent`) is retried; a timeout or a dropped connection after the
  request left (:class:`~newsletter.errors.NoAnswer`) is *in doubt*: repeated with the same
  idempotency key where the provider has one, else recorded as ``uncertain`` and never resent.
"""

from __future__ import annotations

import abc
import email.utils
import json
import logging
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, ClassVar, Iterator, Mapping, Sequence
from urllib.parse import urlsplit

import requests
import urllib3

from newsletter import __version__
from newsletter.addresses import NO_SMTPUTF8, needs_smtputf8
from newsletter.config import Settings, secret_from_env
from newsletter.delivery.base import (SHARED_OPTIONS, Adapter, Failed, Handover, InDoubt, Outgoing, RequestRefused,
                                      Result, RetryLater, choice_option, is_loopback, text_option)
from newsletter.errors import ConfigError, NoAnswer, NotSent
from newsletter.render.mime import Layout

log = logging.getLogger(__name__)

#: Statuses that mean "not accepted, try again later" for every provider here.
RETRYABLE = frozenset({429, 500, 502, 503, 504})
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
    current = datetime.now(timezone.utc).timestamp() if now is None else now
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
    common_options: ClassVar[tuple[str, ...]] = ("base_url", *SHARED_OPTIONS)
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
        self.key = secret_from_env(key_env, purpose=f"{self.name} API key", environ=environ)
        self.verify: bool | str = str(self.ca_file) if self.ca_file else True
        self.session: requests.Session | None = None
        self.html = self.text = ""  # the masters in the provider's placeholders (see use_layout)

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
    def accepted(self, call: Call, response: requests.Response) -> list[Result]:
        """Per-message results of a 2xx answer."""

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
        session = requests.Session()
        session.headers.update({"User-Agent": f"newsletter/{__version__}", **self.auth_headers()})
        session.verify = self.verify
        self.session = session

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
                yield self._post(call)

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

    def _post(self, call: Call) -> list[Result]:
        attempts = 3 if self.idempotent else 1
        for attempt in range(1, attempts + 1):
            try:
                response = self.post(call)
            except NotSent as err:
                return [RetryLater(item.key, str(err)) for item in call.items]
            except NoAnswer as err:
                if attempt < attempts:
                    log.warning("%s; repeating the call with the same idempotency key", err)
                    continue
                return [InDoubt(item.key, f"{err}; the messages may have been accepted, so they are not resent")
                        for item in call.items]
            return self._answer(call, response)
        raise AssertionError("unreachable")

    def _answer(self, call: Call, response: requests.Response) -> list[Result]:
        status = response.status_code
        if 200 <= status < 300:
            return self.accepted(call, response)
        answer = self.error_text(response)
        text = f"{self.name} answered {status}: {answer}"
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
