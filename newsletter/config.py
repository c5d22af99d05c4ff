"""Load ``newsletter.toml`` and the environment into a validated, frozen :class:`Settings`.

Every later step takes a ``Settings`` explicitly; nothing reads the file or the
environment behind its back. A missing or wrong key raises :class:`ConfigError`
with a one-line message naming the key and the fix. Secrets are never stored in
the file: a setting such as ``password_env`` names the environment variable that
holds the secret, and :func:`secret_from_env` reads it when it is needed.
"""

from __future__ import annotations

import difflib
import logging
import os
import re
import tomllib
from dataclasses import dataclass, field
from datetime import date, datetime
from email.utils import parseaddr
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping
from urllib.parse import quote, urlsplit, urlunsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import babel

from newsletter.core import addresses
from newsletter.core.clock import utc_now
from newsletter.core.options import Options, suggestion
from newsletter.errors import N_, AddressError, ConfigError
from newsletter.core.i18n import Message

log = logging.getLogger(__name__)

CONFIG_FILE = "newsletter.toml"
SECRET_KEY_ENV = "NEWSLETTER_SECRET_KEY"
#: Gmail clips a message whose HTML is larger than about 102 KB.
GMAIL_CLIP_BYTES = 102 * 1024


@dataclass(frozen=True)
class NewsletterSettings:
    """The ``[newsletter]`` table: identity of the publication."""

    name: str
    sender: str
    sender_name: str
    sender_address: str
    reply_to: str
    postal_address: str
    base_url: str
    locale: str
    timezone: str
    items_per_issue: int

    @property
    def language(self) -> str:
        """The language code for ``<html lang>`` (``fr`` for ``fr_FR``)."""
        return self.locale.split("_")[0]

    @property
    def sender_domain(self) -> str:
        return self.sender_address.rpartition("@")[2]


@dataclass(frozen=True)
class ContentSettings:
    """The ``[content]`` table: limits that ``check`` enforces."""

    max_words: int = 120
    max_title_chars: int = 100
    max_html_bytes: int = GMAIL_CLIP_BYTES

    @property
    def max_body_chars(self) -> int:
        """Beyond this a body is certainly over the word limit; it is not even parsed."""
        return max(2_000, self.max_words * 40)


@dataclass(frozen=True)
class CheckSettings:
    """The ``[check]`` table: what ``check`` compares an issue with."""

    repeat_days: int = 30  # an item already sent within this many days is a warning (0: never compared)
    spelling: bool = True  # unknown words of the titles and texts are warnings ([newsletter] locale's dictionary)
    dictionary: str = "dictionary.txt"  # the project's own words, one a line (relative to the project)


@dataclass(frozen=True)
class SourcingSettings:
    """The ``[sourcing]`` table: how ``draft --from`` and ``check --links`` fetch pages."""

    allow_private_networks: bool = False  # fetch loopback and private addresses too (tests, intranets)
    timeout: float = 10.0  # seconds for each fetch to connect and to send each part of its answer
    max_bytes: int = 2_000_000  # the largest answer read; beyond it the fetch is refused


@dataclass(frozen=True)
class StoreSettings:
    url: str = "sqlite:///state/newsletter.db"


@dataclass(frozen=True)
class DeliverySettings:
    """The ``[delivery]`` table; each adapter validates its own sub-table."""

    adapter: str = "outbox"
    rate_per_second: float = 20.0
    max_attempts: int = 5
    retry_backoff: float = 30.0  # seconds before the first retry; doubles each time
    lease_seconds: float = 60.0  # how long a run holds its rows without renewing its lease
    max_bounce_rate: float = 0.05  # hard bounces among the last bounce_window messages that pause a send (0: never)
    bounce_window: int = 1000  # how many of the latest messages the bounce rate is measured on
    adapters: Mapping[str, Mapping[str, Any]] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True)
class ScheduleSettings:
    """The ``[schedule]`` table: when ``schedule run`` sends each issue, and what it waits for."""

    cron: str = "0 7 * * mon-fri"
    timezone: str = ""  # empty: the newsletter's time zone
    require_approval: bool = True
    alert_to: str = ""
    grace_minutes: int = 120  # how late an issue may still go out (after downtime or a failing gate)
    retry_minutes: int = 10  # how often a failing gate is tried again
    warn_minutes: int = 60  # how long before the due time the gate is tried once, to warn early
    skip_holidays: str = ""  # "FR", "FR-57", "DE-BY"…: no due time on that country's public holidays ("": none)
    check_links: bool = True  # fetch the issue's links before a send and alert about dead ones (never blocks it)


@dataclass(frozen=True)
class WeeklySettings:
    """The ``[weekly]`` table: the weekly roundup for the readers who chose it (``newsletter weekly build``)."""

    cron: str = ""  # when the roundup is due, e.g. "0 17 * * fri" (the schedule's time zone); "": not scheduled


@dataclass(frozen=True)
class WebSettings:
    """The ``[web]`` table: the public subscriber service (``newsletter serve``)."""

    host: str = "127.0.0.1"
    port: int = 8080
    trusted_proxies: int = 0  # reverse proxies in front whose X-Forwarded-For/-Proto are believed (0: none)
    confirm_hours: int = 48  # how long a confirmation link stays valid
    subscribe_limit: str = "5 per minute; 30 per hour"  # per client address
    confirm_mail_limit: str = "3 per hour; 5 per day"  # confirmation mails per address, and per unsubscribe link
    api_limit: str = "120 per minute; 5000 per hour"  # HTTP API requests per key
    record_ip: bool = False  # keep the client address with the consent record
    max_request_body_size: int = 65536  # bytes; waitress refuses a larger body before reading it
    max_request_header_size: int = 16384  # bytes of request line and headers
    connection_limit: int = 500  # open connections; beyond, the one waiting longest for its request is closed
    channel_timeout: int = 15  # seconds an idle or stalled connection is kept
    header_timeout: int = 5  # seconds for a request's head to arrive, however it trickles in
    body_timeout: int = 30  # seconds for a request's body to arrive after its head
    connections_per_client: int = 50  # per client address, at most half of connection_limit by default; 0 (behind
    # a reverse proxy, trusted_proxies > 0): no cap, every connection comes from the proxy


@dataclass(frozen=True)
class WebhookSettings:
    """The ``[webhooks]`` table: which mail-API event webhooks ``newsletter serve`` answers, and their limits.

    Each ``[webhooks.NAME]`` sub-table turns on ``POST /webhooks/NAME`` for the provider of that name, its
    keys read by the provider's webhook (:mod:`newsletter.feedback.webhooks`) when the service starts;
    a provider without one has no endpoint (404). Keys ending in ``_env`` name an environment variable
    (never the secret itself).
    """

    providers: Mapping[str, Mapping[str, Any]] = field(default_factory=lambda: MappingProxyType({}))
    max_age_seconds: int = 300  # signed timestamps older than this (or as far in the future) are refused
    max_body_bytes: int = 1_048_576  # larger webhook requests are refused (413)


