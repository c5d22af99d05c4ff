"""``newsletter doctor``: what a receiving mail server and a mailbox provider will see of this setup.

Each check returns findings (ok / warning / error, each with a one-line fix) and prints nothing:
the configuration loads; the secret key is strong; the delivery adapter's credentials are in the
environment; the From domain's SPF record (and the bounce domain's, which receivers check when
``[bounces]`` makes it the envelope sender); the DKIM selector's record and that it holds the
public half of ``[dkim] private_key_file``; the DMARC record, its policy and whether DKIM or SPF
can align with the From domain; the bounce domain's MX; that ``base_url`` answers over valid TLS;
and that a one-click unsubscribe (RFC 8058 ``POST /u/TOKEN``) is accepted.

The unsubscribe probe posts a real token, made with ``NEWSLETTER_SECRET_KEY``, for an address on
the reserved ``.invalid`` top-level domain (RFC 6761): no subscriber can hold it (address
validation refuses reserved names, so neither imports nor the service store it, and the service
turns it away before the database), so nobody is unsubscribed, yet the answer proves the route,
the proxy's handling of POST and that the service reads tokens with the same key as ``send``.

Every network step has a timeout (DNS lifetime, socket timeout), so no check can hang; after two
DNS timeouts in a row the remaining lookups are skipped. Organizational domains are approximated
without the Public Suffix List: two domains are taken as aligned when one is the other or a
subdomain of it, and a finding says so when the answer depends on it.
"""

from __future__ import annotations

import base64
import binascii
import http.client
import ipaddress
import logging
import re
import socket
import ssl
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from enum import Enum
from pathlib import Path
from typing import Any, Mapping, Sequence
from urllib.parse import urlsplit

import dns.exception
import dns.nameserver
import dns.rdatatype
import dns.resolver

from newsletter.config import SECRET_KEY_ENV, BounceSettings, Settings, load_settings
from newsletter.addresses import ascii_domain
from newsletter.errors import ConfigError, NewsletterError, UsageError

log = logging.getLogger(__name__)

#: An address no subscriber can have (RFC 6761 reserves ``.invalid``): the unsubscribe probe's target.
PROBE_ADDRESS = "doctor-probe@newsletter.invalid"
#: A certificate expiring sooner than this is a warning.
CERT_WARN_DAYS = 14
#: What each mail API's SPF include contains, when the provider sends with the customer's envelope domain.
API_SPF_INCLUDES = {"mailgun": ("mailgun.org",), "sendgrid": ("sendgrid.net",), "postmark": ("mtasv.net",),
                    "brevo": ("brevo.com", "sendinblue.com")}
SPF_LOOKUP_LIMIT = 10  # RFC 7208 section 4.6.4


class Level(str, Enum):
    OK = "ok"
    WARNING = "warning"
    ERROR = "error"


@dataclass(frozen=True)
class Finding:
    """One line of the diagnosis: what was checked, what was found and, unless ok, how to fix it."""

    check: str
    level: Level
    message: str
    fix: str = ""

    def line(self) -> str:
        text = f"{self.level.value:<7} {self.check}: {self.message}"
        return f"{text}\n        fix: {self.fix}" if self.fix else text

    def as_dict(self) -> dict[str, str]:
        data = asdict(self)
        data["level"] = self.level.value
        return data


def _ok(check: str, message: str) -> Finding:
    return Finding(check, Level.OK, message)


def _warn(check: str, message: str, fix: str) -> Finding:
    return Finding(check, Level.WARNING, message, fix)


def _error(check: str, message: str, fix: str) -> Finding:
    return Finding(check, Level.ERROR, message, fix)


@dataclass(frozen=True)
class Network:
    """Where and how long the doctor looks: DNS servers, their port, the timeout, the CA bundle."""

    nameservers: Sequence[str] = ()  # "IP" or "IP:PORT" ("[IPv6]:PORT"); empty: the system's (/etc/resolv.conf)
    timeout: float = 5.0  # seconds per DNS lookup and per socket operation
    ca_file: Path | None = None  # trust these CAs for base_url instead of the system's
    resolver: dns.resolver.Resolver | None = field(default=None, compare=False)  # injected as is when given

    def make_resolver(self) -> dns.resolver.Resolver:
        if self.resolver is not None:
            return self.resolver
        if self.nameservers:
            resolver = dns.resolver.Resolver(configure=False)
            resolver.nameservers = [dns.nameserver.Do53Nameserver(*parse_nameserver(text))
                                    for text in self.nameservers]
        else:
            try:
                resolver = dns.resolver.Resolver()
            except dns.resolver.NoResolverConfiguration:
                raise ConfigError("this machine has no DNS resolver configured (/etc/resolv.conf)",
                                  hint="name one: newsletter doctor --nameserver 1.1.1.1") from None
        resolver.timeout = resolver.lifetime = self.timeout
        resolver.cache = None
        return resolver