@dataclass(frozen=True)
class BounceSettings:
    """The ``[bounces]`` table: where bounces, complaints and mailto unsubscribes come back, and how they are read."""

    address: str  # "bounces@bounce.example.org"; envelope sender becomes bounces+TOKEN@bounce.example.org
    unsubscribe_address: str = ""  # "unsubscribe@bounce.example.org" -> List-Unsubscribe <mailto:unsubscribe+TOKEN@…>
    maildir: Path | None = None  # a Maildir to read, or the IMAP keys below
    imap_host: str = ""
    imap_port: int = 993
    imap_user_env: str = ""
    imap_password_env: str = ""
    imap_folder: str = "INBOX"
    processed_folder: str = "Processed"
    check_minutes: int = 10  # how often the scheduler reads the mailbox
    soft_bounce_limit: int = 3  # soft bounces within soft_bounce_days that make a subscriber `bounced`
    soft_bounce_days: int = 7


@dataclass(frozen=True)
class DkimSettings:
    """The ``[dkim]`` table: sign messages sent by SMTP or written to the outbox (mail APIs sign themselves)."""

    selector: str
    domain: str  # A-labels, lower case; the From domain or one of its parents (DMARC alignment)
    private_key_file: Path  # resolved against the project root; RSA >= 2048 bits or Ed25519 (PEM)
    # A second signature with Ed25519 (RFC 8463) beside the RSA one; both set or neither, and then
    # private_key_file holds the RSA key (most receivers verify only RSA).
    ed25519_selector: str = ""
    ed25519_private_key_file: Path | None = None

    @property
    def keys(self) -> tuple[tuple[str, Path], ...]:
        """``(selector, key file)`` of each signature every message gets, the RSA one first."""
        if self.ed25519_private_key_file is None:
            return ((self.selector, self.private_key_file),)
        return ((self.selector, self.private_key_file), (self.ed25519_selector, self.ed25519_private_key_file))


@dataclass(frozen=True)
class BrandSettings:
    """The ``[brand]`` table: the publication's look, read by the email and web templates.

    Every key is optional; an empty value keeps the built-in look (:mod:`newsletter.brand.look` fills
    the gaps). Colours are normalized to ``#rrggbb``; ``logo`` is a path relative to the project.
    """

    name: str = ""  # the name in the masthead; default [newsletter] name
    logo: str = ""  # e.g. "brand/logo.png": a PNG, JPEG or GIF inside the project, at most LOGO_MAX_BYTES
    logo_alt: str = ""  # required with a logo (``check`` refuses a logo without it)
    logo_width: int = 180  # CSS pixels the logo is shown at in the email
    primary_color: str = ""  # links and buttons
    primary_text_color: str = ""  # the text on buttons
    header_color: str = ""  # the masthead's background
    header_text_color: str = ""  # the masthead's text
    font_family: str = ""  # e.g. "Georgia, Times New Roman, serif"
    footer_text: str = ""  # one more line in every footer
    postal_address: str = ""  # the address printed in footers; default [newsletter] postal_address


@dataclass(frozen=True)
class DeskSettings:
    """The ``[desk]`` table: the editors' desk (``newsletter desk``), a separate app from ``serve``."""

    host: str = "127.0.0.1"
    port: int = 8090
    base_url: str = ""  # the https address a reverse proxy serves the desk at; required off loopback
    trusted_proxies: int = 0  # reverse proxies in front whose X-Forwarded-For/-Proto are believed
    session_hours: int = 12  # how long a login lasts
    login_limit: str = "5 per minute; 20 per hour"  # sign-in attempts per client address, and per account and address
    login_account_limit: str = "30 per hour"  # failed sign-ins per account from browsers it never signed in from
    git_commit: bool = False  # each save is a git commit authored by the editor (in a git repository)
    require_separate_approver: bool = False  # the approver must differ from the issue's last editor
    max_image_bytes: int = 2_000_000  # largest image an editor may upload
    header_timeout: int = 10  # seconds for a request's head to arrive, however it trickles in
    body_timeout: int = 120  # seconds for a request's body (an image upload) to arrive after its head
    require_2fa: tuple[str, ...] = ()  # roles that must sign in with a second factor (enrolled at their next sign-in)


@dataclass(frozen=True)
class AnalyticsSettings:
    """The ``[analytics]`` table: counted links (``/c/TOKEN``), per-item feedback, what is kept and how long."""

    clicks: bool = True  # the content links of sent issues go through /c/TOKEN and are counted
    utm_source: str = ""  # when set, the redirect adds utm_source, utm_medium=email, utm_campaign=ISSUE
    per_subscriber: bool = False  # clicks of readers who consented are attributed to them (opt-in)
    feedback: bool = False  # "Utile" / "Pas pour moi" links under each item
    keep_days: int = 395  # clicks older than this are purged (``report`` and ``serve`` purge them)
    scanner_seconds: float = 2.0  # every link of a message fetched within this: a security scanner
    read_seconds: float = 10.0  # a click sooner than this after the delivery: no person read the message yet


#: What a ``[[hooks]]`` table may ask to hear (DESIGN.md, "Outgoing webhooks").
HOOK_EVENTS = ("issue.approved", "send.started", "send.finished", "send.paused", "subscriber.created",
               "subscriber.unsubscribed", "subscriber.bounced", "subscriber.complained")
#: The ``[[hooks]]`` formats: Standard Webhooks' signed JSON events, or a chat's incoming webhook
#: (Slack, Mattermost, Rocket.Chat: ``{"text": …}``, a sentence in the newsletter's language).
HOOK_FORMATS = ("standard", "chat")
#: The events a chat hook can tell (and hears when its table names none).
CHAT_EVENTS = ("send.finished", "send.paused")


@dataclass(frozen=True)
class HookSettings:
    """One ``[[hooks]]`` table: where the events it names are POSTed, signed with the secret ``secret_env`` holds
    (``format = "standard"``), or told as a sentence to a chat (``format = "chat"``: no secret, the url is one)."""

    url: str
    events: tuple[str, ...]
    secret_env: str  # "" for a chat hook
    format: str = "standard"

    @property
    def chat(self) -> bool:
        return self.format == "chat"


def shown_hook_url(url: str) -> str:
    """A receiver's url without its path and query (``https://chat.example.org/…``): a chat's incoming-webhook
    url holds its secret there, so logs, lists and error messages show only this."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}/…"


@dataclass(frozen=True)
class Settings:
    """Everything a command needs to know about one newsletter project."""

    root: Path
    newsletter: NewsletterSettings
    content: ContentSettings = ContentSettings()
    check: CheckSettings = CheckSettings()
    sourcing: SourcingSettings = SourcingSettings()
    store: StoreSettings = StoreSettings()
    delivery: DeliverySettings = DeliverySettings()
    schedule: ScheduleSettings = ScheduleSettings()
    weekly: WeeklySettings = WeeklySettings()
    web: WebSettings = WebSettings()
    webhooks: WebhookSettings | None = None  # None when [webhooks] is absent
    bounces: BounceSettings | None = None  # None when [bounces] is absent
    dkim: DkimSettings | None = None  # None when [dkim] is absent
    brand: BrandSettings | None = None  # None when [brand] is absent
    desk: DeskSettings = DeskSettings()
    analytics: AnalyticsSettings = AnalyticsSettings()
    hooks: tuple[HookSettings, ...] = ()  # the [[hooks]] tables, in the file's order

    @property
    def hook_routes(self) -> Mapping[str, tuple[str, ...]]:
        """For each event type, the urls of the ``[[hooks]]`` that want it (the outbox's fan-out)."""
        return MappingProxyType({event: urls for event in HOOK_EVENTS
                                 if (urls := tuple(h.url for h in self.hooks if event in h.events))})

    @property
    def issues_dir(self) -> Path:
        return self.root / "issues"

    @property
    def templates_dir(self) -> Path:
        return self.root / "templates"

    @property
    def out_dir(self) -> Path:
        return self.root / "out"

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.newsletter.timezone)

    @property
    def schedule_tz(self) -> ZoneInfo:
        """The time zone of the schedule (``[schedule] timezone``, else the newsletter's)."""
        return ZoneInfo(self.schedule.timezone or self.newsletter.timezone)

    def today(self, now: datetime | None = None) -> date:
        """Today's date in the newsletter's time zone (the default issue date)."""
        return (now or utc_now()).astimezone(self.tz).date()