def parse_nameserver(text: str) -> tuple[str, int]:
    """``(address, port)`` of ``IP``, ``IP:PORT`` or ``[IPv6]:PORT``.

    :raises UsageError: for anything else (a DNS server is given by address, not by name).
    """
    match = re.fullmatch(r"\[([0-9A-Fa-f:.]+)\]:(\d{1,5})|([0-9.]+):(\d{1,5})|([0-9A-Fa-f:.]+)", text.strip())
    address, port = "", 53
    if match:
        address = match.group(1) or match.group(3) or match.group(5)
        port = int(match.group(2) or match.group(4) or 53)
    try:
        ipaddress.ip_address(address)
    except ValueError:
        raise UsageError(f"--nameserver {text!r} is not an IP address (optionally with :PORT), "
                         "e.g. --nameserver 1.1.1.1 or --nameserver 127.0.0.1:5353") from None
    if not 0 < port < 65536:
        raise UsageError(f"--nameserver {text!r}: the port must be between 1 and 65535")
    return address, port


def diagnose(root: Path, *, environ: Mapping[str, str], network: Network = Network(),
             now: datetime | None = None) -> list[Finding]:
    """Every finding for the project at ``root``; a configuration that does not load ends the list."""
    try:
        settings = load_settings(root)
    except NewsletterError as err:
        return [_error("config", str(err), err.hint or "edit newsletter.toml")]
    findings = [_ok("config", f"{root / 'newsletter.toml'} loads")]
    key = environ.get(SECRET_KEY_ENV, "")
    findings.append(_secret_key(key))
    findings.extend(_credentials(settings, environ))
    findings.append(_unsubscribe_mailbox(settings))
    dns_checks = _Dns(network.make_resolver(), network.timeout)
    findings.extend(_mail_dns(settings, dns_checks))
    findings.extend(_https(settings, key, network, dns_checks, now or datetime.now(timezone.utc)))
    return findings


def _unsubscribe_mailbox(settings: Settings) -> Finding:
    """Where the ``mailto:`` of List-Unsubscribe goes: without ``[bounces] unsubscribe_address`` it is
    the Reply-To, a mailbox people read, where nothing unsubscribes anyone (RFC 8058 clients use the
    https link, but others still send that mail)."""
    bounces = settings.bounces
    if bounces is not None and bounces.unsubscribe_address:
        return _ok("unsubscribe", f"mailto unsubscribes go to {bounces.unsubscribe_address}, which "
                   "`bounces process` reads")
    domain = bounces.address.rpartition("@")[2] if bounces is not None else settings.newsletter.sender_domain
    fix = (f'set [bounces] unsubscribe_address = "unsubscribe@{domain}" (a mailbox `bounces process` reads)'
           if bounces is not None else
           "add a [bounces] table with address and unsubscribe_address, and run `bounces process` on that mailbox")
    return _warn("unsubscribe", f"the List-Unsubscribe mailto: goes to the Reply-To {settings.newsletter.reply_to}, "
                 "which nothing reads for unsubscribes: a reader who unsubscribes by mail stays subscribed", fix)


def has_errors(findings: Sequence[Finding]) -> bool:
    return any(f.level is Level.ERROR for f in findings)


# -- secrets and credentials -------------------------------------------------------------------

def _secret_key(key: str) -> Finding:
    from newsletter.tokens import GENERATE, key_weakness

    if not key.strip():
        return _error("secret-key", f"{SECRET_KEY_ENV} is not set: unsubscribe links cannot be made or read",
                      f"export {SECRET_KEY_ENV}=$({GENERATE}) with the same value for send, schedule run and serve")
    weakness = key_weakness(key)
    if weakness:
        return _error("secret-key", f"{SECRET_KEY_ENV} {weakness}",
                      f"generate one with {GENERATE}, then use it for send, schedule run and serve")
    return _ok("secret-key", f"{SECRET_KEY_ENV} is long and random enough")


def _credentials(settings: Settings, environ: Mapping[str, str]) -> list[Finding]:
    """The adapter made as ``send`` makes it: missing credentials and bad options show here, not at 7 am."""
    from newsletter.delivery.base import adapter_class

    name = settings.delivery.adapter
    try:
        adapter_class(name)(settings, dict(environ))
    except NewsletterError as err:
        return [_error("delivery", f"the {name} adapter cannot start: {err}", err.hint or "edit newsletter.toml "
                       "or set the environment variable it names in the service's environment")]
    if name == "outbox":
        return [_warn("delivery", "the outbox adapter writes messages to a folder and delivers nothing itself",
                      'set [delivery] adapter = "smtp" (or a mail API) before sending to subscribers, unless a '
                      "local mail server picks the outbox up")]
    return [_ok("delivery", f"the {name} adapter has its settings and credentials")]


# -- DNS -----------------------------------------------------------------------------------------

class _Unanswered(Exception):
    """The DNS gave no usable answer (timeout, SERVFAIL): the check cannot say yes or no."""