_TABLES = ("newsletter", "content", "check", "sourcing", "store", "delivery", "schedule", "weekly", "web", "webhooks",
           "bounces", "dkim", "brand", "desk", "analytics", "hooks")


def _suggest(word: str, choices: tuple[str, ...]) -> str:
    close = difflib.get_close_matches(word, choices, n=1)
    return f"; did you mean '{close[0]}'?" if close else f"; known keys: {', '.join(choices)}"


def _ascii_url(t: Options, url: str) -> str:
    """``base_url`` in the form headers and links need: the host as IDNA A-labels, in lower case,
    and the path percent-encoded (``https://lettre.rédaction.example/été`` is written once, here)."""
    parts = urlsplit(url)
    host, colon, port = parts.netloc.rpartition(":") if re.search(r":\d+$", parts.netloc) else (parts.netloc, "", "")
    try:
        ascii_host = addresses.ascii_domain(host.lower())
    except AddressError as err:
        raise t.error(f"[newsletter] base_url {url!r}: {err}") from err
    if not re.fullmatch(r"[a-z0-9.-]+", ascii_host) or ".." in ascii_host or ascii_host.startswith("."):
        raise t.error(f"[newsletter] base_url {url!r}: {host!r} is not a host name")
    path = quote(parts.path, safe="/%!$&'()*+,;=:@~-._")
    return urlunsplit((parts.scheme.lower(), ascii_host + colon + port, path, "", ""))


def _address(table: Options, key: str, value: str, *, display_name_allowed: bool,
             ascii_local: bool = True) -> tuple[str, str]:
    """Validate an address setting; return ``(display name, address as it goes on the wire)``.

    The domain becomes IDNA A-labels (ASCII). With ``ascii_local``, a non-ASCII local part is
    refused: the address would be in every message, which every server would then need to
    accept as internationalized email (SMTPUTF8).
    """
    name, addr = parseaddr(value)
    if not display_name_allowed and name:
        raise table.error(f"[{table.table}] {key} must be a bare address like x@example.org (got {value!r})")
    try:
        on_the_wire = addresses.wire(addresses.canonical(addr))
    except AddressError as err:
        example = '"La rédaction <redaction@example.org>"' if display_name_allowed else '"x@example.org"'
        raise table.error(f"[{table.table}] {key} is not a valid address ({err}); write it as {example}") from err
    if ascii_local and addresses.needs_smtputf8(on_the_wire):
        raise table.error(f"[{table.table}] {key} {addr!r} has a non-ASCII local part (before the @), which many "
                          "servers refuse; use an address whose local part is ASCII")
    return name, on_the_wire


def _newsletter(path: Path, data: Any) -> NewsletterSettings:
    t = Options(
        path,
        "newsletter",
        data,
        ("name", "sender", "reply_to", "postal_address", "base_url", "locale", "timezone", "items_per_issue"),
    )
    name = t.text("name", required=True)
    sender = t.text("sender", required=True)
    sender_name, sender_address = _address(t, "sender", sender, display_name_allowed=True)
    _, reply_to = _address(t, "reply_to", t.text("reply_to", sender_address), display_name_allowed=True)
    postal_address = t.text("postal_address", required=True)
    base_url = t.text("base_url", required=True).rstrip("/")
    if not re.fullmatch(r"https?://[^\s/?#]+(/[^\s?#]*)?", base_url):
        raise t.error(
            f"[newsletter] base_url must be an absolute http(s) address without query, "
            f'e.g. "https://news.example.org" (got {base_url!r})'
        )
    base_url = _ascii_url(t, base_url)
    locale = t.text("locale", "fr_FR")
    try:
        babel.Locale.parse(locale)
    except (ValueError, babel.UnknownLocaleError) as err:
        raise t.error(f'[newsletter] locale {locale!r} is not a known locale; use e.g. "fr_FR" or "en_GB"') from err
    timezone = t.text("timezone", "Europe/Paris")
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError) as err:
        raise t.error(
            f'[newsletter] timezone {timezone!r} is not a known time zone; use an IANA name like "Europe/Paris"'
        ) from err
    return NewsletterSettings(
        name=name,
        sender=sender,
        sender_name=sender_name or name,
        sender_address=sender_address,
        reply_to=reply_to,
        postal_address=postal_address,
        base_url=base_url,
        locale=locale,
        timezone=timezone,
        items_per_issue=t.integer("items_per_issue", 5, maximum=20),
    )


def _content(path: Path, data: Any) -> ContentSettings:
    t = Options(path, "content", data, ("max_words", "max_title_chars", "max_html_bytes"))
    defaults = ContentSettings()
    return ContentSettings(
        max_words=t.integer("max_words", defaults.max_words),
        max_title_chars=t.integer("max_title_chars", defaults.max_title_chars),
        max_html_bytes=t.integer("max_html_bytes", defaults.max_html_bytes, minimum=1024),
    )


def _check(path: Path, data: Any) -> CheckSettings:
    t = Options(path, "check", data, ("repeat_days", "spelling", "dictionary"))
    return CheckSettings(repeat_days=t.integer("repeat_days", CheckSettings.repeat_days, minimum=0, maximum=3650),
                         spelling=t.boolean("spelling", CheckSettings.spelling),
                         dictionary=t.text("dictionary", CheckSettings.dictionary) or CheckSettings.dictionary)


def _sourcing(path: Path, data: Any) -> SourcingSettings:
    t = Options(path, "sourcing", data, ("allow_private_networks", "timeout", "max_bytes"))
    defaults = SourcingSettings()
    return SourcingSettings(
        allow_private_networks=t.boolean("allow_private_networks", defaults.allow_private_networks),
        timeout=t.number("timeout", defaults.timeout),
        max_bytes=t.integer("max_bytes", defaults.max_bytes, minimum=10_000),
    )


def _delivery(path: Path, data: Any) -> DeliverySettings:
    # Any sub-table is an adapter's own settings (built in, a provider's, or another package's);
    # the adapter checks its keys when it is made.
    extra = _sub_tables(data)
    t = Options(path, "delivery", data,
               ("adapter", "rate_per_second", "max_attempts", "retry_backoff", "lease_seconds", "max_bounce_rate",
                "bounce_window", *extra))
    adapter = t.text("adapter", "outbox")
    if not re.fullmatch(r"[a-z][a-z0-9_]*", adapter):
        raise t.error(f'[delivery] adapter must be a name such as "outbox" or "smtp" (got {adapter!r})')
    tables = {name: MappingProxyType(dict(t.data[name])) for name in extra}
    return DeliverySettings(
        adapter=adapter,
        rate_per_second=t.number("rate_per_second", 20.0),
        max_attempts=t.integer("max_attempts", 5, maximum=20),
        retry_backoff=t.number("retry_backoff", 30.0),
        lease_seconds=_lease_seconds(t),
        max_bounce_rate=_max_bounce_rate(t),
        bounce_window=t.integer("bounce_window", DeliverySettings.bounce_window, minimum=10, maximum=1_000_000),
        adapters=MappingProxyType(tables),
    )


def _max_bounce_rate(t: Options) -> float:
    """``[delivery] max_bounce_rate``: a fraction from 0 (never pause) to below 1."""
    value = t.number("max_bounce_rate", DeliverySettings.max_bounce_rate, positive=False)
    if not 0 <= value < 1:
        raise t.wrong("max_bounce_rate", Message(N_("a fraction between 0 and 1")), value, example=0.05,
                      hint=N_("for example: max_bounce_rate = 0.05 (5 %); 0 never pauses a send"))
    return value


def _lease_seconds(t: Options) -> float:
    value = t.number("lease_seconds", DeliverySettings.lease_seconds)
    if not 3 <= value <= 3600:
        raise t.wrong("lease_seconds", Message(N_("a number of seconds between 3 and 3600")), value,
                      hint=N_("for example: lease_seconds = 60, which suits most setups: a run that dies holds its "
                              "recipients this long before another run takes them"))
    return value


def _schedule(path: Path, data: Any) -> ScheduleSettings:
    t = Options(path, "schedule", data, ("cron", "timezone", "require_approval", "alert_to", "grace_minutes",
                                        "retry_minutes", "warn_minutes", "skip_holidays", "check_links"))
    alert_to = t.text("alert_to", "")
    if alert_to:
        _address(t, "alert_to", alert_to, display_name_allowed=False, ascii_local=False)
    cron = t.text("cron", ScheduleSettings.cron)
    if len(cron.split()) != 5:
        raise t.error(f'[schedule] cron must have 5 fields, minute hour day month weekday, e.g. "0 7 * * mon-fri" '
                      f"(got {cron!r})")
    timezone = t.text("timezone", "")
    if timezone:
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise t.error(f'[schedule] timezone {timezone!r} is not a known time zone; use an IANA name like '
                          '"Europe/Paris"') from None
    skip_holidays = t.text("skip_holidays", "").strip()
    if skip_holidays:
        import holidays

        country, _dash, subdivision = skip_holidays.partition("-")
        try:
            holidays.country_holidays(country.upper(), subdiv=subdivision or None)
        except NotImplementedError as err:
            raise t.error(f"[schedule] skip_holidays {skip_holidays!r}: {err}; write a country code with an optional "
                          'subdivision that the holidays package knows, e.g. "FR" or "FR-57"') from None
    return ScheduleSettings(
        skip_holidays=skip_holidays,
        cron=cron,
        timezone=timezone,
        require_approval=t.boolean("require_approval", True),
        alert_to=alert_to,
        grace_minutes=t.integer("grace_minutes", 120, minimum=0),
        retry_minutes=t.integer("retry_minutes", 10, minimum=1),
        warn_minutes=t.integer("warn_minutes", 60, minimum=0),
        check_links=t.boolean("check_links", True),
    )


def _weekly(path: Path, data: Any) -> WeeklySettings:
    t = Options(path, "weekly", data, ("cron",))
    cron = t.text("cron", "").strip()
    if not cron:
        return WeeklySettings()
    fields = cron.split()
    if len(fields) != 5:
        raise t.error(f'[weekly] cron must have 5 fields, minute hour day month weekday, e.g. "0 17 * * fri" '
                      f"(got {cron!r})")
    if any(ch.isdigit() for ch in fields[4]):
        # cron counts weekdays from 0 = Sunday, APScheduler from 0 = Monday: a number would mean two days.
        raise t.error(f"[weekly] cron {cron!r}: name the weekday (mon, tue, wed, thu, fri, sat, sun) instead of "
                      f"{fields[4]!r}; cron and APScheduler number the days differently", )
    from apscheduler.triggers.cron import CronTrigger

    try:
        CronTrigger.from_crontab(cron)
    except ValueError as err:
        raise t.error(f"[weekly] cron {cron!r} is not valid: {err}; write minute hour day month weekday, e.g. "
                      '"0 17 * * fri"') from None
    return WeeklySettings(cron=cron)