class _Dns:
    """Lookups with a timeout each; after two timeouts in a row the DNS is taken as down and the
    remaining lookups fail at once, so a dead resolver costs two timeouts, not one per record."""

    GIVE_UP_AFTER = 2

    def __init__(self, resolver: dns.resolver.Resolver, timeout: float) -> None:
        self.resolver = resolver
        self.timeout = timeout
        self.timeouts = 0

    def _resolve(self, name: str, rdtype: str) -> list[Any]:
        if self.timeouts >= self.GIVE_UP_AFTER:
            raise _Unanswered(f"{rdtype} {name}: skipped after {self.timeouts} timeouts")
        try:
            answer = self.resolver.resolve(name, rdtype, lifetime=self.timeout, search=False,
                                           raise_on_no_answer=False)
        except dns.resolver.NXDOMAIN:
            self.timeouts = 0
            return []
        except dns.exception.Timeout as err:
            self.timeouts += 1
            raise _Unanswered(f"{rdtype} {name}: no answer within {self.timeout:g} s") from err
        except dns.exception.DNSException as err:
            raise _Unanswered(f"{rdtype} {name}: {err.__class__.__name__}") from err
        self.timeouts = 0
        return list(answer.rrset) if answer.rrset is not None else []

    def txt(self, name: str) -> list[str]:
        """Each TXT record at ``name``, its strings joined (a long record is split into 255-byte strings)."""
        return [b"".join(r.strings).decode("utf-8", "replace") for r in self._resolve(name, "TXT")]

    def mx(self, name: str) -> list[tuple[int, str]]:
        return sorted((r.preference, r.exchange.to_text(omit_final_dot=True).lower()) for r in self._resolve(name, "MX"))

    def addresses(self, name: str) -> list[str]:
        return [r.address for kind in ("A", "AAAA") for r in self._resolve(name, kind)]


def _unanswered(check: str, err: _Unanswered) -> Finding:
    return _warn(check, f"not checked: the DNS did not answer ({err})",
                 "run again, or ask another resolver with --nameserver (e.g. your provider's)")


def _mail_dns(settings: Settings, lookup: _Dns) -> list[Finding]:
    from_domain = ascii_domain(settings.newsletter.sender_domain)
    relay = _Relay.of(settings, lookup)
    findings: list[Finding] = []
    envelope = _envelope_domain(settings)
    for domain in dict.fromkeys([from_domain, *([envelope] if envelope else [])]):
        # The relay must be in the record receivers check: the envelope sender's (when known).
        try:
            findings.extend(_spf(domain, lookup.txt(domain), relay, lookup,
                                 must_cover=not envelope or domain == envelope))
        except _Unanswered as err:
            findings.append(_unanswered(f"spf {domain}", err))
    try:
        findings.extend(_dkim(settings, lookup))
    except _Unanswered as err:
        findings.append(_unanswered("dkim", err))
    try:
        findings.extend(_dmarc(settings, from_domain, envelope, lookup))
    except _Unanswered as err:
        findings.append(_unanswered("dmarc", err))
    if settings.bounces is not None:
        findings.extend(_bounce_mx(settings.bounces, lookup))
    return findings


def _envelope_domain(settings: Settings) -> str:
    """The domain SPF is checked on: the bounce domain with ``[bounces]``, else the From domain
    (SMTP and outbox); Mailgun's sending domain; empty for the other mail APIs, whose envelope
    sender is their own unless a custom return path is set up in their dashboard."""
    adapter = settings.delivery.adapter
    if adapter == "mailgun":
        return ascii_domain(str(settings.delivery.adapters.get("mailgun", {}).get("domain", "")).lower())
    if adapter not in ("smtp", "outbox"):
        return ""
    if settings.bounces is not None:
        return ascii_domain(settings.bounces.address.rpartition("@")[2])
    return ascii_domain(settings.newsletter.sender_domain)


# -- SPF -----------------------------------------------------------------------------------------

_MECHANISM = re.compile(r"([-+~?]?)(all|include|a|mx|ptr|ip4|ip6|exists)(?::([^/\s]+))?(/\d{1,3})?(//\d{1,3})?",
                        re.IGNORECASE)
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
_MODIFIER = re.compile(r"([a-z][a-z0-9_.-]*)=(\S*)", re.IGNORECASE)
_DOMAIN_SPEC = re.compile(r"[A-Za-z0-9_%{}.+-]+")


#: Addresses a relay can have that are not what the Internet sees: the machine itself, private networks.
_LOCAL_NETWORKS = tuple(ipaddress.ip_network(n) for n in (
    "127.0.0.0/8", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "169.254.0.0/16",
    "::1/128", "fc00::/7", "fe80::/10"))


def _is_local(text: str) -> bool:
    ip = ipaddress.ip_address(text)
    return any(ip.version == net.version and ip in net for net in _LOCAL_NETWORKS)


@dataclass
class _Relay:
    """What should appear in SPF for the mail to pass: the SMTP relay's name and addresses, or an API's include."""

    label: str = ""
    names: tuple[str, ...] = ()  # domains whose appearance in include/a/mx/redirect counts as "mentioned"
    ips: tuple[str, ...] = ()

    @classmethod
    def of(cls, settings: Settings, lookup: _Dns) -> "_Relay":
        adapter = settings.delivery.adapter
        if adapter in API_SPF_INCLUDES:
            return cls(adapter, API_SPF_INCLUDES[adapter])
        if adapter != "smtp":
            return cls()
        host = str(settings.delivery.adapters.get("smtp", {}).get("host", "")).lower().rstrip(".").strip("[]")
        try:
            ips: tuple[str, ...] = (str(ipaddress.ip_address(host)),)
            names: tuple[str, ...] = ()
        except ValueError:
            labels = host.split(".")
            names = (".".join(labels[-2:]),) if len(labels) >= 2 and host != "localhost" else ()
            try:
                ips = tuple(lookup.addresses(host)) if names else ()
            except _Unanswered:
                ips = ()
        # A relay on this machine or the local network sends from an address only the operator knows.
        public = tuple(ip for ip in ips if not _is_local(ip))
        if ips and not public:
            return cls(host)
        return cls(host, names, public)

    def mentioned(self, targets: list[str], networks: list[IPNetwork]) -> bool:
        for target in targets:
            target = target.lower().rstrip(".")
            if any(target == name or target.endswith("." + name) for name in self.names):
                return True
        for text in self.ips:
            ip = ipaddress.ip_address(text)
            if any(ip.version == net.version and ip in net for net in networks):
                return True
        return False