def _web(path: Path, data: Any) -> WebSettings:
    t = Options(path, "web", data, ("host", "port", "trusted_proxies", "confirm_hours", "subscribe_limit",
                                   "confirm_mail_limit", "api_limit", "record_ip", "max_request_body_size",
                                   "max_request_header_size", "connection_limit", "channel_timeout",
                                   "header_timeout", "body_timeout", "connections_per_client"))
    w = WebSettings
    trusted_proxies = t.integer("trusted_proxies", w.trusted_proxies, minimum=0, maximum=5)
    connection_limit = t.integer("connection_limit", w.connection_limit, minimum=10, maximum=10000)
    if trusted_proxies and "connections_per_client" in t.data:
        raise t.error(f"[web] connections_per_client cannot apply behind a reverse proxy (trusted_proxies = "
                      f"{trusted_proxies}): every connection comes from the proxy; remove it and limit connections "
                      "per client in the proxy (nginx: limit_conn)")
    return WebSettings(
        host=t.text("host", w.host),
        port=t.integer("port", w.port, maximum=65535),
        trusted_proxies=trusted_proxies,
        confirm_hours=t.integer("confirm_hours", w.confirm_hours, minimum=1),
        subscribe_limit=_rate(t, "subscribe_limit", w.subscribe_limit),
        confirm_mail_limit=_rate(t, "confirm_mail_limit", w.confirm_mail_limit),
        api_limit=_rate(t, "api_limit", w.api_limit),
        record_ip=t.boolean("record_ip", w.record_ip),
        max_request_body_size=t.integer("max_request_body_size", w.max_request_body_size, minimum=1024,
                                        maximum=10 * 1024 * 1024),
        max_request_header_size=t.integer("max_request_header_size", w.max_request_header_size, minimum=4096,
                                          maximum=256 * 1024),
        connection_limit=connection_limit,
        channel_timeout=t.integer("channel_timeout", w.channel_timeout, minimum=1, maximum=600),
        header_timeout=t.integer("header_timeout", w.header_timeout, minimum=1, maximum=600),
        body_timeout=t.integer("body_timeout", w.body_timeout, minimum=1, maximum=600),
        connections_per_client=0 if trusted_proxies else t.integer(
            "connections_per_client", min(w.connections_per_client, connection_limit // 2), minimum=1,
            maximum=connection_limit - 1),
    )


def _desk(path: Path, data: Any) -> DeskSettings:
    t = Options(path, "desk", data, ("host", "port", "base_url", "trusted_proxies", "session_hours", "login_limit",
                                    "login_account_limit", "git_commit", "require_separate_approver",
                                    "max_image_bytes", "header_timeout", "body_timeout", "require_2fa"))
    d = DeskSettings
    base_url = t.text("base_url", d.base_url).rstrip("/")
    if base_url and not re.fullmatch(r"https://[^\s/?#]+(/[^\s?#]*)?", base_url):
        raise t.error(f'[desk] base_url must be the https address the proxy serves the desk at, e.g. '
                      f'"https://desk.example.org" (got {base_url!r})')
    return DeskSettings(
        host=t.text("host", d.host),
        port=t.integer("port", d.port, maximum=65535),
        base_url=base_url,
        trusted_proxies=t.integer("trusted_proxies", d.trusted_proxies, minimum=0, maximum=5),
        session_hours=t.integer("session_hours", d.session_hours, minimum=1, maximum=24 * 30),
        login_limit=_desk_rate(t, "login_limit", d.login_limit),
        login_account_limit=_desk_rate(t, "login_account_limit", d.login_account_limit),
        git_commit=t.boolean("git_commit", d.git_commit),
        require_separate_approver=t.boolean("require_separate_approver", d.require_separate_approver),
        max_image_bytes=t.integer("max_image_bytes", d.max_image_bytes, minimum=1024, maximum=20_000_000),
        header_timeout=t.integer("header_timeout", d.header_timeout, minimum=1, maximum=600),
        body_timeout=t.integer("body_timeout", d.body_timeout, minimum=1, maximum=3600),
        require_2fa=t.choices("require_2fa", ("editor", "approver", "operator"), d.require_2fa),
    )


def _desk_rate(t: Options, key: str, default: str) -> str:
    limit = t.text(key, default)
    parts = [p.strip() for p in limit.split(";") if p.strip()]
    if not parts or not all(re.fullmatch(r"\d+\s*(/|per)\s*(\d+\s*)?(second|minute|hour|day)s?", p) for p in parts):
        raise t.error(f'[desk] {key} must look like "5 per minute; 20 per hour" (got {limit!r})')
    return limit


def _rate(t: Options, key: str, default: str) -> str:
    limit = t.text(key, default)
    for part in filter(None, (p.strip() for p in limit.split(";"))):
        if not re.fullmatch(r"\d+\s*(/|per)\s*(\d+\s*)?(second|minute|hour|day)s?", part):
            raise t.error(f'[web] {key} must look like "5 per minute; 30 per hour" (got {limit!r})')
    return limit


def _analytics(path: Path, data: Any) -> AnalyticsSettings:
    t = Options(path, "analytics", data, ("clicks", "utm_source", "per_subscriber", "feedback", "keep_days",
                                          "scanner_seconds", "read_seconds"))
    defaults = AnalyticsSettings()
    utm_source = t.text("utm_source", "")
    if utm_source and not re.fullmatch(r"[A-Za-z0-9._~-]{1,60}", utm_source):
        raise t.wrong("utm_source", Message(N_("letters, digits, '.', '_', '~' or '-' (at most 60)")), utm_source,
                      example="newsletter")
    return AnalyticsSettings(
        clicks=t.boolean("clicks", defaults.clicks),
        utm_source=utm_source,
        per_subscriber=t.boolean("per_subscriber", defaults.per_subscriber),
        feedback=t.boolean("feedback", defaults.feedback),
        keep_days=t.integer("keep_days", defaults.keep_days, minimum=1),
        scanner_seconds=t.number("scanner_seconds", defaults.scanner_seconds),
        read_seconds=t.number("read_seconds", defaults.read_seconds),
    )


def _store(path: Path, data: Any) -> StoreSettings:
    t = Options(path, "store", data, ("url",))
    return StoreSettings(url=t.text("url", StoreSettings.url))


def _sub_tables(data: Any) -> tuple[str, ...]:
    """The keys of a table whose values are tables (``[delivery.NAME]``, ``[webhooks.NAME]``)."""
    return tuple(k for k, v in data.items() if isinstance(v, dict)) if isinstance(data, dict) else ()


#: The flat ``[webhooks]`` keys of the first versions, read into the ``[webhooks.NAME]`` tables that
#: replace them: old key → (provider, key of its table). Frozen: a new provider has only its table.
_OLD_WEBHOOK_KEYS = {"mailgun_signing_key_env": ("mailgun", "signing_key_env"),
                     "sendgrid_public_key_env": ("sendgrid", "public_key_env"),
                     "postmark_credentials_env": ("postmark", "credentials_env"),
                     "brevo_token_env": ("brevo", "token_env")}


def _webhooks(path: Path, data: Any) -> WebhookSettings:
    names = _sub_tables(data)
    t = Options(path, "webhooks", data, (*_OLD_WEBHOOK_KEYS, "max_age_seconds", "max_body_bytes", *names))
    tables: dict[str, dict[str, Any]] = {}
    for name in names:
        if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
            raise t.error(f"[webhooks.{name}] must be named after a provider, such as [webhooks.mailgun]")
        tables[name] = dict(t.data[name])
        for key, value in tables[name].items():
            _variable_name(t, f"[webhooks.{name}] {key}", name, key, value)
    for old, (name, key) in _OLD_WEBHOOK_KEYS.items():
        value = t.text(old, "")
        if not value:
            continue  # an empty old key meant "no endpoint"
        _variable_name(t, f"[webhooks] {old}", name, key, value)
        if key in tables.get(name, {}):
            raise t.error(f"[webhooks] {old} and [webhooks.{name}] {key} are both set; keep only the table's")
        log.warning('%s: [webhooks] %s is the old spelling of [webhooks.%s] %s; write instead:\n'
                    '[webhooks.%s]\n%s = "%s"', path.name, old, name, key, name, key, value)
        tables.setdefault(name, {})[key] = value
    w = WebhookSettings
    return WebhookSettings(
        providers=MappingProxyType({name: MappingProxyType(table) for name, table in tables.items()}),
        max_age_seconds=t.integer("max_age_seconds", w.max_age_seconds, minimum=30, maximum=86400),
        max_body_bytes=t.integer("max_body_bytes", w.max_body_bytes, minimum=4096, maximum=32 * 1024 * 1024),
    )


def _hooks(path: Path, data: Any) -> tuple[HookSettings, ...]:
    if not isinstance(data, list):
        raise ConfigError(f"{path.name}: hooks must be written as [[hooks]] tables (two brackets), each with url, "
                          "events and secret_env", hint=f"edit {path}")
    hooks: list[HookSettings] = []
    for number, table in enumerate(data, 1):
        shown_table = f"[hooks #{number}]"  # which of the [[hooks]] tables, counted from the top of the file
        known = ("url", "events", "secret_env", "format")
        for key in table if isinstance(table, dict) else ():
            if key not in known:
                raise ConfigError(f"{path.name}: {shown_table} has an unknown key '{key}'; {suggestion(key, known)}",
                                  hint=f"rename it, or remove it from the [[hooks]] table in {path.name}")
        t = Options(path, "hooks", table, known)
        url = _hook_url(t, shown_table)
        if any(hook.url == url for hook in hooks):
            raise t.error(f"{shown_table} url {shown_hook_url(url)} is already the url of an earlier [[hooks]] "
                          "table; list all its events in one table")
        kind = t.data.get("format", "standard")
        if kind not in HOOK_FORMATS:
            raise t.error(f'{shown_table} format must be "standard" (signed events) or "chat" (a sentence for a '
                          f"chat's incoming webhook), got {kind!r}")
        allowed = CHAT_EVENTS if kind == "chat" else HOOK_EVENTS
        events = t.data.get("events", list(CHAT_EVENTS) if kind == "chat" else None)
        if not isinstance(events, list) or not events or not all(isinstance(e, str) for e in events):
            raise t.error(f'{shown_table} events must be a list of event names, e.g. events = ["send.finished", '
                          f'"send.paused"]; known events: {", ".join(allowed)}')
        for event_name in events:
            if kind == "chat" and event_name in HOOK_EVENTS and event_name not in CHAT_EVENTS:
                raise t.error(f"{shown_table} events: a chat hook tells only {', '.join(CHAT_EVENTS)}, not "
                              f"{event_name!r}; send it to a [[hooks]] table without format = \"chat\"")
            if event_name not in allowed:
                raise t.error(f"{shown_table} events: unknown event {event_name!r}{_suggest(event_name, allowed)}"
                              .replace("known keys", "known events"))
        secret_env = t.data.get("secret_env")
        if kind == "chat":
            if secret_env is not None:
                raise t.error(f"{shown_table} secret_env: a chat hook is not signed (its url is its secret); "
                              "remove secret_env, or remove format = \"chat\" for a signed receiver")
            hooks.append(HookSettings(url, tuple(dict.fromkeys(events)), "", kind))
            continue
        if secret_env is None:
            raise t.error(f"{shown_table} secret_env is required: the name of the environment variable that holds "
                          'the whsec_… secret, e.g. secret_env = "NEWSLETTER_HOOK_SECRET"')
        _variable_name(t, f"{shown_table} secret_env", "newsletter_hook", "secret_env", secret_env)
        hooks.append(HookSettings(url, tuple(dict.fromkeys(events)), secret_env))
    return tuple(hooks)


def _hook_url(t: Options, shown_table: str) -> str:
    """An http(s) address with a host; plain http only to this machine (a body and its signature would be overheard)."""
    url = t.data.get("url")
    if not isinstance(url, str) or not url.strip():
        raise t.error(f'{shown_table} url is required, e.g. url = "https://chat.example.org/hooks/newsletter"')
    url = url.strip()
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - a malformed port raises here
    except ValueError as err:
        raise t.error(f"{shown_table} url {url!r} is malformed ({err})") from err
    if parts.scheme not in ("http", "https") or not parts.hostname or any(c.isspace() for c in url):
        raise t.error(f"{shown_table} url {url!r} must be a complete https:// address")
    if parts.username or parts.password:
        raise t.error(f"{shown_table} url must not hold a user name or password; the signature authenticates the "
                      "newsletter to the receiver")
    if parts.scheme == "http" and not addresses.is_loopback(parts.hostname):
        raise t.error(f"{shown_table} url {shown_hook_url(url)} must use https:// (plain http:// only to 127.0.0.1, ::1 or "
                      "localhost): the events carry subscribers' addresses")
    return url


def _variable_name(t: Options, shown: str, name: str, key: str, value: Any) -> None:
    """Refuse a ``*_env`` key that does not hold the name of an environment variable (never showing it:
    it may be the secret itself)."""
    if key.endswith("_env") and not (isinstance(value, str) and _ENV_NAME.fullmatch(value)):
        got = f"a {len(value)}-character value" if isinstance(value, str) else f"a {type(value).__name__}"
        example = f"{name.upper()}_{key.removesuffix('_env').upper()}"
        raise t.error(f"{shown} must be the NAME of an environment variable (capitals, digits, _), not the secret "
                      f'itself, e.g. {key} = "{example}" (got {got})')


_BOUNCE_KEYS = ("address", "unsubscribe_address", "maildir", "imap_host", "imap_port", "imap_user_env",
                "imap_password_env", "imap_folder", "processed_folder", "check_minutes", "soft_bounce_limit",
                "soft_bounce_days")
_ENV_NAME = re.compile(r"[A-Z_][A-Z0-9_]*")


def _bounce_address(t: Options, key: str, example: str) -> str:
    """A bare ASCII address whose local part can take ``+TOKEN`` (so it holds no ``+`` itself)."""
    value = t.text(key, required=key == "address")
    if not value:
        return ""
    _, address = _address(t, key, value, display_name_allowed=False)
    local = address.rpartition("@")[0]
    if "+" in local or not re.fullmatch(r"[A-Za-z0-9._-]+", local):
        raise t.error(f"[bounces] {key} {address!r}: the local part (before the @) must be plain letters, digits, "
                      f'dots or dashes, without "+", since "+TOKEN" is added to it; e.g. {key} = "{example}"')
    return address.lower()


def _bounces(path: Path, root: Path, data: Any) -> BounceSettings:
    plain_secrets = {"imap_user": "imap_user_env", "imap_password": "imap_password_env",
                     "password": "imap_password_env", "imap_pass": "imap_password_env"}
    for plain, env_key in plain_secrets.items():
        if isinstance(data, dict) and plain in data:
            raise ConfigError(f"{path.name}: [bounces] {plain} is not read from the file: credentials come only "
                              f'from the environment; write {env_key} = "NAME" and export NAME=… in the '
                              "service's environment", hint=f"edit {path}")
    t = Options(path, "bounces", data, _BOUNCE_KEYS)
    address = _bounce_address(t, "address", "bounces@bounce.example.org")
    unsubscribe_address = _bounce_address(t, "unsubscribe_address", "unsubscribe@bounce.example.org")
    if unsubscribe_address and unsubscribe_address == address:
        raise t.error("[bounces] unsubscribe_address must differ from address (a bounce is not an unsubscribe "
                      'request); e.g. unsubscribe_address = "unsubscribe@bounce.example.org"')
    maildir_text = t.text("maildir", "")
    imap_host = t.text("imap_host", "")
    if maildir_text and imap_host:
        raise t.error("[bounces] has both maildir and imap_host; keep one: the Maildir the bounce domain delivers "
                      "to, or the IMAP server holding that mailbox")
    maildir = (root / Path(maildir_text).expanduser()).resolve() if maildir_text else None
    if imap_host and not re.fullmatch(r"[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\]|[0-9A-Fa-f:]+", imap_host):
        raise t.error(f'[bounces] imap_host must be a host name such as "imap.example.org" (got {imap_host!r})')
    envs: dict[str, str] = {}
    for key in ("imap_user_env", "imap_password_env"):
        name = t.text(key, "")
        if imap_host and not name:
            raise t.error(f"[bounces] {key} is required with imap_host: the name of the environment variable "
                          f'holding the IMAP {key.split("_")[1]}, e.g. {key} = "BOUNCES_IMAP_{key.split("_")[1].upper()}"')
        if name and not _ENV_NAME.fullmatch(name):
            raise t.error(f"[bounces] {key} must be the NAME of an environment variable (capitals, digits, _), "
                          f'not the value itself, e.g. {key} = "BOUNCES_IMAP_{key.split("_")[1].upper()}" (got a '
                          f"{len(name)}-character value)")
        envs[key] = name
    folders = {}
    for key, default in (("imap_folder", "INBOX"), ("processed_folder", "Processed")):
        folder = t.text(key, default, single_line=True) or default
        if not folder.isascii() or '"' in folder or "\\" in folder:
            raise t.error(f'[bounces] {key} must be an ASCII folder name without quotes or backslashes, e.g. '
                          f'{key} = "{default}" (got {folder!r})')
        folders[key] = folder
    if folders["imap_folder"] == folders["processed_folder"]:
        raise t.error("[bounces] processed_folder must differ from imap_folder, or processed messages would be "
                      'read again; e.g. processed_folder = "Processed"')
    b = BounceSettings
    return BounceSettings(
        address=address,
        unsubscribe_address=unsubscribe_address,
        maildir=maildir,
        imap_host=imap_host,
        imap_port=t.integer("imap_port", b.imap_port, maximum=65535),
        imap_user_env=envs["imap_user_env"],
        imap_password_env=envs["imap_password_env"],
        imap_folder=folders["imap_folder"],
        processed_folder=folders["processed_folder"],
        check_minutes=t.integer("check_minutes", b.check_minutes, minimum=1, maximum=24 * 60),
        soft_bounce_limit=t.integer("soft_bounce_limit", b.soft_bounce_limit, minimum=1, maximum=100),
        soft_bounce_days=t.integer("soft_bounce_days", b.soft_bounce_days, minimum=1, maximum=365),
    )
#: A DKIM selector: one or more DNS labels (RFC 6376 section 3.1).
DKIM_SELECTOR = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*",
                       re.IGNORECASE)


def _dkim(path: Path, data: Any, root: Path, sender_domain: str) -> DkimSettings:
    t = Options(path, "dkim", data, ("selector", "domain", "private_key_file", "ed25519_selector",
                                    "ed25519_private_key_file"))
    selector = _dkim_selector(t, "selector", required=True)
    domain_text = t.text("domain", required=True).rstrip(".")
    try:
        domain = addresses.ascii_domain(domain_text.lower())
    except AddressError as err:
        raise t.error(f"[dkim] domain {domain_text!r}: {err}") from err
    if "." not in domain or (domain != sender_domain and not sender_domain.endswith("." + domain)):
        raise t.error(f"[dkim] domain {domain_text!r} does not align with the sender's domain {sender_domain!r}: "
                      f"DMARC ignores such a signature; set domain = {sender_domain!r} (or a parent of it)")
    key_text = t.text("private_key_file", required=True)
    key_file = (root / Path(key_text).expanduser()).resolve()
    kind = _check_dkim_key(t, "private_key_file", key_file,
                           f"newsletter dkim keygen {selector} --domain {domain} --out {key_file}")
    second = _dkim_selector(t, "ed25519_selector")
    second_text = t.text("ed25519_private_key_file")
    if not second and not second_text:
        return DkimSettings(selector=selector, domain=domain, private_key_file=key_file)
    if not second or not second_text:
        given, missing = (("ed25519_selector", "ed25519_private_key_file") if second
                          else ("ed25519_private_key_file", "ed25519_selector"))
        raise t.error(f"[dkim] {missing} is required with {given}: the Ed25519 signature needs both its "
                      "selector and its key")
    if second == selector:
        raise t.error(f"[dkim] ed25519_selector {second!r} is the same as selector: each key is published under "
                      f"its own selector; choose another, e.g. {selector + '-ed'!r}")
    second_file = (root / Path(second_text).expanduser()).resolve()
    second_kind = _check_dkim_key(t, "ed25519_private_key_file", second_file,
                                  f"newsletter dkim keygen {second} --type ed25519 --domain {domain} "
                                  f"--out {second_file}")
    if second_kind != "ed25519":
        raise t.error(f"[dkim] ed25519_private_key_file {str(second_file)!r} is an RSA key, not Ed25519; "
                      f"point it at an Ed25519 key (`newsletter dkim keygen {second} --type ed25519`)")
    if kind != "rsa":
        raise t.error(f"[dkim] private_key_file {str(key_file)!r} is an Ed25519 key, but with "
                      f"ed25519_private_key_file it must be the RSA key that most receivers verify; create one "
                      f"with `newsletter dkim keygen {selector}-rsa --domain {domain}` and set selector and "
                      f"private_key_file to it")
    return DkimSettings(selector=selector, domain=domain, private_key_file=key_file, ed25519_selector=second,
                        ed25519_private_key_file=second_file)