@dataclass
class _SpfRecord:
    """The parts of one SPF record the checks need."""

    lookups: int = 0  # terms that cost a DNS lookup (RFC 7208 4.6.4)
    targets: list[str] = field(default_factory=list)  # domains of include/a/mx/ptr/exists/redirect
    follow: list[str] = field(default_factory=list)  # include and redirect targets: records of their own
    networks: list[IPNetwork] = field(default_factory=list)
    final_all: str = ""  # the qualifier of the all term ("+" when written bare)
    redirect: str = ""
    uses_ptr: bool = False


class _SpfSyntax(Exception):
    """A term receivers refuse (the whole record then fails): ``args`` are the message and the fix."""


def _spf_records(txt: list[str]) -> list[str]:
    return [t for t in txt if t.lower() == "v=spf1" or t.lower().startswith("v=spf1 ")]


def _parse_spf(domain: str, record: str) -> _SpfRecord:
    parsed = _SpfRecord()
    for term in record.split()[1:]:
        mechanism = _MECHANISM.fullmatch(term)
        modifier = _MODIFIER.fullmatch(term)
        if mechanism:
            qualifier, name, value, cidr4, cidr6 = mechanism.groups()
            name = name.lower()
            if name == "all":
                if value or cidr4 or cidr6:
                    raise _SpfSyntax(f"SPF term {term!r} is not valid", f'write "{qualifier}all" alone')
                parsed.final_all = qualifier or "+"
            elif name in ("ip4", "ip6"):
                try:
                    net = ipaddress.ip_network(f"{value}{cidr4 or ''}", strict=False)
                    if (net.version == 4) != (name == "ip4") or cidr6:
                        raise ValueError(term)
                except ValueError:
                    raise _SpfSyntax(f"SPF term {term!r} is not a valid {name} network (the record is refused as "
                                     "a whole)", "correct it, e.g. " + ("ip4:192.0.2.0/24" if name == "ip4"
                                                                        else "ip6:2001:db8::/32")) from None
                parsed.networks.append(net)
            else:
                if name in ("include", "exists") and not value:
                    raise _SpfSyntax(f"SPF term {term!r} needs a domain", f"write {name}:DOMAIN")
                if value and not _DOMAIN_SPEC.fullmatch(value):
                    raise _SpfSyntax(f"SPF term {term!r} names an invalid domain", "correct the domain")
                parsed.lookups += 1
                parsed.targets.append(value or domain)
                parsed.uses_ptr |= name == "ptr"
                if name == "include":
                    parsed.follow.append(value)
        elif modifier:
            if modifier.group(1).lower() == "redirect":
                parsed.redirect = modifier.group(2)
                parsed.lookups += 1
                parsed.targets.append(parsed.redirect)
                parsed.follow.append(parsed.redirect)
        else:
            raise _SpfSyntax(f"SPF term {term!r} is not a valid mechanism: receivers refuse the whole record",
                             "keep only all, include:, a, mx, ip4:, ip6:, exists: and redirect= terms")
    return parsed


def _walk_spf(top: _SpfRecord, lookup: _Dns) -> tuple[int, list[IPNetwork], list[str]]:
    """Follow include: and redirect= (each record fetched once, at most until the limit is passed):
    ``(lookups in the whole tree, every network, problems of the records followed)``."""
    count, networks, problems = top.lookups, list(top.networks), []
    queue, seen = list(top.follow), set()
    while queue and count <= SPF_LOOKUP_LIMIT:
        target = queue.pop(0).lower().rstrip(".")
        if "%" in target or target in seen:  # a macro is expanded per message: not followed here
            continue
        seen.add(target)
        records = _spf_records(lookup.txt(target))
        if len(records) != 1:
            problems.append(f"{target} (named by include:/redirect=) has {len(records) or 'no'} SPF record"
                            f"{'s' if len(records) != 1 else ''}, which makes SPF fail")
            continue
        try:
            child = _parse_spf(target, records[0])
        except _SpfSyntax as err:
            problems.append(f"{target}'s SPF record: {err.args[0]}")
            continue
        count += child.lookups
        networks.extend(child.networks)
        queue.extend(child.follow)
    return count, networks, problems


def _spf(domain: str, txt: list[str], relay: _Relay, lookup: _Dns, *, must_cover: bool) -> list[Finding]:
    """The findings for one domain's SPF; ``must_cover``: receivers check this record for our mail,
    so it should cover the relay (else it is the From domain's, while the envelope uses another)."""
    check = f"spf {domain}"
    records = _spf_records(txt)
    example = f'{domain} TXT "v=spf1 {_relay_term(relay)} -all"'
    if not records:
        return [_error(check, f"{domain} has no SPF record: receivers cannot tell which servers may send for it",
                       f"publish {example}")]
    if len(records) > 1:
        return [_error(check, f"{domain} has {len(records)} SPF records; receivers then fail SPF (RFC 7208 4.5)",
                       "merge them into one TXT record starting with v=spf1")]
    try:
        parsed = _parse_spf(domain, records[0])
    except _SpfSyntax as err:
        return [_error(check, *err.args)]
    lookups, networks, problems = _walk_spf(parsed, lookup)
    findings = [_error(check, problem, "correct or remove that include:/redirect=") for problem in problems]
    if parsed.uses_ptr:
        findings.append(_warn(check, "SPF uses ptr, which is slow and which many receivers ignore (RFC 7208 5.5)",
                              "replace ptr by ip4:/ip6: or include: terms"))
    if lookups > SPF_LOOKUP_LIMIT:
        findings.append(_error(check, f"SPF needs more than {SPF_LOOKUP_LIMIT} DNS lookups ({lookups} counted, "
                               "includes followed): receivers fail it (RFC 7208 4.6.4)",
                               "replace some include:/a/mx terms by ip4:/ip6: networks"))
    if parsed.final_all == "+":
        findings.append(_error(check, "SPF ends with +all: every server on the Internet may send as this domain",
                               'end the record with "-all" (or "~all" while testing)'))
    elif parsed.final_all == "?":
        findings.append(_warn(check, "SPF ends with ?all (neutral): it says nothing about other servers",
                              'end the record with "-all" (or "~all")'))
    elif not parsed.final_all and not parsed.redirect:
        findings.append(_warn(check, "SPF has no all term: other servers get a neutral result",
                              'end the record with "-all" (or "~all")'))
    if relay.label and must_cover:
        if relay.mentioned(parsed.targets, networks):
            findings.append(_ok(check, f"SPF record present and it covers the relay ({relay.label})"))
        elif relay.names or relay.ips:
            api = relay.label in API_SPF_INCLUDES
            findings.append(_warn(
                check, f"cannot tell whether SPF lets {relay.label} send for {domain}: no include/ip term names it"
                + (" (needed only when the provider sends with your domain as envelope sender)" if api else ""),
                f"add {_relay_term(relay)} before the all term, as {relay.label}'s documentation says"))
        else:
            findings.append(_warn(check, f"cannot tell whether SPF covers the relay {relay.label}: it is on this "
                                  "machine or a private network", f"make sure SPF lists the public address the "
                                  f"mail leaves from (ip4:/ip6:, or the include: of the relay {relay.label} uses)"))
    elif not any(f.level is not Level.OK for f in findings):
        findings.append(_ok(check, "SPF record present, one only, ends with -all or ~all"))
    return findings


def _relay_term(relay: _Relay) -> str:
    if relay.label in API_SPF_INCLUDES:
        return f"include:{'spf.' if relay.label in ('postmark', 'brevo') else ''}{relay.names[0]}"
    if relay.ips:
        ip = ipaddress.ip_address(relay.ips[0])
        return f"ip{ip.version}:{ip}"
    return "include:YOUR-RELAY'S-SPF-DOMAIN"


# -- DKIM ----------------------------------------------------------------------------------------

def _tags(record: str) -> dict[str, str]:
    """``tag=value`` pairs of a DKIM or DMARC record (names lower-cased, values stripped)."""
    tags: dict[str, str] = {}
    for part in record.split(";"):
        name, eq, value = part.partition("=")
        if eq:
            tags.setdefault(name.strip().lower(), value.strip())
    return tags


def _dkim_public(key_file: Path) -> tuple[str, bytes, str]:
    """``(k, p bytes, record text)`` of the key in ``key_file`` as DNS publishes it."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    key = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
    if isinstance(key, ed25519.Ed25519PrivateKey):
        kind, raw = "ed25519", key.public_key().public_bytes(serialization.Encoding.Raw,
                                                              serialization.PublicFormat.Raw)
    else:
        kind, raw = "rsa", key.public_key().public_bytes(serialization.Encoding.DER,
                                                          serialization.PublicFormat.SubjectPublicKeyInfo)
    return kind, raw, f"v=DKIM1; k={kind}; p={base64.b64encode(raw).decode('ascii')}"


def _same_rsa_key(published: bytes, ours: bytes) -> bool:
    """RSA keys compared by their numbers: DNS may hold SubjectPublicKeyInfo or a bare PKCS#1 key."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    mine = serialization.load_der_public_key(ours)
    try:
        theirs = serialization.load_der_public_key(published)
    except (ValueError, TypeError):
        return False
    return (isinstance(theirs, rsa.RSAPublicKey) and isinstance(mine, rsa.RSAPublicKey)
            and theirs.public_numbers() == mine.public_numbers())


def _dkim(settings: Settings, lookup: _Dns) -> list[Finding]:
    dkim = settings.dkim
    adapter = settings.delivery.adapter
    if dkim is None:
        if adapter in ("smtp", "outbox"):
            return [_warn("dkim", "messages are not DKIM-signed: Gmail and Yahoo require DKIM from bulk senders",
                          "add a [dkim] table (selector, domain, private_key_file) and publish its public key")]
        return [_ok("dkim", f"not checked here: {adapter} signs with the key set up in its dashboard, where the "
                    "domain must show as verified")]
    findings: list[Finding] = []
    kinds: list[str] = []
    for selector, key_file in dkim.keys:
        kind, finding = _dkim_key(selector, dkim.domain, key_file, lookup)
        kinds.append(kind)
        findings.append(finding)
    if kinds == ["ed25519"]:
        findings.append(_warn("dkim", "messages carry only an Ed25519 signature, which most receivers do not verify "
                              "yet (RFC 8463): to them the mail is unsigned",
                              f"add an RSA key beside it: `newsletter dkim keygen {dkim.selector}-rsa`, then set "
                              "selector and private_key_file to the RSA key and ed25519_selector and "
                              "ed25519_private_key_file to this one"))
    return findings