def _dkim_selector(t: Options, key: str, *, required: bool = False) -> str:
    selector = t.text(key, required=required)
    if selector and (not DKIM_SELECTOR.fullmatch(selector) or len(selector) > 200):
        raise t.error(f'[dkim] {key} must be a DNS name of letters, digits and hyphens, e.g. "nl2026" '
                      f"(got {selector!r})")
    return selector.lower()


def _check_dkim_key(t: Options, name: str, key_file: Path, keygen: str) -> str:
    """Refuse a key that cannot sign: missing, not PEM, encrypted, or too weak.

    :return: its type, ``rsa`` or ``ed25519``.
    """
    # Imported here: only projects with [dkim] pay for loading the key machinery.
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    fix = f"create one with `{keygen}` and publish the DNS record it prints"
    try:
        pem = key_file.read_bytes()
    except FileNotFoundError:
        raise t.error(f"[dkim] {name} {str(key_file)!r} does not exist; {fix}") from None
    except OSError as err:
        raise t.error(f"[dkim] {name} {str(key_file)!r} cannot be read: {err.strerror}") from None
    try:
        key = load_pem_private_key(pem, password=None)
    except TypeError:
        raise t.error(f"[dkim] {name} {str(key_file)!r} is protected by a passphrase; store it "
                      f"without one (e.g. `openssl pkey -in KEY -out {key_file.name}`) and mode 0600") from None
    except (ValueError, UnsupportedAlgorithm) as err:
        raise t.error(f"[dkim] {name} {str(key_file)!r} is not a PEM private key "
                      f"(-----BEGIN PRIVATE KEY-----); move it aside and {fix}") from err
    if isinstance(key, rsa.RSAPrivateKey):
        if key.key_size < 2048:
            raise t.error(f"[dkim] {name} {str(key_file)!r} is a {key.key_size}-bit RSA key; receivers "
                          f"refuse keys under 2048 bits: move it aside and {fix}")
        return "rsa"
    if not isinstance(key, ed25519.Ed25519PrivateKey):
        raise t.error(f"[dkim] {name} {str(key_file)!r} is a {type(key).__name__.lstrip('_')} key; "
                      f"DKIM signs with RSA (2048 bits or more) or Ed25519: move it aside and {fix}")
    return "ed25519"


BRAND_KEYS = ("name", "logo", "logo_alt", "logo_width", "primary_color", "primary_text_color", "header_color",
               "header_text_color", "font_family", "footer_text", "postal_address")
#: A CSS colour the templates may write into a style: nothing but a hash and hex digits.
BRAND_COLOR = re.compile(r"#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})")
#: One family of a font stack: words of ASCII letters, digits and hyphens (no quotes, semicolons, braces,
#: slashes or angle brackets can end the CSS or the attribute it is written into).
_FONT_FAMILY = re.compile(r"[A-Za-z][A-Za-z0-9-]*(?: [A-Za-z0-9][A-Za-z0-9-]*)*")
GENERIC_FONTS = ("serif", "sans-serif", "monospace", "cursive", "fantasy", "system-ui")
LOGO_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif")
LOGO_MAX_BYTES = 200 * 1024
_LOGO_MAGIC = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF87a", b"GIF89a")


def _brand_color(t: Options, key: str, example: str) -> str:
    value = t.text(key, "")
    if not value:
        return ""
    if not BRAND_COLOR.fullmatch(value):
        raise t.error(f'[brand] {key} must be a colour written #rgb or #rrggbb, e.g. {key} = "{example}" '
                      f"(got {value!r})")
    digits = value[1:].lower()
    return "#" + ("".join(c * 2 for c in digits) if len(digits) == 3 else digits)