def _dkim_key(selector: str, domain: str, key_file: Path, lookup: _Dns) -> tuple[str, Finding]:
    """The key's type (``""`` when unreadable) and whether DNS publishes its public half."""
    name = f"{selector}._domainkey.{domain}"
    check = f"dkim {name}"
    try:
        kind, ours, record = _dkim_public(key_file)
    except (OSError, ValueError, TypeError) as err:  # changed since the configuration was read
        return "", _error(check, f"{key_file} cannot be read as a key any more: {err.__class__.__name__}",
                          "restore the key file (PEM, unencrypted, mode 0600) or point [dkim] at it")
    publish = f'publish {name} TXT "{record}"'
    records = [t for t in lookup.txt(name) if "p=" in t.replace(" ", "")]
    if not records:
        return kind, _error(check, f"no DKIM key at {name}: receivers cannot verify the signature", publish)
    if len(records) > 1:
        return kind, _error(check, f"{len(records)} DKIM records at {name}; verifiers may pick either",
                            f"keep one: {publish}")
    tags = _tags(records[0])
    if tags.get("v", "DKIM1") != "DKIM1":
        return kind, _error(check, f"the record's v= tag is {tags['v']!r}, not DKIM1", publish)
    p = re.sub(r"\s+", "", tags.get("p", ""))
    if not p:
        return kind, _error(check, "the key is revoked (empty p=)", publish)
    try:
        theirs = base64.b64decode(p, validate=True)
    except (binascii.Error, ValueError):
        return kind, _error(check, "p= is not valid base64", publish)
    if tags.get("k", "rsa").lower() != kind:
        return kind, _error(check, f"the record says k={tags.get('k', 'rsa')} but {key_file.name} is an {kind} key",
                            publish)
    matches = theirs == ours if kind == "ed25519" else _same_rsa_key(theirs, ours)
    if not matches:
        return kind, _error(check, f"the key at {name} is not the public half of {key_file.name}: "
                            "every signature fails", publish)
    if "y" in tags.get("t", "").lower().split(":"):
        return kind, _warn(check, "the key is in test mode (t=y): receivers treat signatures as unsigned",
                           "remove t=y from the record")
    return kind, _ok(check, f"the published {kind} key matches {key_file.name}")


# -- DMARC and alignment -------------------------------------------------------------------------

def _aligned(domain: str, from_domain: str, mode: str) -> bool | None:
    """Whether ``domain`` aligns with the From domain; ``None`` when only the Public Suffix List could say."""
    if domain == from_domain:
        return True
    if mode == "s":
        return False
    if domain.endswith("." + from_domain) or from_domain.endswith("." + domain):
        return True
    a, b = domain.split("."), from_domain.split(".")
    shared = 0
    while shared < min(len(a), len(b)) and a[-1 - shared] == b[-1 - shared]:
        shared += 1
    return None if shared >= 2 else False


def _find_dmarc(from_domain: str, lookup: _Dns) -> tuple[str, list[str]]:
    """The DMARC records of the From domain, else of its nearest parent that has one (DMARCbis tree walk)."""
    labels = from_domain.split(".")
    for start in range(0, max(1, len(labels) - 1)):
        domain = ".".join(labels[start:])
        records = [t for t in lookup.txt(f"_dmarc.{domain}") if re.match(r"v\s*=\s*DMARC1\s*(;|$)", t)]
        if records:
            return domain, records
    return from_domain, []


def _dmarc(settings: Settings, from_domain: str, envelope: str, lookup: _Dns) -> list[Finding]:
    check = f"dmarc {from_domain}"
    domain, records = _find_dmarc(from_domain, lookup)
    example = f'_dmarc.{from_domain} TXT "v=DMARC1; p=quarantine; rua=mailto:dmarc@{from_domain}"'
    if not records:
        return [_error(check, f"no DMARC record at _dmarc.{from_domain}: Gmail and Yahoo refuse bulk mail without "
                       "one", f"publish {example} (p=none while you read the reports)")]
    if len(records) > 1:
        return [_error(check, f"{len(records)} DMARC records at _dmarc.{domain}: receivers ignore them all",
                       "keep one")]
    tags = _tags(records[0])
    policy = (tags.get("sp", "") if domain != from_domain and tags.get("sp") else tags.get("p", "")).lower()
    where = f"_dmarc.{domain}" + (" (the parent's record applies)" if domain != from_domain else "")
    findings: list[Finding] = []
    if policy not in ("none", "quarantine", "reject"):
        findings.append(_error(check, f"{where} has no valid p= policy (got {policy!r})",
                               f"publish {example}"))
    elif policy == "none":
        findings.append(_warn(check, f"{where} has p=none: spoofed mail from {from_domain} is still delivered",
                              f"once the rua reports show your mail passing, set p=quarantine (then p=reject) "
                              f"in {where.split(' ')[0]}"))
    else:
        findings.append(_ok(check, f"{where} has p={policy}"))
    pct = tags.get("pct", "100")
    if policy in ("quarantine", "reject") and pct != "100":
        findings.append(_warn(check, f"pct={pct}: the policy applies to only part of the failing mail",
                              "remove pct= (100 is the default)"))
    findings.extend(_alignment(settings, from_domain, envelope, tags.get("adkim", "r").lower(),
                               tags.get("aspf", "r").lower()))
    return findings


def _alignment(settings: Settings, from_domain: str, envelope: str, adkim: str, aspf: str) -> list[Finding]:
    check = "alignment"
    results: list[Finding] = []
    dkim_ok: bool | None = False
    if settings.dkim is not None:
        dkim_ok = _aligned(settings.dkim.domain, from_domain, adkim)
        mode = "strict" if adkim == "s" else "relaxed"
        if dkim_ok:
            results.append(_ok(check, f"DKIM d={settings.dkim.domain} aligns with From {from_domain} ({mode})"))
        elif dkim_ok is None:
            results.append(_warn(check, f"DKIM d={settings.dkim.domain} aligns with From {from_domain} only if they "
                                 "share an organizational domain (not checked against the Public Suffix List)",
                                 f"set [dkim] domain = {from_domain!r}"))
        else:
            results.append(_error(check, f"DKIM d={settings.dkim.domain} does not align with From {from_domain} "
                                  f"({mode}, adkim={adkim})", f"set [dkim] domain = {from_domain!r}"))
    spf_ok: bool | None = False
    if envelope:
        spf_ok = _aligned(envelope, from_domain, aspf)
        mode = "strict" if aspf == "s" else "relaxed"
        if spf_ok:
            results.append(_ok(check, f"the envelope sender's domain {envelope} aligns with From {from_domain} "
                               f"({mode}) for SPF"))
        else:
            fix = (f"use a bounce address under {from_domain} (e.g. bounces@bounce.{from_domain})"
                   if aspf != "s" else f"use a bounce address @{from_domain}, or relax DMARC with aspf=r")
            results.append(_warn(check, f"the envelope sender's domain {envelope} does not align with From "
                                 f"{from_domain} ({mode}, aspf={aspf}): SPF cannot make DMARC pass", fix)
                           if spf_ok is False else
                           _warn(check, f"{envelope} aligns with {from_domain} for SPF only if they share an "
                                 "organizational domain (not checked against the Public Suffix List)", fix))
    if not dkim_ok and not spf_ok and settings.delivery.adapter in ("smtp", "outbox"):
        results.append(_error(check, "neither DKIM nor SPF aligns with the From domain: DMARC fails for every message",
                              f"sign with [dkim] domain = {from_domain!r}, or send with a bounce address under "
                              f"{from_domain}"))
    return results


# -- the bounce domain ---------------------------------------------------------------------------

def _bounce_mx(bounces: BounceSettings, lookup: _Dns) -> list[Finding]:
    findings: list[Finding] = []
    domains = [a.rpartition("@")[2] for a in (bounces.address, bounces.unsubscribe_address) if a]
    for domain in dict.fromkeys(domains):
        check = f"mx {domain}"
        try:
            exchanges = lookup.mx(domain)
            if not exchanges:
                findings.append(_error(check, f"{domain} has no MX record: bounces and mailto unsubscribes sent to "
                                       "it are lost", f"publish {domain} MX 10 YOUR-MAIL-SERVER (the host that "
                                       "delivers to [bounces] maildir or imap_host)"))
                continue
            if exchanges == [(0, "")] or exchanges[0][1] in ("", "."):
                findings.append(_error(check, f"{domain} has a null MX (RFC 7505): it accepts no mail",
                                       f"replace it by {domain} MX 10 YOUR-MAIL-SERVER"))
                continue
            host = exchanges[0][1]
            if not lookup.addresses(host):
                findings.append(_error(check, f"the MX host {host} of {domain} has no address (A/AAAA)",
                                       f"publish an A or AAAA record for {host}, or point the MX at a host that "
                                       "has one"))
                continue
            findings.append(_ok(check, f"{domain} receives mail at {host}"))
        except _Unanswered as err:
            findings.append(_unanswered(check, err))
    return findings


# -- the web service -----------------------------------------------------------------------------

_VERIFY_REASONS = {10: "has expired", 18: "is self-signed", 19: "is signed by an untrusted root",
                   20: "is signed by an unknown authority (is the chain complete?)", 62: "is for another name"}


def _connect(host: str, address: str, port: int, context: ssl.SSLContext, timeout: float) -> http.client.HTTPSConnection:
    """An HTTPS connection to ``address`` that verifies the certificate for ``host`` (found with our resolver)."""
    conn = http.client.HTTPSConnection(host, port, timeout=timeout, context=context)
    raw = socket.create_connection((address, port), timeout=timeout)
    try:
        conn.sock = context.wrap_socket(raw, server_hostname=host)
    except BaseException:
        raw.close()
        raise
    return conn