def _font_family(t: Options) -> str:
    value = t.text("font_family", "")
    if not value:
        return ""
    example = 'font_family = "Georgia, Times New Roman, serif"'
    families = [" ".join(part.split()) for part in value.split(",")]
    for family in families:
        if not _FONT_FAMILY.fullmatch(family):
            raise t.error(f"[brand] font_family {value!r}: {family!r} is not a font name; write family names "
                          f"separated by commas, with letters, digits, spaces and hyphens only (no quotes), "
                          f"e.g. {example}")
    if families[-1].lower() not in GENERIC_FONTS:
        raise t.error(f"[brand] font_family must end with a generic family ({', '.join(GENERIC_FONTS)}) for "
                      f"readers who have none of the others, e.g. {example}")
    if len(families) > 10 or len(value) > 200:
        raise t.error(f"[brand] font_family lists too many fonts; keep it to 10 families, e.g. {example}")
    return ", ".join(families)


def _logo(t: Options, root: Path) -> str:
    """The logo's path relative to the project, when it is a small PNG, JPEG or GIF file inside it."""
    value = t.text("logo", "")
    if not value:
        return ""
    fix = 'put the file in the project (e.g. brand/logo.png) and write logo = "brand/logo.png"'
    parts = Path(value.replace("\\", "/")).parts
    if Path(value).is_absolute() or not parts or ".." in parts:
        raise t.error(f"[brand] logo {value!r} must be a path inside the project; {fix}")
    if not value.lower().endswith(LOGO_SUFFIXES):
        raise t.error(f"[brand] logo {value!r} must be a PNG, JPEG or GIF file (.png, .jpg, .gif), which every "
                      "mail client shows; convert it")
    current = root
    for part in parts:
        current = current / part
        if current.is_symlink():
            raise t.error(f"[brand] logo {value!r} goes through a symbolic link ({part}); {fix}")
    if not current.is_file():
        raise t.error(f"[brand] logo {value!r} does not exist in {root}; {fix}")
    size = current.stat().st_size
    if size > LOGO_MAX_BYTES:
        raise t.error(f"[brand] logo {value!r} weighs {size // 1024} KB; every message loads it, so keep it under "
                      f"{LOGO_MAX_BYTES // 1024} KB (a PNG of 2× the width shown is plenty)")
    with current.open("rb") as file:
        if not file.read(8).startswith(_LOGO_MAGIC):
            raise t.error(f"[brand] logo {value!r} is not a PNG, JPEG or GIF image (its content says otherwise); "
                          "export it again as PNG")
    return "/".join(parts)


def parse_brand(path: Path, data: Any, root: Path) -> BrandSettings:
    """Validate a ``[brand]`` table (``data``) of the file ``path`` in the project ``root``.

    :raises ConfigError: naming the key at fault and how to fix it.
    """
    t = Options(path, "brand", data, BRAND_KEYS)
    return BrandSettings(
        name=t.text("name", ""),
        logo=_logo(t, root),
        logo_alt=t.text("logo_alt", ""),
        logo_width=t.integer("logo_width", BrandSettings.logo_width, minimum=16, maximum=544),
        primary_color=_brand_color(t, "primary_color", "#0b5cad"),
        primary_text_color=_brand_color(t, "primary_text_color", "#ffffff"),
        header_color=_brand_color(t, "header_color", "#102a43"),
        header_text_color=_brand_color(t, "header_text_color", "#ffffff"),
        font_family=_font_family(t),
        footer_text=t.text("footer_text", ""),
        postal_address=t.text("postal_address", ""),
    )


def find_project(start: Path) -> Path:
    """Return the nearest folder at or above ``start`` that holds ``newsletter.toml``.

    :raises ConfigError: when no such folder exists.
    """
    start = start.resolve()
    for folder in (start, *start.parents):
        if (folder / CONFIG_FILE).is_file():
            return folder
    raise ConfigError(N_("no %(file)s in %(folder)s or any folder above it"),
                      hint=N_("run `newsletter init DIR` to create a project, or pass --project DIR"),
                      values={"file": CONFIG_FILE, "folder": start})


def load_settings(root: Path) -> Settings:
    """Read and validate ``root/newsletter.toml``.

    :param root: the project folder.
    :return: the validated settings.
    :raises ConfigError: naming the key at fault and how to fix it.
    """
    path = root / CONFIG_FILE
    try:
        raw = path.read_bytes()
    except FileNotFoundError as err:
        raise ConfigError(N_("%(path)s does not exist"), hint=N_("run `newsletter init` to create it"),
                          values={"path": path}) from err
    except OSError as err:
        raise ConfigError(N_("cannot read %(path)s: %(reason)s"), values={"path": path, "reason": err.strerror}) \
            from err
    where = {"file": path.name, "path": path}
    try:
        data = tomllib.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError as err:
        raise ConfigError(N_("%(file)s: the file is not UTF-8; save it as UTF-8"), values=where) from err
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(N_("%(file)s: invalid TOML: %(error)s"), hint=N_("edit %(path)s"),
                          values={**where, "error": err}) from err
    for table in data:
        if table not in _TABLES:
            close = difflib.get_close_matches(table, _TABLES, n=1)
            raise ConfigError(N_("%(file)s: unknown table [%(table)s]; did you mean '%(near)s'?") if close else
                              N_("%(file)s: unknown table [%(table)s]; known keys: %(known)s"),
                              hint=N_("edit %(path)s"),
                              values={**where, "table": table, "near": close[0] if close else "",
                                      "known": ", ".join(_TABLES)})
    if "newsletter" not in data:
        raise ConfigError(N_("%(file)s: the [newsletter] table is required"), hint=N_("edit %(path)s"), values=where)
    newsletter = _newsletter(path, data["newsletter"])
    return Settings(
        root=root.resolve(),
        newsletter=newsletter,
        content=_content(path, data.get("content")),
        check=_check(path, data.get("check")),
        sourcing=_sourcing(path, data.get("sourcing")),
        store=_store(path, data.get("store")),
        delivery=_delivery(path, data.get("delivery")),
        schedule=_schedule(path, data.get("schedule")),
        weekly=_weekly(path, data.get("weekly")),
        web=_web(path, data.get("web")),
        webhooks=_webhooks(path, data["webhooks"]) if "webhooks" in data else None,
        bounces=_bounces(path, root.resolve(), data["bounces"]) if "bounces" in data else None,
        dkim=_dkim(path, data["dkim"], root.resolve(), newsletter.sender_domain) if "dkim" in data else None,
        brand=parse_brand(path, data["brand"], root.resolve()) if "brand" in data else None,
        desk=_desk(path, data.get("desk")),
        analytics=_analytics(path, data.get("analytics")),
        hooks=_hooks(path, data["hooks"]) if "hooks" in data else (),
    )


def secret_from_env(variable: str, *, purpose: str | Message, environ: Mapping[str, str] | None = None) -> str:
    """Read a secret from the environment, never from a file.

    :param variable: the environment variable's name.
    :param purpose: what the secret is for, for the error message (a string marked ``N_``, or a
        :class:`~newsletter.core.i18n.Message`, so that it is said in the reader's language too).
    :raises ConfigError: when the variable is unset or empty.
    """
    value = (os.environ if environ is None else environ).get(variable, "")
    if not value.strip():
        raise ConfigError(
            N_("the environment variable %(variable)s is not set; it holds the %(purpose)s"),
            hint=N_("export %(variable)s=… (in production, put it in the service's environment file)"),
            values={"variable": variable, "purpose": purpose if isinstance(purpose, Message) else Message(purpose)},
        )
    return value