def _https(settings: Settings, key: str, network: Network, lookup: _Dns, now: datetime) -> list[Finding]:
    base = settings.newsletter.base_url
    url = urlsplit(base)
    if url.scheme != "https":
        return [_error("https", f"base_url {base} is plain http: Gmail shows one-click unsubscribe only for https "
                       "links, and tokens travel in clear text", "serve it over https and set base_url = \"https://…\"")]
    host, port, prefix = url.hostname or "", url.port or 443, url.path.rstrip("/")
    context = ssl.create_default_context(cafile=str(network.ca_file) if network.ca_file else None)
    try:
        ipaddress.ip_address(host)
        address = host
    except ValueError:
        try:
            found = lookup.addresses(host)
        except _Unanswered as err:
            return [_unanswered("https", err)]
        if not found:
            return [_error("https", f"{host} (base_url) has no A or AAAA record", f"publish {host} A (the address "
                           "of the reverse proxy in front of `newsletter serve`)")]
        address = found[0]
    conn: http.client.HTTPSConnection | None = None
    try:
        conn = _connect(host, address, port, context, network.timeout)
        sock = conn.sock
        cert = sock.getpeercert() if isinstance(sock, ssl.SSLSocket) else None
        conn.request("GET", prefix + "/healthz", headers={"User-Agent": "newsletter-doctor"})
        answer = conn.getresponse()
        answer.read(64 * 1024)
    except ssl.SSLCertVerificationError as err:
        reason = _VERIFY_REASONS.get(err.verify_code, err.verify_message)
        return [_error("https", f"the certificate of {host}:{port} {reason}", "install a certificate from a "
                       "public CA for this name (e.g. `certbot certonly -d " + host + "`) with its full chain")]
    except (OSError, http.client.HTTPException) as err:
        return [_error("https", f"{base} does not answer: {err.__class__.__name__}: {err}",
                       "start `newsletter serve` and the reverse proxy in front of it, and open port "
                       f"{port} to the Internet")]
    finally:
        if conn is not None:
            conn.close()
    findings: list[Finding] = []
    if cert and cert.get("notAfter"):
        expires = datetime.fromtimestamp(ssl.cert_time_to_seconds(str(cert["notAfter"])), timezone.utc)
        days = (expires - now).days
        if days < CERT_WARN_DAYS:
            findings.append(_warn("https", f"the certificate of {host} expires in {days} days ({expires:%Y-%m-%d})",
                                  "renew it (e.g. `certbot renew`) and check that renewal runs by itself"))
    if answer.status == 503:
        findings.append(_error("https", f"{base}/healthz answers 503: the service cannot reach its database",
                               "read the service's log (journalctl -u newsletter-web) and check [store] url"))
    elif answer.status >= 500:
        findings.append(_error("https", f"{base}/healthz answers HTTP {answer.status}", "read the service's log "
                               "(journalctl -u newsletter-web) and the proxy's error log"))
    elif not findings:
        findings.append(_ok("https", f"{base} answers over valid TLS (/healthz: HTTP {answer.status})"))
    findings.append(_one_click(host, address, port, prefix, key, context, network.timeout))
    return findings


def _one_click(host: str, address: str, port: int, prefix: str, key: str, context: ssl.SSLContext, timeout: float) -> Finding:
    """POST an RFC 8058 one-click unsubscribe for :data:`PROBE_ADDRESS`, as a mailbox provider would."""
    from newsletter.tokens import UNSUBSCRIBE, key_weakness, make_token

    check = "one-click"
    if not key.strip():
        return _warn(check, "not checked: NEWSLETTER_SECRET_KEY is needed to make a test token",
                     f"run the doctor with {SECRET_KEY_ENV} set as for serve")
    token = make_token(key, UNSUBSCRIBE, PROBE_ADDRESS)
    conn: http.client.HTTPSConnection | None = None
    try:
        conn = _connect(host, address, port, context, timeout)
        conn.request("POST", f"{prefix}/u/{token}", body=b"List-Unsubscribe=One-Click",
                     headers={"Content-Type": "application/x-www-form-urlencoded", "User-Agent": "newsletter-doctor"})
        answer = conn.getresponse()
        answer.read(64 * 1024)
    except (OSError, http.client.HTTPException) as err:
        return _error(check, f"POST /u/… failed: {err.__class__.__name__}",
                      "check that the reverse proxy passes POST requests to `newsletter serve`")
    finally:
        if conn is not None:
            conn.close()
    status = answer.status
    if status == 200:
        return _ok(check, "POST /u/TOKEN (RFC 8058 one-click) is accepted, and the service reads tokens made with "
                   f"this {SECRET_KEY_ENV}" + (" (a weak key, see above)" if key_weakness(key) else ""))
    if status == 400:
        return _error(check, "the service refused a token made with this NEWSLETTER_SECRET_KEY: serve runs with "
                      "another key, so the links in sent issues do not open",
                      f"give send, schedule run and serve the same {SECRET_KEY_ENV}")
    if 300 <= status < 400:
        return _error(check, f"POST /u/… answers a redirect (HTTP {status}); mailbox providers post once and do "
                      "not follow it", "let the reverse proxy pass /u/ to `newsletter serve` without redirecting "
                      "(check base_url's exact scheme, host and path)")
    if status in (404, 405):
        return _error(check, f"POST /u/… answers HTTP {status}: one-click unsubscribes do not reach the service",
                      "route base_url/u/ (all methods) to `newsletter serve`")
    return _error(check, f"POST /u/… answers HTTP {status}", "read the service's log and the proxy's error log")
